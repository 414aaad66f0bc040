"""A full disk said as such: which disk (the path it holds), how full, and what to free.

SQLite reports a disk full to the last byte as `disk I/O error` (it cannot even create its
journal), Python as `OSError: [Errno 28]`; neither names the store. The store's writers turn
those into one message through here.
"""
from __future__ import annotations

import errno
import shutil
import sqlite3
from pathlib import Path

from ..errors import CacheError

NEARLY_FULL = 1 << 20  # bytes free under which an I/O error is taken for a full disk
SQLITE_FULL, SQLITE_IOERR = 13, 10


class DiskFullError(CacheError):
    """The disk holding the store has no room left for what a command must write."""

    exit_code = 2


def free_bytes(path: Path) -> int | None:
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        return shutil.disk_usage(probe).free
    except OSError:
        return None


def is_full(exc: BaseException, path: Path) -> bool:
    """Whether `exc` (from writing under `path`) means the disk is full."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None and code & 0xFF == SQLITE_FULL:
            return True
        if (code is not None and code & 0xFF == SQLITE_IOERR) or "disk I/O" in str(exc):
            free = free_bytes(path)
            return free is not None and free < NEARLY_FULL
    return False


def full_disk_error(path: Path, doing: str, home: Path | None = None) -> DiskFullError:
    """The message for a full disk met while `doing` something with `path` (in store `home`)."""
    free = free_bytes(path)
    room = f" ({free:,} bytes free there)" if free is not None else ""
    folder = home or Path(path).parent
    return DiskFullError(
        f"the disk holding {path} is full while {doing}{room}. Nothing already stored was "
        f"changed. Free space on that disk: `mlpipe cache gc` removes stored results that no "
        f"notebook uses, `du -sh {folder}/*` shows what is large there; or set MLPIPE_HOME to "
        "a folder on a larger disk. Then run again.")
