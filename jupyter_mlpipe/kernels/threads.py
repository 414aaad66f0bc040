"""The process's real threads, native ones included, for the two places that fork (the run
daemon, the kernel template): a fork copies only the calling thread, so a thread pool that a
library started (OpenBLAS, OpenMP, Arrow's jemalloc) is left half there in the child, with its
locks possibly held. `threading.active_count()` sees Python's threads only.

The template keeps those pools from starting while it imports (`quiet_pools`), and each forked
kernel sets them back to what its own environment asks for (`restore_pools`, threadpoolctl).
"""
from __future__ import annotations

import os
import sys
import threading

# Read by the libraries when they load: while set, importing them starts no thread pool.
POOL_ENV = {"OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
            "BLIS_NUM_THREADS": "1", "VECLIB_MAXIMUM_THREADS": "1",
            "JE_ARROW_MALLOC_CONF": "background_thread:false",
            # How long OpenBLAS's workers spin for the next call before they sleep: 2**N
            # cycles, read once as OpenBLAS loads (in the template, so in every kernel forked
            # from it). Its default, 28 (~0.1 s per worker, per OpenBLAS copy: numpy's and
            # scipy's), made each kernel forked from a numpy/scikit-learn template spend ~0.2
            # CPU-s spinning once restore_pools started its workers, and a step's workers
            # spinning between its BLAS calls took a core from the step beside it. 2**16
            # cycles (~30 us) was as fast or faster on every workload measured, alone and two
            # kernels side by side (docs/performance.md).
            "OPENBLAS_THREAD_TIMEOUT": "16"}
NATIVE_POOL_MODULES = ("numpy", "scipy", "sklearn", "torch", "pyarrow")


def thread_count() -> int:
    """Threads of this process as the kernel counts them (Python's and native ones)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:  # not Linux: Python's own count is all there is
        return threading.active_count()


def thread_names() -> list[str]:
    """The kernel's name of each thread but the main one (e.g. `jemalloc_bg_thd`)."""
    names = []
    try:
        tasks = sorted(os.listdir("/proc/self/task"), key=int)
    except OSError:
        return [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    for tid in tasks:
        if int(tid) == os.getpid():
            continue
        try:
            with open(f"/proc/self/task/{tid}/comm", encoding="utf-8", errors="replace") as f:
                names.append(f.read().strip())
        except OSError:
            continue
    return names


def fork_refusal(who: str) -> str | None:
    """Why `who` must not fork now (it runs more than one thread), or None."""
    count = thread_count()
    if count <= 1:
        return None
    python = threading.active_count()
    native = max(count - python, 0)
    return (f"{who} runs {count} threads ({python - 1} Python, {native} native: "
            f"{', '.join(sorted(set(thread_names()))) or 'unnamed'}); a fork copies only one, "
            "so a pool's locks could be left held in the child")


def quiet_pools() -> dict[str, str]:
    """Set POOL_ENV where the environment does not say otherwise; returns what was set."""
    added = {k: v for k, v in POOL_ENV.items() if k not in os.environ}
    os.environ.update(added)
    return added


def restore_pools(env: dict[str, str]) -> None:
    """In a forked kernel whose environment is now `env`: give the native pools loaded in the
    template the sizes that `env` asks for (by default one thread per usable core)."""
    if not any(m in sys.modules for m in NATIVE_POOL_MODULES):
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()

    def wanted(*names: str) -> int:
        for name in names:
            value = env.get(name, "")
            if value.strip().isdigit() and int(value) > 0:
                return int(value)
        return cores or 1

    threadpool_limits(limits={
        "blas": wanted("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                       "OMP_NUM_THREADS"),
        "openmp": wanted("OMP_NUM_THREADS")})
