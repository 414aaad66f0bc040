"""Cached bytecode Python would wrongly take for a project module a step is about to import.

Python trusts a module's `.pyc` while the source's size and its mtime in whole seconds match
what the `.pyc` recorded. A same-size edit within the second the `.pyc` was written (a script
or a checkout writing a module and running at once; an edit of one digit) runs the old code,
and the step's result would be stored under the key of the new code, where a later run reuses
it. Before a step executes, each project module it imports (its key's modules and its last
result's manifest's) whose `.pyc` was written before the source last changed, yet still passes
for it, loses that `.pyc`: Python compiles the source again, as it does after any other edit.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


def drop_stale(sources: Iterable[Path]) -> list[Path]:
    """Remove the cached bytecode of `sources` that Python would load although the source
    changed after it was compiled; returns the files removed."""
    dropped = []
    for src in sources:
        try:
            st = os.stat(src)
            cached = list((src.parent / "__pycache__").glob(f"{src.stem}.*.pyc"))
        except OSError:
            continue
        for pyc in cached:  # one per Python version and optimisation level
            try:
                if os.stat(pyc).st_mtime_ns > st.st_mtime_ns or not _passes_for(pyc, st):
                    continue  # compiled after the last edit, or Python recompiles it anyway
                os.unlink(pyc)
            except OSError:
                continue
            dropped.append(pyc)
    return dropped


def _passes_for(pyc: Path, st: os.stat_result) -> bool:
    """Whether Python's check of a timestamp `.pyc` (PEP 552 header) accepts it for a source
    of this stat: its mtime in seconds and its size, each modulo 2**32."""
    with open(pyc, "rb") as f:
        header = f.read(16)
    if len(header) < 16 or int.from_bytes(header[4:8], "little") != 0:
        return False  # damaged, or hash-based: checked against the source's content
    mtime, size = (int.from_bytes(header[i:i + 4], "little") for i in (8, 12))
    return mtime == int(st.st_mtime) & 0xFFFFFFFF and size == st.st_size & 0xFFFFFFFF
