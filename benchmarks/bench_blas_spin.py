"""OpenBLAS's spin before its workers sleep (OPENBLAS_THREAD_TIMEOUT), as a step kernel has it.

Each case is a process that loads numpy, scipy and scikit-learn with one BLAS thread (as the
kernel template does), forks, and in the child gives BLAS its threads back (as restore_pools
does in each forked kernel), then runs one workload; the values are interleaved round by
round. Rows: wall and CPU seconds of the child, median of the rounds.
  idle   the kernel's start: pools restored, then 0.5 s of nothing
  small  3,000 products of 200x200 matrices back to back
  gappy  300 products of 300x300 with 2 ms of Python between them
  big    10 products of 1500x1500
  pair   two such processes at once (small, then gappy): steps side by side on this machine

  python benchmarks/bench_blas_spin.py [--rounds N] [--timeouts default,28,16]
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

WORKLOADS = ("idle", "small", "gappy", "big")


def child_work(work: str) -> None:
    import numpy as np
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits={"blas": len(os.sched_getaffinity(0))})
    if work == "idle":
        time.sleep(0.5)
    elif work == "small":
        a = np.random.rand(200, 200)
        for _ in range(3000):
            a @ a
    elif work == "gappy":
        a = np.random.rand(300, 300)
        for _ in range(300):
            a @ a
            t = time.perf_counter()
            while time.perf_counter() - t < 0.002:
                pass
    elif work == "big":
        a = np.random.rand(1500, 1500)
        for _ in range(10):
            a @ a


def case(works: list[str]) -> None:
    """In a process started with the timeout under test: fork per workload, print wall/CPU."""
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    import numpy  # noqa: F401
    import scipy.linalg  # noqa: F401
    import sklearn.linear_model  # noqa: F401
    for work in works:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            child_work(work)
            os._exit(0)
        os.waitpid(pid, 0)
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        print(work, f"{wall:.3f}", f"{cpu:.3f}", flush=True)


def run_case(timeout: str, works: list[str], copies: int = 1) -> dict[str, tuple[float, float]]:
    env = {**os.environ}
    env.pop("OPENBLAS_THREAD_TIMEOUT", None)
    if timeout != "default":
        env["OPENBLAS_THREAD_TIMEOUT"] = timeout
    procs = [subprocess.Popen([sys.executable, __file__, "--case", ",".join(works)], env=env,
                              stdout=subprocess.PIPE, text=True) for _ in range(copies)]
    out: dict[str, list[tuple[float, float]]] = {}
    for p in procs:
        for line in p.communicate()[0].split("\n"):
            if line:
                work, wall, cpu = line.split()
                out.setdefault(work, []).append((float(wall), float(cpu)))
    return {w: (max(v[0] for v in vs), sum(v[1] for v in vs)) for w, vs in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--timeouts", default="default,16")
    ap.add_argument("--case")
    args = ap.parse_args()
    if args.case:
        case(args.case.split(","))
        return
    timeouts = args.timeouts.split(",")
    rows: dict[tuple[str, str], list[tuple[float, float]]] = {}
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for _ in range(args.rounds):
        for t in timeouts:
            for work, v in run_case(t, list(WORKLOADS)).items():
                rows.setdefault((work, t), []).append(v)
            for work, v in run_case(t, ["small", "gappy"], copies=2).items():
                rows.setdefault((f"pair: {work}", t), []).append(v)
    print(f"| workload     | {' | '.join(f'{t:>21}' for t in timeouts)} |")
    print(f"|--------------|{'|'.join('-' * 23 for _ in timeouts)}|")
    for work in [*WORKLOADS, "pair: small", "pair: gappy"]:
        cells = []
        for t in timeouts:
            vs = rows[(work, t)]
            wall, cpu = (statistics.median(v[i] for v in vs) for i in (0, 1))
            cells.append(f"{wall:6.3f} s {cpu:6.3f} CPU-s")
        print(f"| {work:<12} | {' | '.join(f'{c:>21}' for c in cells)} |")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
