"""Confine notebook paths from HTTP requests to the server's root: no `..`, no absolute paths,
no symlinks leading outside, no hidden folders (the store under `.mlpipe/` is never named)."""
from __future__ import annotations

from pathlib import Path, PurePosixPath

from ..errors import MlpipeError


class NotebookPathError(MlpipeError):
    """A notebook path from a request is refused (status 400/403) or does not exist (404)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def resolve_notebook(root: str | Path, rel: str | None, allow_hidden: bool = False) -> Path:
    """The real path of notebook `rel` (relative to `root`, '/'-separated) inside `root`."""
    if not rel:
        raise NotebookPathError("missing 'path': give the notebook path relative to the "
                                "server root, e.g. ?path=train.ipynb", 400)
    pure = PurePosixPath(rel.replace("\\", "/"))
    if pure.is_absolute() or rel.startswith(("/", "\\")) or (len(rel) > 1 and rel[1] == ":"):
        raise NotebookPathError(f"'{rel}' is absolute: give a path relative to the server "
                                "root", 400)
    if ".." in pure.parts:
        raise NotebookPathError(f"'{rel}' contains '..': paths must stay under the server "
                                "root", 400)
    if not allow_hidden and any(p.startswith(".") for p in pure.parts):
        raise NotebookPathError(f"'{rel}' is in a hidden folder", 403)
    if pure.suffix != ".ipynb":
        raise NotebookPathError(f"'{rel}' is not a notebook (.ipynb)", 400)
    base = Path(root).resolve()
    real = (base / Path(*pure.parts)).resolve()
    if not real.is_relative_to(base):
        raise NotebookPathError(f"'{rel}' leads outside the server root (symlink)", 403)
    if not real.is_file():
        raise NotebookPathError(f"no notebook '{rel}' under the server root", 404)
    return real


def relative(root: str | Path, path: str | Path) -> str | None:
    """`path` as the '/'-separated path under `root` the client knows, or None if outside."""
    try:
        return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return None
