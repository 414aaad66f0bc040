"""What a kernel template's imports depended on, stamped so a later run can tell it changed.

A module file is stamped by (mtime_ns, size): an edit or an upgrade changes it. A folder on the
import path by the names in it that could be imported (a new `numpy.py` beside the notebook
shadows numpy; a new `results/` folder or an executed notebook does not count)."""
from __future__ import annotations

import hashlib
import os
import sys

MODULE_SUFFIXES = (".py", ".pyc", ".so", ".pyd", ".pth")


def stamp(path: str) -> list | None:
    """The path's stamp, or None if it is gone."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not os.path.isdir(path):
        return [st.st_mtime_ns, st.st_size]
    try:
        names = sorted(e.name for e in os.scandir(path) if _importable(e))
    except OSError:
        return None
    return ["dir", hashlib.sha256("\n".join(names).encode()).hexdigest()]


def _importable(entry: os.DirEntry) -> bool:
    stem = entry.name.split(".", 1)[0]
    if not stem.isidentifier():
        return False
    try:
        return entry.is_dir() or entry.name.endswith(MODULE_SUFFIXES)
    except OSError:
        return False


def loaded_stamps() -> dict[str, list]:
    """Stamps of every imported module's file and every folder on sys.path, as now."""
    paths = {getattr(m, "__file__", None) for m in list(sys.modules.values())}
    paths.update(p or os.getcwd() for p in sys.path)
    stamps = {}
    for path in paths:
        if isinstance(path, str):
            s = stamp(path)
            if s is not None:  # frozen or zipped modules, sys.path entries that do not exist
                stamps[path] = s
    return stamps


def changed(stamps: dict[str, list]) -> str | None:
    """The first stamped path that is not as it was, or None."""
    for path, was in stamps.items():
        if stamp(path) != was:
            return path
    return None
