"""Artifact bodies received from a remote kernel (executors/gateway.py): named and checked
without being unpickled. Loading a pickle runs code, and the orchestrator loads nothing it did
not sign; the kernels that take the body as an input, or the user, load it after the store
signed it."""
from __future__ import annotations

import io
import pickletools
from pathlib import Path

from .serialize import (
    ArtifactDamaged,
    _project_module_digest,
    _read_body,
    hasher,
    source_digest,
)


def received_name(f: io.BufferedIOBase, root: Path) -> tuple[str, bytes]:
    """(name to store it under, body digest) of a body with no trailer that this process
    received from a remote kernel (executors/gateway.py), found without unpickling it: loading
    a pickle runs code, and nothing unsigned is loaded here. The name covers the body's bytes
    and the source of the project modules (under `root`) that its pickle refers to by name,
    as digest_value covers them for a value computed here."""
    main, _buffers, content = _read_body(f)
    h = hasher()
    h.update(b"received:" + content)
    for module in sorted(_pickled_modules(main)):
        digest = _project_module_digest(module) or _project_file_digest(module, root)
        if digest is not None:
            h.update(f"module:{module}:{digest}".encode())
    return h.hexdigest(), content


def _pickled_modules(main: bytes) -> set[str]:
    """Names a pickle stream could import (GLOBAL's module, and every string that reads as a
    dotted name, which STACK_GLOBAL takes from the stack), read with pickletools: nothing in
    the stream is executed. More names than imported only add dependencies."""
    names = set()
    try:
        for op, arg, _pos in pickletools.genops(main):
            if op.name == "GLOBAL" and isinstance(arg, str):
                names.add(arg.split(" ", 1)[0])
            elif isinstance(arg, str) and len(arg) < 200:
                names.add(arg)
    except (ValueError, EOFError) as exc:
        raise ArtifactDamaged(f"its pickle stream is unreadable ({exc})") from None
    return {n for n in names if n and all(part.isidentifier() for part in n.split("."))}


def _project_file_digest(name: str, root: Path) -> str | None:
    """The source digest of module `name` as a file under the project folder `root` (found
    by path, not imported), or None."""
    base = Path(root, *name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return source_digest(path)
    return None
