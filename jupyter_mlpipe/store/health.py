"""Whether a store home can be used at all, checked before a command reads or writes it: each
problem (a file where the folder should be, no permission, a damaged history database, a folder
where the lock file should be) becomes one StoreUnusableError naming the path and the fix.
Nothing is moved or deleted here; the user decides."""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import StoreUnusableError

SQLITE_HEADER = b"SQLite format 3\x00"


def _where(home: Path) -> str:
    return "MLPIPE_HOME" if os.environ.get("MLPIPE_HOME") else "the store folder"


def _check_folder(home: Path) -> None:
    """`home` is a folder this user may use, or one it can create."""
    existing = home
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        what = "is a file" if existing == home else f"is under {existing}, which is a file"
        raise StoreUnusableError(
            f"{_where(home)} {home} {what}, not a folder, so results cannot be stored there. "
            f"Move that file away (mv {existing} {existing}.bak) or set MLPIPE_HOME to a folder, "
            "then run again.")
    if not os.access(existing, os.R_OK | os.W_OK | os.X_OK):
        raise StoreUnusableError(
            f"{_where(home)} {home} cannot be used: no permission to read and write "
            f"{existing}. Fix its permissions (chmod u+rwx {existing}) or set MLPIPE_HOME to a "
            "folder you own, then run again.")


def _check_history(path: Path) -> None:
    if not path.exists() and not path.is_symlink():
        return
    if not path.is_file():
        raise StoreUnusableError(
            f"the run history {path} is not a file (a folder or something else is in its "
            f"place). Move it away (mv {path} {path}.bak); stored results are kept and the "
            "history starts afresh.")
    try:
        with open(path, "rb") as f:
            header = f.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise StoreUnusableError(f"cannot read the run history {path} ({exc.strerror}). Fix its "
                                 "permissions, or move it away to start the history afresh."
                                 ) from None
    if header and header != SQLITE_HEADER:
        raise StoreUnusableError(
            f"the run history {path} is damaged (not a SQLite database). Move it aside "
            f"(mv {path} {path}.damaged): stored results are kept and reused, only the list "
            "of past runs starts afresh.")


def _check_lock(path: Path) -> None:
    if path.is_dir():
        raise StoreUnusableError(
            f"the store lock {path} is a folder; it must be a file. Remove it (rmdir {path}, "
            "or move it away if it holds anything), then run again.")


def check_home(home: Path) -> None:
    """Raise StoreUnusableError if the store under `home` cannot be used as it is."""
    _check_folder(home)
    if home.is_dir():
        _check_history(home / "history.sqlite")
        _check_lock(home / "lock")
