"""Soak (not CI): N runs of one notebook, 4 at a time, some killed with SIGKILL at random.

Prints failures (a run not killed that exits non-zero), hangs (a run past its timeout), wrong
results (the final value differs from the expected one) and duplicate executions (step bodies
executed more often than the changes between runs require); all but the last must be 0.
Usage: python benchmarks/bench_soak.py [N]
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent


def make_notebook(folder: Path, log: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    rec = f"open({str(log)!r}, 'a').write('{{}}\\n')"
    p = nbformat.v4.new_code_cell("k = 1")
    p.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_code_cell("%load_ext jupyter_mlpipe"), p] + [
        nbformat.v4.new_code_cell(src) for src in (
            "%%step load --out raw\n" + rec.format("load") + "\nraw = list(range(100))",
            "%%step total --in raw --out t\n" + rec.format("total") + "\nt = sum(raw) * k",
        )]
    path = folder / "soak.ipynb"
    nbformat.write(nb, path)
    return path


def main(n: int = 200, at_once: int = 4, timeout: float = 120.0) -> int:
    exe = Path(sys.executable).with_name("mlpipe")
    folder = Path(tempfile.mkdtemp(prefix="mlpipe-soak-"))
    log = folder / "executed.log"
    path = make_notebook(folder, log)
    failures = hangs = wrong = killed = 0
    started = 0
    running: list[tuple[subprocess.Popen, float, bool]] = []
    rng = random.Random(0)
    while started < n or running:
        while started < n and len(running) < at_once:
            k = rng.choice([1, 2, 3])
            proc = subprocess.Popen([str(exe), "run", str(path), "-p", "k", str(k)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            running.append((proc, time.time(), rng.random() < 0.2))
            started += 1
        time.sleep(0.1)
        for item in list(running):
            proc, t0, kill = item
            if kill and proc.poll() is None and time.time() - t0 > rng.uniform(0.5, 3):
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                killed += 1
                running.remove(item)
            elif proc.poll() is not None:
                if proc.returncode != 0:
                    failures += 1
                    print("FAILED:", proc.stderr.read()[-500:])
                running.remove(item)
            elif time.time() - t0 > timeout:
                proc.kill()
                hangs += 1
                running.remove(item)
    from jupyter_mlpipe import Pipeline

    for k in (1, 2, 3):
        value = Pipeline.from_notebook(path).run(params={"k": k}).outputs("total")["t"]
        wrong += value != 4950 * k
    executions = log.read_text().split()
    duplicates = max(0, executions.count("load") - 1) + max(0, executions.count("total") - 3)
    print(f"runs {n}, killed {killed}, failures {failures}, hangs {hangs}, wrong {wrong}, "
          f"duplicate executions {duplicates} (killed runs may cause some)")
    return 1 if failures or hangs or wrong else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
