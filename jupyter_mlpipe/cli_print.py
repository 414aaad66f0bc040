"""What every `mlpipe` command prints with: one line at a time, flushed; step symbols; times."""
from __future__ import annotations

SYMBOL = {"succeeded": "✓", "reused": "↺", "failed": "✗", "skipped": "-", "running": "▶",
          "cancelled": "⊘",
          "cached": "✓", "stale": "•"}


def fmt_time(sec: float | None) -> str:
    if sec is None:
        return ""
    return f"{sec:.2f}s" if sec < 10 else f"{sec:.1f}s" if sec < 600 else f"{sec / 60:.1f}min"


def out(line: str = "") -> None:
    print(line, flush=True)
