"""Why a kernel process died, in words: its exit code, and the cgroup's out-of-memory count.

The Linux OOM killer and a container's memory limit both end a process with SIGKILL and say
nothing to it; the cgroup's `memory.events` counts each `oom_kill`. A step whose kernel got
SIGKILL is therefore most likely out of memory (a `kill -9` by hand looks the same), and
certainly so when the count went up while it ran.
"""
from __future__ import annotations

import signal
from pathlib import Path

CGROUP_EVENTS = Path("/sys/fs/cgroup/memory.events")  # cgroup v2, as containers mount it


def oom_kills(events: Path = CGROUP_EVENTS) -> int | None:
    """The cgroup's count of processes killed for memory, or None where it cannot be read."""
    try:
        for line in events.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == "oom_kill":
                return int(value)
    except (OSError, ValueError):
        return None
    return None


def describe_exit(code: int | None, oom_before: int | None = None,
                  oom_after: int | None = None) -> str:
    """`kernel process exited with code 1`, or, for SIGKILL, the likely cause: memory."""
    if code is None:
        return "kernel process stopped answering"
    if oom_before is not None and oom_after is not None and oom_after > oom_before:
        return (f"kernel process killed by the out-of-memory killer (exit code {code}): the "
                "step ran out of memory. Use less (smaller batches, fewer copies) or give the "
                "machine or container more memory")
    if code in (-signal.SIGKILL, 128 + signal.SIGKILL):
        return (f"kernel process killed by SIGKILL (exit code {code}): likely out of memory "
                "(the kernel's OOM killer, or a memory limit such as a container's, sends "
                "SIGKILL; so does `kill -9`). Use less memory, or give the machine or "
                "container more")
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"kernel process killed by {name} (exit code {code})"
    return f"kernel process exited with code {code}"
