"""Timeouts and `mlpipe verify`, printed as a table.

    python benchmarks/bench_recover.py [--repeat 5] [--steps 8]

- From a step's deadline (`--timeout 2s`) to the step failing, for a step that stops on the
  interrupt (sleeping) and one that ignores SIGINT (killed after the 5 s grace period).
- `mlpipe verify` on an N-step chain against the first `mlpipe run` of it and a warm re-run:
  wall time of each command and verify's cost a step.
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from jupyter_mlpipe import Pipeline  # noqa: E402

MLPIPE = Path(sys.executable).with_name("mlpipe")


def write(path: Path, cells: list[str]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in ["%load_ext jupyter_mlpipe", *cells]]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f} s ({min(values):.2f}-{max(values):.2f})"


def timeouts(work: Path, repeat: int) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {"interrupted": [], "killed": []}
    for _ in range(repeat):
        shutil.rmtree(work, ignore_errors=True)
        nb = write(work / "t.ipynb", [
            "%%step soft --out x --timeout 2s\nimport time\n"
            "open('soft.t0', 'w').write(repr(time.time()))\ntime.sleep(60)\nx = 1",
            "%%step hard --out y --timeout 2s\nimport signal, time\n"
            "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
            "open('hard.t0', 'w').write(repr(time.time()))\ntime.sleep(60)\ny = 1"])
        run = Pipeline.from_notebook(nb).run(jobs=2)
        for step, row in (("soft", "interrupted"), ("hard", "killed")):
            began = float((work / f"{step}.t0").read_text())
            found[row].append(run.steps[step].finished - (began + 2.0))
    return found


def verify_cost(work: Path, repeat: int, steps: int) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {"first run": [], "warm re-run": [], "verify": []}
    cells = ["import numpy as np", "%%step s0 --out a0\na0 = np.arange(1000)"] + [
        f"%%step s{k} --in a{k - 1} --out a{k}\na{k} = a{k - 1} * 2" for k in range(1, steps)]
    for _ in range(repeat):
        shutil.rmtree(work, ignore_errors=True)
        nb = write(work / "v.ipynb", cells)
        for row, args in (("first run", ["run"]), ("warm re-run", ["run"]),
                          ("verify", ["verify"])):
            t0 = time.perf_counter()
            r = subprocess.run([MLPIPE, *args, str(nb)], capture_output=True, text=True,
                               check=False)
            found[row].append(time.perf_counter() - t0)
            if r.returncode != 0:
                raise SystemExit(f"mlpipe {' '.join(args)} failed:\n{r.stdout}{r.stderr}")
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--steps", type=int, default=8)
    a = ap.parse_args()
    os.environ.setdefault("MLPIPE_DAEMON", "off")
    with tempfile.TemporaryDirectory() as tmp:
        print(f"load average {os.getloadavg()[0]:.2f}; medians (min-max) of {a.repeat}")
        print("deadline -> step failed")
        for row, values in timeouts(Path(tmp) / "t", a.repeat).items():
            print(f"  {row:<12} {spread(values)}")
        print(f"{a.steps}-step chain")
        cost = verify_cost(Path(tmp) / "v", a.repeat, a.steps)
        for row, values in cost.items():
            print(f"  {row:<12} {spread(values)}")
        per = [v / a.steps for v in cost["verify"]]
        print(f"  verify a step {spread(per)}")


if __name__ == "__main__":
    main()
