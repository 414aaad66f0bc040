"""Core engine speed, printed as a table.

    python benchmarks/bench_core.py [--quick]

Measures, on notebooks/quickstart.ipynb and a synthetic 20-step pipeline: papermill running
the whole notebook, `mlpipe run` cold, a warm re-run with nothing changed (whole process),
a re-run after editing one leaf step, per-step overhead (executed step minus its body),
fan-out parallel efficiency with --jobs 2, `--reads` hashing against a cold read, and the
artifact store against np.save / np.load for a 500 MB array.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MLPIPE = str(Path(sys.executable).with_name("mlpipe"))
rows: list[tuple[str, str, str, str]] = []


def row(what: str, value: str, target: str = "", note: str = "") -> None:
    rows.append((what, value, target, note))
    print(f"  {what:<52} {value:>12}  {target:<10} {note}", flush=True)


def timed(cmd: list[str], cwd: Path | None = None) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    took = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stdout}\n{r.stderr}")
    return took


def papermill_whole(nb: Path, out: Path) -> float:
    return timed([sys.executable, "-m", "papermill", "--no-progress-bar", "--log-level", "ERROR",
                  "--cwd", str(nb.parent), str(nb), str(out)])


def write_nb(path: Path, cells: list[str], params: str = "") -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    p = nbformat.v4.new_code_cell(params or "# no parameters")
    p.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_code_cell("%load_ext jupyter_mlpipe"), p]
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)
    return path


def synthetic(folder: Path, n: int = 20) -> Path:
    """A 20-step pipeline: a root, two lanes of 9 steps, a join. Bodies are ~10 ms."""
    cells = ["import math", "%%step s0 --out x0\nx0 = list(range(1000))"]
    for lane in "ab":
        prev = "x0"
        for i in range(1, (n - 2) // 2 + 1):
            out = f"{lane}{i}"
            cells.append(f"%%step {lane}{i} --in {prev} --out {out}\n"
                         f"{out} = [math.sqrt(v) + {i} for v in {prev}]")
            prev = out
    last = (n - 2) // 2
    cells.append(f"%%step join --in a{last} b{last} --out total\ntotal = sum(a{last}) + sum(b{last})")
    return write_nb(folder / "synthetic.ipynb", cells)


def run_api(nb: Path, jobs: int, force: bool = False):
    from jupyter_mlpipe import Pipeline

    t = time.perf_counter()
    run = Pipeline.from_notebook(nb).run(jobs=jobs, force=force)
    took = time.perf_counter() - t
    assert run.ok, [s.error for s in run.failed]
    return run, took


def pipelines(tmp: Path) -> None:
    qs_dir = tmp / "qs"
    shutil.copytree(ROOT / "notebooks", qs_dir, ignore=shutil.ignore_patterns(".mlpipe"))
    syn_dir = tmp / "syn"
    syn_dir.mkdir()
    for name, nb, leaf in (("quickstart", qs_dir / "quickstart.ipynb", "compare"),
                           ("synthetic 20-step", synthetic(syn_dir), "join")):
        print(f"\n{name}:")
        whole = papermill_whole(nb, tmp / "whole.ipynb")
        row(f"{name}: papermill, whole notebook", f"{whole:.2f} s")
        cold = timed([MLPIPE, "run", str(nb), "--jobs", "2"])
        row(f"{name}: mlpipe run, cold (--jobs 2)", f"{cold:.2f} s")
        warm = [timed([MLPIPE, "run", str(nb)]) for _ in range(5)]
        w = statistics.median(warm)
        row(f"{name}: mlpipe run, warm, nothing changed", f"{w * 1000:.0f} ms", "<= 300 ms",
            f"{whole / w:.0f}x faster than papermill (target >= 10x)")
        src = nb.read_text()
        nbj = nbformat.read(nb, as_version=4)
        for c in nbj.cells:
            if c.source.startswith(f"%%step {leaf}"):
                c.source += "\n_edited = 1"
        nbformat.write(nbj, nb)
        t = time.perf_counter()
        r = subprocess.run([MLPIPE, "run", str(nb)], capture_output=True, text=True)
        edit = time.perf_counter() - t
        executed = sum(1 for line in r.stdout.splitlines() if "✓" in line and "succeeded" in line)
        row(f"{name}: re-run after editing leaf '{leaf}'", f"{edit:.2f} s", "1 step",
            f"{executed} step(s) executed")
        nb.write_text(src)
        run, took = run_api(nb, jobs=2, force=True)
        steps = [s for s in run.steps.values() if s.body_seconds is not None]
        over = [s.exec_seconds - s.body_seconds for s in steps]
        wait = [s.duration - s.exec_seconds for s in steps]
        row(f"{name}: per-step overhead on a ready kernel, in a run, median",
            f"{statistics.median(over) * 1000:.0f} ms", "<= 50 ms",
            f"min {min(over) * 1000:.0f} ms, max {max(over) * 1000:.0f} ms over {len(over)} steps;"
            " plain papermill ~630 ms")
        row(f"{name}: wait for a warm kernel, median (forced run)",
            f"{statistics.median(wait) * 1000:.0f} ms", "",
            f"max {max(wait) * 1000:.0f} ms; forced run took {took:.2f} s")


def fanout(tmp: Path) -> None:
    print("\nfan-out (each step a fresh kernel, ~0.55 s of CPU to start):")
    for n, secs in ((8, 3.0), (4, 10.0)):
        d = tmp / f"fan{n}"
        d.mkdir()
        body = ("import time\nt = time.process_time()\n"
                f"while time.process_time() - t < {secs}:\n    pass\n")
        cells = ["%%step root --out seed\nseed = 1"]
        cells += [f"%%step w{i} --in seed --out r{i}\n{body}r{i} = seed + {i}" for i in range(n)]
        nb = write_nb(d / "fan.ipynb", cells)
        run_api(nb, jobs=1)  # root stored; the forced runs below time the fan-out
        _, t1 = run_api(nb, jobs=1, force=True)
        _, t2 = run_api(nb, jobs=2, force=True)
        row(f"fan-out {n} x {secs:.0f} s CPU steps, --jobs 1", f"{t1:.2f} s")
        row(f"fan-out {n} x {secs:.0f} s CPU steps, --jobs 2", f"{t2:.2f} s", ">= 0.9",
            f"parallel efficiency {t1 / (2 * t2):.2f}")


def ready_kernel_overhead(tmp: Path) -> None:
    """One step at a time on a kernel that is already warm, nothing else running."""
    import dataclasses

    from jupyter_mlpipe.executors.base import StepJob, read_result
    from jupyter_mlpipe.executors.local import LocalExecutor
    from jupyter_mlpipe.modules import load_pipeline
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
    row("per-step overhead on a ready kernel, alone, median", f"{statistics.median(over) * 1000:.0f} ms",
        "<= 50 ms", f"min {min(over) * 1000:.0f}, max {max(over) * 1000:.0f} ms over 8 steps")


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
    row("read 1 GiB file", f"{size / raw / 1e9:.2f} GB/s", "", note)
    row("--reads digest of 1 GiB file (blake3)", f"{size / hashed / 1e9:.2f} GB/s", ">= 80%",
        f"{raw / hashed:.0%} of read throughput")
    checks = []
    for _ in range(200):
        t = time.perf_counter()
        path_digest("big.bin", tmp, h)
        checks.append(time.perf_counter() - t)
    row("unchanged-file check (stat fast path), median", f"{statistics.median(checks) * 1000:.2f} ms",
        "<= 5 ms")
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
        ">= 90%", f"{save / dump:.0%} of np.save")
    row("np.load", f"{gb / load:.2f} GB/s")
    row("store.get_value", f"{gb / get:.2f} GB/s", ">= 90%", f"{load / get:.0%} of np.load")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="skip the 1 GiB and 500 MB parts")
    args = ap.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        os.environ.pop("MLPIPE_HOME", None)
        pipelines(tmp)
        ready_kernel_overhead(tmp)
        fanout(tmp)
        if not args.quick:
            reads(tmp)
            store_speed(tmp)
    print("\n| measure | value | target | note |\n|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
