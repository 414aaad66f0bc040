"""This tree against another checkout, run by run: the peers' leaf edit and cold run (issue 24).

On a 2-core machine whose speed drifts by 10-20 % over minutes, two benchmark runs apart in time
do not compare; this one interleaves them (edit, run A, edit, run B, ...) and prints each side's
median and the median of the pair-by-pair ratio. B is the other checkout's jupyter_mlpipe put
first on PYTHONPATH (its kernel template inherits it), with this environment's packages.

  python benchmarks/bench_ab.py OTHER_CHECKOUT [--pairs N] [--cold N]
  e.g. git worktree add /tmp/before HEAD~3 && python benchmarks/bench_ab.py /tmp/before
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_loop import MLPIPE, load, timed  # noqa: E402
from pipelines import peers  # noqa: E402


def timed_run(nb: Path, pythonpath: str | None) -> tuple[float, float]:
    """One `mlpipe run` of nb (daemon off), with `pythonpath` first on PYTHONPATH if given."""
    return timed([MLPIPE, "run", str(nb), "--jobs", "2"],
                 {"PYTHONPATH": pythonpath} if pythonpath else None)


def compare(what: str, pairs: int, sides: dict[str, tuple[Path, str | None]], prepare) -> None:
    walls: dict[str, list[float]] = {k: [] for k in sides}
    cpus: dict[str, list[float]] = {k: [] for k in sides}
    for i in range(pairs):
        for name, (folder, pythonpath) in sides.items():
            nb = prepare(folder, i)
            w, c = timed_run(nb, pythonpath)
            walls[name].append(w)
            cpus[name].append(c)
    ratio = statistics.median(a / b for a, b in zip(*walls.values()))
    cells = "  ".join(f"{name}: {statistics.median(walls[name]):.3f} s "
                      f"({min(walls[name]):.2f}-{max(walls[name]):.2f}), "
                      f"{statistics.median(cpus[name]):.2f} CPU-s" for name in sides)
    print(f"| {what:<24} | {cells} | A/B {ratio:.3f} (n={pairs}) |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("other", help="a checkout of jupyter_mlpipe (its root folder)")
    ap.add_argument("--pairs", type=int, default=10, help="leaf-edit pairs (default 10)")
    ap.add_argument("--cold", type=int, default=5, help="cold-run pairs (default 5)")
    args = ap.parse_args()
    other = str(Path(args.other).resolve())
    if not (Path(other) / "jupyter_mlpipe").is_dir():
        raise SystemExit(f"{other} has no jupyter_mlpipe folder: give a checkout's root")
    bench = peers()
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # as bench_loop: .pyc writing allowed
    print(f"load average before: {load()}; A = this tree, B = {other}")
    with tempfile.TemporaryDirectory(prefix="bench_ab") as d:
        sides = {"A": (Path(d) / "a", None), "B": (Path(d) / "b", other)}
        for folder, pythonpath in sides.values():  # a first run stores the upstream steps
            timed_run(bench.mlpipe_notebook(folder), pythonpath)

        def leaf(folder: Path, i: int) -> Path:
            return bench.mlpipe_notebook(folder, leaf_edit=f"\n_ab = {time.time_ns()}")

        def cold(folder: Path, i: int) -> Path:
            shutil.rmtree(folder / ".mlpipe", ignore_errors=True)
            return folder / f"{bench.name}.ipynb"

        compare("peers5: leaf step edited", args.pairs, sides, leaf)
        compare("peers5: cold, empty store", args.cold, sides, cold)
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
