"""What a step showed (printed text, tables, figures), kept with its result.

A reused `%%step` cell shows these again, so a second Run All looks like the first (as
jupyter-cache keeps a notebook's outputs with its cached execution). They are nbformat
outputs: `stream` (stdout/stderr text) and `display_data` (a cell's last value is kept as
display_data too: it is shown again by display, not as the cell's result). Errors are never
kept: a failed step stores nothing. Very large outputs are left out, with a note in their place.
"""
from __future__ import annotations

import json
from typing import Any

MAX_BYTES = 4 * 1024 * 1024  # outputs beyond this (a huge printout, many figures) are not kept


def keepable(outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The outputs worth showing again, in order, consecutive text of one stream joined."""
    kept: list[dict[str, Any]] = []
    for out in outputs or []:
        kind = out.get("output_type")
        if kind == "stream":
            text = out.get("text", "")
            text = "".join(text) if isinstance(text, list) else str(text)
            name = out.get("name", "stdout")
            if kept and kept[-1]["output_type"] == "stream" and kept[-1]["name"] == name:
                kept[-1]["text"] += text
            elif text:
                kept.append({"output_type": "stream", "name": name, "text": text})
        elif kind in ("display_data", "execute_result") and out.get("data"):
            kept.append({"output_type": "display_data", "data": dict(out["data"]),
                         "metadata": dict(out.get("metadata") or {})})
    size = len(json.dumps(kept))
    if size > MAX_BYTES:
        note = (f"jupyter_mlpipe: this step's outputs ({size / 2**20:.1f} MiB) are too large to "
                "keep with its result: a reuse shows none of them\n")
        return [{"output_type": "stream", "name": "stdout", "text": note}]
    return kept
