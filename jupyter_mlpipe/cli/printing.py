"""What every `mlpipe` command prints with: one line at a time, flushed; step symbols; times."""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

SYMBOL = {"succeeded": "✓", "reused": "↺", "failed": "✗", "skipped": "-", "running": "▶",
          "cancelled": "⊘",
          "cached": "✓", "stale": "•"}


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
