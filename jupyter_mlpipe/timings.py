"""Where a run's time goes, phase by phase (MLPIPE_TIMINGS=1, issue 24): each phase marks the
moment it ended, from whichever thread; `mlpipe` prints the marks to stderr as it exits, each
with the time since the process began (so Python's own start-up shows), since the mark before,
and the process's CPU time so far (where it waited shows). Off, `mark` is one test of a
constant."""
from __future__ import annotations

import os
import sys
import threading
import time

ENABLED = os.environ.get("MLPIPE_TIMINGS") == "1"
_marks: list[tuple[float, str, str, float]] = []  # (perf_counter, thread, what, process CPU)


def mark(what: str) -> None:
    if ENABLED:
        _marks.append((time.perf_counter(), threading.current_thread().name, what,
                       time.process_time()))


def process_age() -> float:
    """Seconds since this process began (Linux: /proc, 10 ms ticks); 0 where unknown."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            start = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as f:
            up = float(f.read().split()[0])
        return max(0.0, up - start / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


_BORN = time.perf_counter() - process_age() if ENABLED else 0.0


def report(stream=None) -> None:
    """The marks so far, in time order (nothing unless MLPIPE_TIMINGS=1)."""
    if not ENABLED:
        return
    stream = stream or sys.stderr
    mark("exit")
    last = _BORN
    print("mlpipe timings (s since the process began, +s since the mark before, CPU s of this "
          "process so far):", file=stream)
    for at, thread, what, cpu in sorted(_marks):
        print(f"  {at - _BORN:7.3f}  +{at - last:6.3f}  {cpu:6.2f}  {thread:<16} {what}",
              file=stream)
        last = at
    import resource

    me, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    print(f"  CPU: this process {me.ru_utime + me.ru_stime:.2f} s, its ended children (the "
          f"kernel template, with its kernels) {kids.ru_utime + kids.ru_stime:.2f} s",
          file=stream)
    stream.flush()
