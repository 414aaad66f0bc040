"""What every `mlpipe` command prints with: one line at a time, flushed; step symbols; times."""
from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

SYMBOL = {"succeeded": "✓", "reused": "↺", "failed": "✗", "skipped": "-", "running": "▶",
          "cancelled": "⊘",
          "cached": "✓", "stale": "•"}


# ANSI colours of step states (https://no-color.org: NO_COLOR set and not empty turns them off)
COLOUR = {"succeeded": "32", "reused": "36", "cached": "32", "failed": "31;1", "skipped": "90",
          "cancelled": "33", "stale": "33", "running": "34", "interrupted": "33"}


def use_colour(stream: TextIO | None = None) -> bool:
    """Colour on a terminal, unless NO_COLOR is set (not empty) or the terminal is dumb."""
    stream = stream or sys.stdout
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def paint(text: str, state: str, on: bool) -> str:
    """`text` in the colour of `state` when `on` (pad it first: codes take no columns)."""
    code = COLOUR.get(state)
    return f"\x1b[{code}m{text}\x1b[0m" if on and code else text


def fmt_time(sec: float | None) -> str:
    if sec is None:
        return ""
    return f"{sec:.2f}s" if sec < 10 else f"{sec:.1f}s" if sec < 600 else f"{sec / 60:.1f}min"


def out(line: str = "") -> None:
    print(line, flush=True)


def published(rows: list[dict], empty: str, detail: Callable[[dict], str]) -> None:
    """`mlpipe module ls` and `mlpipe pipelines ls`: one line per version, * on the default."""
    if not rows:
        out(empty)
    for r in rows:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["published_at"]))
        mark = "*" if r["default"] else " "
        out(f"{mark} {r['name']}@{r['version']:<10} {r['state']:<10} {when}  {detail(r)}")


def fmt_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}" if math.isfinite(v) else str(v)
    return "-" if v is None else str(v)
