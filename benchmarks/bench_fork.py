"""Forked kernels against fresh ones, printed as a table.

    python benchmarks/bench_fork.py [--runs 5]

For each start: wall time from request to a ready client that has run the import set, and
the CPU seconds spent starting it (the kernel process, plus what the template spent on the
fork request; psutil). The import set is pandas/scikit-learn-like, from what is installed.
Target (issue 11): a step's kernel costs <= 0.1 CPU-s to start.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from jupyter_mlpipe.kernels.forked import spawn_kernel, start_kernel  # noqa: E402
from jupyter_mlpipe.kernels.template import KernelTemplate  # noqa: E402

CANDIDATES = {"numpy": "import numpy as np", "pandas": "import pandas as pd",
              "sklearn": "from sklearn.linear_model import LogisticRegression\n"
                         "from sklearn.model_selection import train_test_split"}
TARGET_CPU = 0.1


def import_set() -> list[str]:
    return [stmt for mod, stmt in CANDIDATES.items() if importlib.util.find_spec(mod)]


def cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system + t.children_user + t.children_system


def one_start(imports: list[str], env: dict[str, str], cwd: str,
              template: KernelTemplate | None) -> tuple[float, float]:
    template_proc = psutil.Process(template.proc.pid) if template else None
    template_cpu = cpu(template_proc) if template_proc else 0.0
    t0 = time.perf_counter()
    if template:
        kernel = start_kernel("python3", cwd, env, template=template)
        assert kernel.forked, "fork failed; see the warning above"
    else:
        kernel = spawn_kernel("python3", cwd, env)
    reply = kernel.kc.execute_interactive("\n".join(imports), timeout=120)
    took = time.perf_counter() - t0
    assert reply["content"]["status"] == "ok", reply["content"]
    spent = cpu(psutil.Process(kernel.km.provisioner.pid))
    if template_proc:
        spent += cpu(template_proc) - template_cpu
    kernel.shutdown()
    return took, spent


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f} ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    imports = import_set()
    env = {**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    cwd = tempfile.mkdtemp(prefix="mlpipe-bench-fork-")
    print(f"import set: {' | '.join(s.replace(chr(10), '; ') for s in imports)}")
    t0 = time.perf_counter()
    template = KernelTemplate.start(imports, env=env, cwd=cwd)
    template_wall = time.perf_counter() - t0
    template_cpu = cpu(psutil.Process(template.proc.pid))
    try:
        results = {}
        for label, tmpl in (("forked", template), ("fresh KernelManager", None)):
            runs = [one_start(imports, env, cwd, tmpl) for _ in range(args.runs)]
            results[label] = ([r[0] for r in runs], [r[1] for r in runs])
    finally:
        template.close()
    print(f"\ntemplate start (once per run): {template_wall:.2f} s wall, {template_cpu:.2f} CPU-s")
    print(f"\nmedians of {args.runs} (min-max)")
    print(f"{'kernel start':<22} {'s to ready + imports':>22} {'CPU-s starting':>22}  target")
    for label, (walls, cpus) in results.items():
        verdict = "ok" if statistics.median(cpus) <= TARGET_CPU else "over"
        print(f"{label:<22} {summary(walls):>22} {summary(cpus):>22}  "
              f"<= {TARGET_CPU} CPU-s: {verdict}")


if __name__ == "__main__":
    main()
