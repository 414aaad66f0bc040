"""The everyday loop (issue 24): what a data scientist repeats a hundred times a day.

Rows (daemon off unless a row says so; .pyc writing allowed):
  peers' 5 steps (each sleeps 1 s): nothing changed, whole `mlpipe run` process, with the no-op
  fast path and without it (MLPIPE_NO_FASTPATH=1); `mlpipe status` the same; one leaf step
  edited; cold, empty store; the no-op and leaf edit with a run daemon up.
  Interactive reuse of a %%step cell in a live kernel (round trip of the execute request).
  Scale: `mlpipe status` on a 1,000-step chain (never run, and a 100-step chain all cached);
  a cold 100-step chain, per step.
  Floors: the least a leaf edit of a 1 s step costs here, whatever runs it (Python with
  ipykernel's import and the body; a fresh kernel through jupyter_client; the papermill CLI).
Each row: median, min-max, CPU seconds of the process tree (median), the target and whether
the median meets it; the load average is printed first and last.

  python benchmarks/bench_loop.py [--repeat N] [--quick]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipelines import chain, peers  # noqa: E402

MLPIPE = str(Path(sys.executable).with_name("mlpipe"))
OFF = {"MLPIPE_DAEMON": "off"}
ON = {"MLPIPE_DAEMON": "on"}


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def row(what: str, walls: list[float], cpus: list[float] | None = None,
        target: float | None = None, unit: str = "s") -> None:
    scale, fmt = (1000, ".0f") if unit == "ms" else (1, ".2f")
    med = statistics.median(walls)
    cpu = f"{statistics.median(cpus) * scale:{fmt}} {unit}" if cpus else ""
    tgt = f"<= {target * scale:{fmt}} {unit}" if target is not None else ""
    met = "" if target is None else ("yes" if med <= target else "NO")
    spread = f"{min(walls) * scale:{fmt}}-{max(walls) * scale:{fmt}} (n={len(walls)})"
    print(f"| {what:<58} | {med * scale:{fmt}} {unit:<2} | {spread:>18} | {cpu:>9} | "
          f"{tgt:<10} | {met:<3} |", flush=True)


def timed(cmd: list[str], env: dict | None = None, cwd: Path | None = None
          ) -> tuple[float, float]:
    """Wall and CPU (user + system of the children) seconds of one whole command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd,
                       env={**os.environ, **OFF, **(env or {})})
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise Failed(f"{' '.join(cmd)} failed:\n{r.stdout}\n{r.stderr}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


class Failed(Exception):
    """A command of a row failed (older code: e.g. a RecursionError on 1,000 steps)."""


def repeat(n: int, fn) -> tuple[list[float], list[float]]:
    walls, cpus = [], []
    for i in range(n):
        w, c = fn(i)
        walls.append(w)
        cpus.append(c)
    return walls, cpus


def guarded(what: str, rows) -> None:
    """Run `rows()`; a failing command prints its row as failed instead of ending the table."""
    try:
        rows()
    except Failed as exc:
        print(f"| {what:<58} | failed: {str(exc).strip().splitlines()[-1][:80]} |", flush=True)


def settled() -> None:
    """Files written less than 2 s before a command are not trusted by stat (run/noop.py)."""
    time.sleep(2.2)


@contextlib.contextmanager
def daemon():
    runtime = tempfile.mkdtemp(prefix="mlpl")
    saved = os.environ.get("XDG_RUNTIME_DIR")
    os.environ["XDG_RUNTIME_DIR"] = runtime
    subprocess.run([MLPIPE, "daemon", "start", "--idle", "900"], check=True,
                   capture_output=True, env={**os.environ, **ON})
    try:
        yield
    finally:
        subprocess.run([MLPIPE, "daemon", "stop"], capture_output=True, env={**os.environ, **ON})
        if saved is None:
            os.environ.pop("XDG_RUNTIME_DIR", None)
        else:
            os.environ["XDG_RUNTIME_DIR"] = saved
        shutil.rmtree(runtime, ignore_errors=True)


def peers_rows(tmp: Path, n: int, with_daemon: bool) -> None:
    bench = peers()
    folder = tmp / "peers"
    nb = bench.mlpipe_notebook(folder)
    run = [MLPIPE, "run", str(nb), "--jobs", "2"]

    def cold(i):
        shutil.rmtree(folder / ".mlpipe", ignore_errors=True)
        return timed(run)

    row("peers5: cold, empty store", *repeat(max(2, n // 2), cold), target=4.5)
    settled()
    timed(run)  # the full path finds nothing to do and writes the no-op state
    row("peers5: nothing changed, whole `mlpipe run` (fast path)", *repeat(n, lambda i: timed(run)),
        target=0.06, unit="ms")
    row("peers5: nothing changed, `mlpipe status` (fast path)",
        *repeat(n, lambda i: timed([MLPIPE, "status", str(nb)])), unit="ms")
    full = {"MLPIPE_NO_FASTPATH": "1"}
    row("peers5: nothing changed, `mlpipe run`, full path",
        *repeat(n, lambda i: timed(run, full)), unit="ms")
    row("peers5: nothing changed, `mlpipe status`, full path",
        *repeat(n, lambda i: timed([MLPIPE, "status", str(nb)], full)), unit="ms")

    def leaf(i):
        bench.mlpipe_notebook(folder, leaf_edit=f"\n_edit = {i}")
        return timed(run)

    row("peers5: one leaf step edited", *repeat(n, leaf), target=1.3)

    def leaf_late(i):
        bench.mlpipe_notebook(folder, leaf_edit=f"\n_late = {i}")
        return timed(run, {"MLPIPE_TEMPLATE_AHEAD": "0"})

    row("peers5: one leaf step edited, template launched late (=0)", *repeat(n, leaf_late),
        target=1.3)
    leaf_phases(bench, folder, run, n)
    if not with_daemon:
        return
    with daemon():
        timed(run, ON)  # the daemon's first run of this pipeline: its template is kept
        row("peers5: nothing changed, `mlpipe run`, daemon up",
            *repeat(n, lambda i: timed(run, ON)), target=0.03, unit="ms")
        row("peers5: nothing changed, full path, daemon up",
            *repeat(n, lambda i: timed(run, {**ON, "MLPIPE_NO_FASTPATH": "1"})), unit="ms")
        row("peers5: one leaf step edited, daemon up",
            *repeat(n, lambda i: (bench.mlpipe_notebook(folder, leaf_edit=f"\n_e = {i}"),
                                  timed(run, ON))[1]), target=1.3)


def leaf_phases(bench, folder: Path, run: list[str], n: int) -> None:
    """Where the leaf edit's time goes: MLPIPE_TIMINGS=1's marks, median over n runs (the
    first time each phase is marked; s since the process began)."""
    import re

    marks: dict[str, list[float]] = {}
    for i in range(n):
        bench.mlpipe_notebook(folder, leaf_edit=f"\n_phases = {i}")
        r = subprocess.run(run, capture_output=True, text=True,
                           env={**os.environ, **OFF, "MLPIPE_TIMINGS": "1"})
        seen: dict[str, float] = {}
        # since start, +since the last mark, CPU so far, thread, phase
        for m in re.finditer(r"^\s+([\d.]+)\s+\+\s*[\d.]+\s+[\d.]+\s+\S+\s+(.*)$",
                             r.stderr, re.M):
            seen.setdefault(m.group(2).strip(), float(m.group(1)))
        for what, at in seen.items():
            marks.setdefault(what, []).append(at)
    for what, ats in sorted(marks.items(), key=lambda kv: statistics.median(kv[1])):
        row(f"  leaf edit phase: {what[:42]}", ats, unit="ms")


def interactive_row(tmp: Path, n: int) -> None:
    """A reused %%step cell in a live kernel: the execute request's round trip."""
    from jupyter_client.manager import start_new_kernel

    nb = peers().mlpipe_notebook(tmp / "live")
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(nb.parent))
    try:
        def execute(code: str) -> float:
            t = time.perf_counter()
            reply = kc.execute_interactive(code, timeout=60, output_hook=lambda m: None)
            took = time.perf_counter() - t
            if reply["content"]["status"] != "ok":
                raise SystemExit(f"interactive cell failed: {reply['content']}")
            return took

        execute(f"import os; os.environ['JPY_SESSION_NAME'] = {str(nb)!r}\n"
                "%load_ext jupyter_mlpipe\nimport time")
        cell = "%%step load --out a\ntime.sleep(1)\na = 1"
        execute(cell)  # computes (or reuses what a batch run stored)
        row("interactive: reused %%step cell in a live kernel",
            [execute(cell) for _ in range(n * 2)], target=0.02, unit="ms")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def scale_rows(tmp: Path, n: int) -> None:
    big = chain(1000).mlpipe_notebook(tmp / "chain1000")
    guarded("status: 1,000-step chain, never run", lambda: row(
        "status: 1,000-step chain, never run",
        *repeat(max(2, n // 2), lambda i: timed([MLPIPE, "status", str(big)])), target=0.3))
    c100 = chain(100).mlpipe_notebook(tmp / "chain100")

    def cold(i):
        shutil.rmtree(c100.parent / ".mlpipe", ignore_errors=True)
        w, c = timed([MLPIPE, "run", str(c100), "--jobs", "2"])
        return w / 100, c / 100

    row("cold 100-step chain, per step", *repeat(2, cold), target=0.1)
    full = {"MLPIPE_NO_FASTPATH": "1"}
    row("status: 100-step chain, all cached, full path",
        *repeat(n, lambda i: timed([MLPIPE, "status", str(c100)], full)))


FRESH_KERNEL_CELL = """\
import time
from jupyter_client.manager import start_new_kernel
km, kc = start_new_kernel(kernel_name="python3")
kc.execute_interactive("import time; time.sleep(1)", timeout=30)
kc.stop_channels()
km.shutdown_kernel(now=True)
"""


def floor_rows(tmp: Path, n: int) -> None:
    """What a leaf edit of a 1 s step costs at the least here, whatever runs it: the leaf
    edit's 1.3 s goal against what a fresh kernel's own start takes on this machine."""
    row("floor: python, import ipykernel's kernel app, sleep 1 s",
        *repeat(n, lambda i: timed([sys.executable, "-c",
                                    "import ipykernel.kernelapp, time; time.sleep(1)"])))
    row("floor: jupyter_client, a fresh kernel runs `time.sleep(1)`",
        *repeat(n, lambda i: timed([sys.executable, "-c", FRESH_KERNEL_CELL])))
    nb = tmp / "one_cell.ipynb"
    nb.write_text(json.dumps({
        "cells": [{"cell_type": "code", "execution_count": None, "id": "c0", "metadata": {},
                   "outputs": [], "source": "import time; time.sleep(1)"}],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5}))
    papermill = str(Path(sys.executable).with_name("papermill"))
    row("floor: papermill CLI, that one cell in a notebook",
        *repeat(n, lambda i: timed([papermill, str(nb), str(tmp / "out.ipynb")])))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="3 repeats, no daemon, no scale rows")
    ap.add_argument("--only", choices=["peers", "interactive", "scale", "floor"])
    args = ap.parse_args()
    n = 3 if args.quick else args.repeat
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # the rows: .pyc writing allowed
    import jupyter_mlpipe

    print(f"load average before: {load()}  ({os.cpu_count()} cores, Python "
          f"{sys.version.split()[0]}, jupyter_mlpipe from {Path(jupyter_mlpipe.__file__).parent})")
    print(f"| {'row':<58} | median | {'min-max':>18} | {'cpu':>9} | {'target':<10} | met |")
    print(f"|{'-' * 60}|--------|{'-' * 20}|{'-' * 11}|{'-' * 12}|-----|")
    with tempfile.TemporaryDirectory(prefix="bench_loop") as d:
        tmp = Path(d)
        if args.only in (None, "peers"):
            peers_rows(tmp, n, with_daemon=not args.quick)
        if args.only in (None, "interactive"):
            interactive_row(tmp, n)
        if args.only in (None, "scale") and not args.quick:
            scale_rows(tmp, n)
        if args.only in (None, "floor"):
            floor_rows(tmp, n)
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
