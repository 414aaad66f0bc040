"""Small files written whole or not at all: a uniquely named temp file beside the target, then
`os.replace`. Unique per call (not per process), so threads of one process (sweep points, the
server's runs) never rename each other's temp file away."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_text(path: str | os.PathLike, text: str) -> None:
    """Replace `path` with `text` (UTF-8) atomically, making its folder if needed."""
    write_bytes(path, text.encode("utf-8"))


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Replace `path` with `data` atomically, making its folder if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):  # keep the error; drop the temp file
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename is None:  # a write error names no file
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
