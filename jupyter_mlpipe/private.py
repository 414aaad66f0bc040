"""Folders jupyter_mlpipe keeps outside the project (kernel sockets, the daemon's sockets, the
signing key's folder, the registries): created 0700, and used only once their owner and mode
say that no other user can list, move or replace what is in them.

In a shared /tmp another user can create `mlpipe-ipc-UID` first (mode 777, or a link to a
folder of theirs) and then read or swap kernel sockets and connection files while a run goes
on: `exist_ok` alone would not notice. Standard library only: the daemon client imports it
before anything else.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import UnsafeFolderError


def private_dir(path: str | os.PathLike, *, shared_parent: bool = True) -> Path:
    """`path` as a folder of this user's alone: made (with missing parents) mode 0700, or checked
    if it is there. `shared_parent`: it lives in a folder others can write (/tmp), so nothing but
    mode 700 will do; otherwise (a folder in the home) not writable by others is enough, as
    `~/.mlpipe` made by `mkdir` is 755."""
    folder = Path(path)
    missing = []
    probe = folder
    while not os.path.lexists(probe) and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for each in reversed(missing):
        try:
            os.mkdir(each, 0o700)
        except FileExistsError:  # a concurrent creator: checked below like any other
            pass
    check_private(folder, strict=shared_parent)
    return folder


def check_private(folder: Path, *, strict: bool = True) -> None:
    """Refuse `folder` unless it is a real folder (not a link) owned by this user and closed to
    others: no access at all (`strict`) or no write access."""
    st = os.lstat(folder)
    problems = []
    if stat.S_ISLNK(st.st_mode):
        problems.append("is a symbolic link")
    elif not stat.S_ISDIR(st.st_mode):
        problems.append("is not a folder")
    if st.st_uid != os.getuid():
        problems.append(f"belongs to {_user(st.st_uid)}, not to you ({_user(os.getuid())})")
    mask = 0o077 if strict else 0o022
    if stat.S_ISDIR(st.st_mode) and st.st_mode & mask:
        problems.append(f"has mode {stat.S_IMODE(st.st_mode):o} (others may "
                        f"{'use' if strict else 'write to'} it)")
    if problems:
        raise UnsafeFolderError(folder, "; ".join(problems), strict)


def _user(uid: int) -> str:
    try:
        import pwd

        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"
