"""Core engine speed, printed as a table with each row's target and whether it is met.

    python benchmarks/bench_core.py [--quick] [--repeat N]

Side by side in one run (medians, min-max): papermill running the same code as one plain
notebook against `mlpipe run` on an empty store, for a 6-step scikit-learn fan-out and a 20-step
chain of trivial steps; the peers' 5-step pipeline (5 x 1 s sleeps) cold and after editing its
leaf. `mlpipe run` rows come twice: without a run daemon (MLPIPE_DAEMON=off: Python start-up,
imports and the kernel template paid by each command) and with one up (`mlpipe daemon start`,
which the Jupyter server extension also starts), after one run of that pipeline, so its kernel
template is warm; the store is empty either way. Then a warm re-run; per-step overhead inside
a run against papermill's on a started kernel; the CPU a step's kernel costs to start (forked
and spawned); fan-out parallel efficiency with --jobs 2; `--reads` hashing and the artifact store (skipped by --quick). The machine's load
average is printed at start and end: other work on it makes every number worse.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
from pipelines import Bench, chain, cpu_fanout, peers, sklearn_fanout, write_nb

ROOT = Path(__file__).resolve().parent.parent
MLPIPE = str(Path(sys.executable).with_name("mlpipe"))
rows: list[tuple[str, ...]] = []


def row(what: str, value: str, spread: str = "", target: str = "", met: bool | None = None,
        note: str = "") -> None:
    yes = "" if met is None else ("yes" if met else "NO")
    rows.append((what, value, spread, target, yes, note))
    print(f"  {what:<56} {value:>10} {spread:>16}  {target:<10} {yes:<4} {note}", flush=True)


def measured(what: str, samples: list[float], unit: str = "s", target: float | None = None,
             note: str = "") -> float:
    """A row from samples: median, min-max, the target (<=) and whether the median meets it."""
    scale, fmt = (1000, ".0f") if unit == "ms" else (1, ".2f")
    med = statistics.median(samples)
    row(what, f"{med * scale:{fmt}} {unit}",
        f"{min(samples) * scale:{fmt}}-{max(samples) * scale:{fmt}} (n={len(samples)})",
        f"<= {target * scale:{fmt}} {unit}" if target is not None else "",
        None if target is None else med <= target, note)
    return med


DAEMON = {"MLPIPE_DAEMON": "on"}  # the other rows run with MLPIPE_DAEMON=off (main)


def timed(cmd: list[str], cwd: Path | None = None, env: dict | None = None) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                       env={**os.environ, **(env or {})})
    took = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stdout}\n{r.stderr}")
    return took


def papermill_cli(nb: Path) -> float:
    return timed([sys.executable, "-m", "papermill", "--no-progress-bar", "--log-level", "ERROR",
                  "--cwd", str(nb.parent), str(nb), str(nb.with_suffix(".out.ipynb"))])


def mlpipe_cold(nb: Path, jobs: int = 2, env: dict | None = None) -> float:
    shutil.rmtree(nb.parent / ".mlpipe", ignore_errors=True)  # an empty store
    return timed([MLPIPE, "run", str(nb), "--jobs", str(jobs)], env=env)


@contextlib.contextmanager
def private_daemon():
    """A run daemon of the benchmark's own (its own runtime folder), stopped at the end."""
    runtime = tempfile.mkdtemp(prefix="mlpb")
    os.environ["XDG_RUNTIME_DIR"] = runtime
    subprocess.run([MLPIPE, "daemon", "start", "--idle", "900"], check=True,
                   capture_output=True, env={**os.environ, **DAEMON})
    try:
        yield
    finally:
        subprocess.run([MLPIPE, "daemon", "stop"], capture_output=True,
                       env={**os.environ, **DAEMON})
        shutil.rmtree(runtime, ignore_errors=True)


def daemon_warmed(nb: Path) -> None:
    """As after a first run of this pipeline today: the daemon keeps its kernel template."""
    mlpipe_cold(nb, env=DAEMON)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r = subprocess.run([MLPIPE, "daemon", "status", "--json"], capture_output=True,
                           text=True, env={**os.environ, **DAEMON})
        templates = json.loads(r.stdout)["templates"] if r.returncode == 0 else []
        if templates and all(t["ready"] for t in templates):
            return
        time.sleep(0.2)


def run_api(nb: Path, jobs: int, force: bool = False):
    from jupyter_mlpipe import Pipeline

    t = time.perf_counter()
    run = Pipeline.from_notebook(nb).run(jobs=jobs, force=force)
    took = time.perf_counter() - t
    assert run.ok, [s.error for s in run.failed]
    return run, took


def side_by_side(tmp: Path, bench: Bench, target: float, n: int) -> None:
    """papermill on the plain notebook and `mlpipe run` on an empty store, alternated."""
    folder = tmp / bench.name
    plain, nb = bench.plain_notebook(folder), bench.mlpipe_notebook(folder)
    daemon_warmed(nb)
    pm, ml, md = [], [], []
    for _ in range(n):
        pm.append(papermill_cli(plain))
        ml.append(mlpipe_cold(nb))
        md.append(mlpipe_cold(nb, env=DAEMON))
    print(f"\n{bench.name} ({len(bench.steps)} steps):")
    p = measured(f"{bench.name}: papermill, same code as one notebook", pm)
    for how, samples in (("no daemon", ml), ("daemon up", md)):
        m = measured(f"{bench.name}: mlpipe run, empty store, {how}", samples)
        ratios = [a / b for a, b in zip(samples, pm)]
        row(f"{bench.name}: mlpipe ({how}) / papermill", f"{m / p:.2f}x",
            f"{min(ratios):.2f}-{max(ratios):.2f}x", target=f"<= {target:.1f}x",
            met=m / p <= target, note="medians' ratio; range of paired ratios")


def peers_rows(tmp: Path, n: int) -> None:
    bench = peers()
    folder = tmp / bench.name
    nb = bench.mlpipe_notebook(folder)
    print("\npeers' 5-step pipeline (5 x 1 s sleeps, left || right):")
    first = []
    for i in range(n):  # a pipeline the daemon has not seen: its template starts cold
        other = bench.mlpipe_notebook(tmp / f"{bench.name}-new{i}")
        first.append(mlpipe_cold(other, env=DAEMON))
    daemon_warmed(nb)
    for mode, (how, env) in enumerate((("no daemon", None), ("daemon up", DAEMON))):
        cold = [mlpipe_cold(nb, env=env) for _ in range(n)]
        measured(f"peers5: mlpipe run cold, --jobs 2, {how}", cold, target=4.5,
                 note="critical path is 4 s of sleep; jupyter-cache 6.4 s, Ploomber 8.4 s")
        if env:
            measured("peers5: same, daemon up, a pipeline it has not run before", first,
                     target=4.5, note="its kernel template imports while the run waits")
        edits = []
        for i in range(max(n, 5)):
            # a value never stored before (comments are not part of a step's key)
            bench.mlpipe_notebook(folder, leaf_edit=f"\n_edited = {100 * mode + i}")
            edits.append(timed([MLPIPE, "run", str(nb), "--jobs", "2"], env=env))
        measured(f"peers5: re-run after editing the leaf step, {how}", edits, target=1.3,
                 note="1 s of it is the step's sleep")
        warm = [timed([MLPIPE, "run", str(nb)], env=env) for _ in range(5)]
        measured(f"peers5: warm re-run, nothing changed (whole process), {how}", warm, "ms",
                 0.2)


def overhead_rows(tmp: Path) -> None:
    """Per-step overhead in a run against papermill's on a kernel started beforehand."""
    print("\nper-step overhead (kernel start on neither side):")
    nb = chain(20).mlpipe_notebook(tmp / "over")
    run_api(nb, jobs=2)
    run, took = run_api(nb, jobs=2, force=True)
    steps = [s for s in run.steps.values() if s.body_seconds is not None]
    measured("chain20: step overhead on a ready kernel, in a run", [
        s.exec_seconds - s.body_seconds for s in steps], "ms", 0.05,
        "executed step minus its body, per step of one forced run")
    measured("chain20: wait for a warm kernel, in a run", [
        s.duration - s.exec_seconds for s in steps], "ms", None, f"forced run took {took:.2f} s")
    measured("papermill: overhead on a started kernel, per notebook", papermill_on_kernel(tmp),
             "ms", None, "execute_notebook(km=started) minus its cells' durations")


def papermill_on_kernel(tmp: Path, n: int = 7) -> list[float]:
    import papermill
    from jupyter_client.manager import KernelManager

    from jupyter_mlpipe.kernels.template import ipc_prefix

    nb = write_nb(tmp / "pm1.ipynb", ["x = 1", "y = x + 1"], magic=False)
    km = KernelManager(kernel_name="python3", transport="ipc", ip=ipc_prefix())
    km.start_kernel(cwd=str(tmp))
    out = []
    try:
        for _ in range(n):
            t = time.perf_counter()
            done = papermill.execute_notebook(str(nb), None, km=km, kernel_name="python3",
                                              progress_bar=False, log_output=False)
            wall = time.perf_counter() - t
            out.append(wall - sum(c.metadata.get("papermill", {}).get("duration") or 0
                                  for c in done.cells))
    finally:
        km.shutdown_kernel(now=True)
    return out


def kernel_start_cpu(tmp: Path, n: int = 5) -> None:
    """CPU seconds a step's kernel process spends from its start until it answers (psutil)."""
    import dataclasses

    import psutil

    from jupyter_mlpipe.executors.local import LocalExecutor
    from jupyter_mlpipe.pipeline.load import load_pipeline
    from jupyter_mlpipe.targets import Target

    print("\nkernel start, CPU of the kernel process until ready (sklearn prelude):")
    spec = load_pipeline(sklearn_fanout().mlpipe_notebook(tmp / "cpu"))
    for mode, target in (("fork", 0.1), ("spawn", None)):
        ex = LocalExecutor(spec, {}, 1, dataclasses.replace(Target("local"), kernel_start=mode))
        cpu, wall = [], []
        for _ in range(n):
            t = time.perf_counter()
            k = ex.start_kernel()
            wall.append(time.perf_counter() - t)
            times = psutil.Process(k.km.provisioner.pid).cpu_times()
            cpu.append(times.user + times.system + times.children_user + times.children_system)
            ex.stop_kernel(k)
        ex.close()
        forked = mode == "fork"
        measured(f"{mode}: CPU to start a step's kernel", cpu, "s", target,
                 "kernel process only; the template imports once per run" if forked else "")
        measured(f"{mode}: time to a ready kernel", wall, "s", None,
                 "the first fork waits for the template's imports" if forked else "")


def fanout(tmp: Path) -> None:
    print("\nfan-out of CPU-bound steps (1 sample each: 36 s):")
    bench = cpu_fanout(8, 3.0)
    nb = bench.mlpipe_notebook(tmp / bench.name)
    run_api(nb, jobs=1)  # root stored; the forced runs below time the fan-out
    _, t1 = run_api(nb, jobs=1, force=True)
    _, t2 = run_api(nb, jobs=2, force=True)
    row("fan-out 8 x 3 s CPU steps, --jobs 1", f"{t1:.2f} s")
    row("fan-out 8 x 3 s CPU steps, --jobs 2", f"{t2:.2f} s")
    eff = t1 / (2 * t2)
    row("fan-out 8 x 3 s: parallel efficiency, --jobs 1 -> 2", f"{eff:.2f}", target=">= 0.90",
        met=eff >= 0.9, note="t1 / (2 t2)")


def ready_kernel_overhead(tmp: Path) -> None:
    """One step at a time on a kernel that is already warm, nothing else running."""
    import dataclasses

    from jupyter_mlpipe.executors.base import StepJob, read_result
    from jupyter_mlpipe.executors.local import LocalExecutor
    from jupyter_mlpipe.pipeline.load import load_pipeline
    from jupyter_mlpipe.store.files import Store

    d = tmp / "ready"
    d.mkdir()
    nb = write_nb(d / "r.ipynb", ["%%step a --out x\nx = 1", "%%step b --in x --out y\ny = x + 1"])
    spec = load_pipeline(nb)
    ex = LocalExecutor(spec, {}, 1)
    store = Store.for_notebook(nb)
    digest = store.put_value(1)
    over = []
    for i in range(8):
        k = ex.start_kernel()
        warm = ex.warm_up(k)
        step = dataclasses.replace(spec.step("b"))
        job = StepJob("bench", step, f"k{i}", {"x": digest}, store.home, d / "runs")
        job.run_dir.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        out = read_result(job, ex.run_on(k, warm, job))
        over.append(time.perf_counter() - t - out.body_seconds)
        ex.stop_kernel(k)
    ex.close()
    measured("step overhead on a ready kernel, one step alone", over, "ms", 0.05)


def reads(tmp: Path) -> None:
    print("\n--reads hashing:")
    from jupyter_mlpipe.store.history import History
    from jupyter_mlpipe.store.reads import path_digest

    f = tmp / "big.bin"
    size = 1 << 30
    with open(f, "wb") as out:
        chunk = os.urandom(1 << 24)
        for _ in range(size // len(chunk)):
            out.write(chunk)
    os.utime(f, (time.time() - 60, time.time() - 60))

    def drop_cache() -> bool:
        try:
            os.sync()
            with open("/proc/sys/vm/drop_caches", "w") as fh:
                fh.write("3\n")
            return True
        except OSError:
            return False

    cold = drop_cache()
    t = time.perf_counter()
    with open(f, "rb") as fh:
        while fh.read(1 << 24):
            pass
    raw = time.perf_counter() - t
    drop_cache()
    h = History(tmp / "h")
    t = time.perf_counter()
    path_digest("big.bin", tmp, h)
    hashed = time.perf_counter() - t
    note = "cold (page cache dropped)" if cold else "page cache could not be dropped: warm"
    row("read 1 GiB file", f"{size / raw / 1e9:.2f} GB/s", note=note)
    row("--reads digest of 1 GiB file (blake3)", f"{size / hashed / 1e9:.2f} GB/s",
        target=">= 80%", met=raw / hashed >= 0.8, note=f"{raw / hashed:.0%} of read throughput")
    checks = []
    for _ in range(200):
        t = time.perf_counter()
        path_digest("big.bin", tmp, h)
        checks.append(time.perf_counter() - t)
    measured("unchanged-file check (stat fast path)", checks, "ms", 0.005)
    f.unlink()


def store_speed(tmp: Path) -> None:
    print("\nartifact store, 500 MB float64 array:")
    from jupyter_mlpipe.store.files import Store

    arr = np.random.default_rng(0).random(62_500_000)
    store = Store(tmp / "store")

    def best(fn, n=3):
        ts = []
        for _ in range(n):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
        return min(ts)

    # Every write goes to a new file, as the store's do (overwriting a large file adds the
    # cost of freeing its blocks, about 0.3 s here), and the median of 5 is kept.
    def timed_write(write) -> float:
        ts = []
        for i in range(5):
            shutil.rmtree(store.objects, ignore_errors=True)
            target = tmp / f"a{i}.npy"
            t = time.perf_counter()
            write(target)
            ts.append(time.perf_counter() - t)
            target.unlink(missing_ok=True)
        return statistics.median(ts)

    save = timed_write(lambda p: np.save(p, arr))
    dump = timed_write(lambda p: store.put_value(arr))
    np.save(tmp / "a.npy", arr)
    digest = store.put_value(arr)
    load = statistics.median(best(lambda: np.load(tmp / "a.npy"), 1) for _ in range(5))
    get = statistics.median(best(lambda: store.get_value(digest), 1) for _ in range(5))
    (tmp / "a.npy").unlink()
    gb = arr.nbytes / 1e9
    row("np.save", f"{gb / save:.2f} GB/s")
    row("store.put_value (pickle 5 out-of-band + blake3 digest)", f"{gb / dump:.2f} GB/s",
        target=">= 90%", met=save / dump >= 0.9, note=f"{save / dump:.0%} of np.save")
    row("np.load", f"{gb / load:.2f} GB/s")
    row("store.get_value", f"{gb / get:.2f} GB/s", target=">= 90%", met=load / get >= 0.9,
        note=f"{load / get:.0%} of np.load")


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="skip the 1 GiB and 500 MB parts")
    ap.add_argument("--repeat", type=int, default=3, help="samples of the multi-second rows")
    args = ap.parse_args()
    print(f"python {sys.version.split()[0]}; at start: {load()}")
    os.environ["MLPIPE_DAEMON"] = "off"  # rows with the daemon say so, and turn it on
    with tempfile.TemporaryDirectory() as d, private_daemon():
        tmp = Path(d)
        os.environ.pop("MLPIPE_HOME", None)
        parts: list[Callable[[], None]] = [
            lambda: side_by_side(tmp, sklearn_fanout(), 0.8, args.repeat),
            lambda: side_by_side(tmp, chain(20), 1.0, args.repeat),
            lambda: peers_rows(tmp, args.repeat),
            lambda: overhead_rows(tmp),
            lambda: ready_kernel_overhead(tmp),
            lambda: kernel_start_cpu(tmp),
            lambda: fanout(tmp)]
        if not args.quick:
            parts += [lambda: reads(tmp), lambda: store_speed(tmp)]
        for part in parts:
            part()
    print(f"\nat end: {load()}")
    print("\n| measure | median | min-max | target | met? | note |\n|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
