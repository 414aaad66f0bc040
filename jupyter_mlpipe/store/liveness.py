"""Who owns a run: this process's id and start time, and whether a recorded owner still lives
(a pid alone can be reused by another process after a reboot or a long time)."""
from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Owner:
    """A process: its pid and its start time in clock ticks since boot (None if unknown)."""

    pid: int
    started: int | None


def _start_ticks(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (Linux); None where /proc is absent or the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may hold spaces: split after it
    return int(stat[stat.rindex(b")") + 2:].split()[19])


def this_process() -> Owner:
    return process(os.getpid())


def process(pid: int) -> Owner:
    """The process now holding `pid`, with its start time (so a reused pid is told apart)."""
    return Owner(pid, _start_ticks(pid))


def is_alive(owner: Owner) -> bool:
    """Whether `owner` still runs: its pid exists and, where known, started at the same time."""
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process holds that pid now, or still ours
        pass
    if owner.started is None:
        return True
    now = _start_ticks(owner.pid)
    return now is None or now == owner.started
