"""Durations as people write them on a `%%step` line and in mlpipe.toml: `90`, `30s`, `5m`, `2h`.

One parser for `--timeout` and `[run] timeout`, and one formatter, so the message a timed-out
step gives reads as the user wrote the limit.
"""
from __future__ import annotations

import math
import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([smhd]?)\s*$", re.IGNORECASE)
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: object, what: str = "--timeout") -> float:
    """Seconds from `90`, `30s`, `5m`, `2h` (or a number); ValueError naming `what` and the fix."""
    if isinstance(text, bool):
        m = None
    elif isinstance(text, (int, float)):
        m = _DURATION.match(repr(float(text))) if math.isfinite(text) else None
    else:
        m = _DURATION.match(str(text))
    if m is None:
        raise ValueError(f"{what} {text!r} is not a duration: write a number of seconds (90) "
                         "or a number with a unit: 30s, 5m, 2h")
    seconds = float(m.group(1)) * _UNIT[m.group(2).lower()]
    if seconds <= 0:
        raise ValueError(f"{what} {text!r} must be more than zero: a step with no time to run "
                         "could never succeed. Give a positive duration such as 30s, or leave "
                         f"{what} out for no limit")
    return seconds


def fmt_duration(seconds: float) -> str:
    """`5m`, `2h`, `90s`, `1.5s`: the largest unit that divides the duration evenly."""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
