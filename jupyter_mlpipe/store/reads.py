"""Content digests of the files and folders a step --reads, with a stat fast path.

Like git's index: a file whose size, mtime, ctime and inode match the recorded ones is not
re-read. ctime cannot be set by users, so a rewrite that restores size and mtime (os.utime)
is still seen. A file changed within RACY_SECONDS of being recorded is always re-hashed,
since timestamps that close may not tell two writes apart.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from ..errors import StepDefinitionError
from .history import History
from .serialize import file_digest, hasher

RACY_SECONDS = 2.0


def _one_file(path: Path, history: History | None) -> str:
    st = path.stat()
    key = os.fspath(path)
    if history is not None:
        row = history.cached_digest(key)
        if (row is not None and row["size"] == st.st_size and row["mtime_ns"] == st.st_mtime_ns
                and row["ctime_ns"] == st.st_ctime_ns and row["ino"] == st.st_ino
                and row["recorded"] - max(st.st_mtime_ns, st.st_ctime_ns) / 1e9 > RACY_SECONDS):
            return row["digest"]
    digest = file_digest(path)
    if history is not None and time.time() - max(st.st_mtime_ns, st.st_ctime_ns) / 1e9 > 0:
        history.store_digest(key, st, digest)
    return digest


def path_digest(rel: str, root: Path, history: History | None, step: str = "?") -> str:
    """Digest of a file, or of a folder's files (names and contents, recursively)."""
    full = (root / rel).resolve()
    if full.is_file():
        return _one_file(full, history)
    if full.is_dir():
        h = hasher()
        for p in sorted(full.rglob("*")):
            if p.is_file():
                h.update(p.relative_to(full).as_posix().encode() + b"\0")
                h.update(_one_file(p, history).encode())
        return h.hexdigest()
    raise StepDefinitionError(
        f"--reads {rel}: no such file or folder (paths are relative to the notebook's folder, "
        f"{root}). Create it, or fix the path in the %%step line.", step=step)
