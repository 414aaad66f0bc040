"""Values <-> bytes: cloudpickle protocol 5 with out-of-band buffers, and content digests.

A value's digest is taken from its content, not its pickle bytes: NumPy arrays and pandas
objects hash their data (so equal values get equal digests and downstream steps are not
recomputed needlessly); other values hash their pickle stream plus the raw buffers. A class or
function pickled by reference is only its name in that stream, so the source digest of its
module is added when that module is a project file (not installed): editing a method of a
project class changes the digest of every value that holds an instance.
"""
from __future__ import annotations

import ast
import io
import json
import os
import pickle
import struct
import sys
import threading
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import blake3

from . import signing
from ..pipeline.analysis import is_project_file, normalize

ARTIFACT_HEADER = b"MLPIPE-ARTIFACT\n"
FORMAT = 2  # 2: a trailer with the body digest and a signature
_BIG = 1 << 20  # above this, blake3 uses all cores


def hasher(size_hint: int = 0) -> blake3.blake3:
    return blake3.blake3(max_threads=blake3.blake3.AUTO if size_hint > _BIG else 1)


@dataclass(slots=True)
class Serialized:
    main: bytes
    buffers: list[memoryview]

    @property
    def nbytes(self) -> int:
        return len(self.main) + sum(b.nbytes for b in self.buffers)


def dumps(value: Any) -> Serialized:
    import cloudpickle

    buffers: list[pickle.PickleBuffer] = []
    main = cloudpickle.dumps(value, protocol=5, buffer_callback=buffers.append)
    views = []
    for b in buffers:
        try:
            views.append(b.raw())  # flat, no copy (C- or F-contiguous)
        except BufferError:  # non-contiguous: one copy is unavoidable
            views.append(memoryview(bytes(b)))
    return Serialized(main, views)


# ---- content digests -------------------------------------------------------------------

def _dtype_key(dtype: Any) -> str:
    """The dtype as np.save describes it: its `.str` for plain dtypes, the fields for records
    (whose `.str` is only the item size)."""
    from numpy.lib.format import dtype_to_descr

    return str(dtype_to_descr(dtype))


def _update_array(h: blake3.blake3, arr: Any) -> bool:
    """Hash a NumPy array by dtype, shape and data; False if it holds Python objects.

    The data is hashed as flat C-order bytes through a uint8 view, never memoryview.cast:
    that refuses zero-size views (a fitted HistGradientBoostingClassifier holds some) and
    dtypes outside the buffer protocol (datetime64, timedelta64).
    """
    import numpy as np

    if arr.dtype.hasobject:
        return False
    h.update(f"ndarray:{_dtype_key(arr.dtype)}:{arr.shape}:".encode())
    if arr.size:
        h.update(np.ascontiguousarray(arr).reshape(-1).view(np.uint8).data)
    return True


def _update(h: blake3.blake3, value: Any) -> None:
    mod = type(value).__module__
    if mod == "numpy" and type(value).__name__ == "ndarray":
        if _update_array(h, value):
            return
    elif mod.startswith("pandas") and _update_pandas(h, value):
        return
    elif type(value) in (list, tuple):
        h.update(f"{type(value).__name__}:{len(value)}:".encode())
        for v in value:
            _update(h, v)
        return
    elif type(value) is dict:
        h.update(f"dict:{len(value)}:".encode())
        for k, v in value.items():
            _update(h, k)
            _update(h, v)
        return
    elif type(value) in (set, frozenset):  # order depends on hash seeds: sort member digests
        h.update(f"{type(value).__name__}:".encode())
        for d in sorted(digest_value(v) for v in value):
            h.update(d.encode())
        return
    elif type(value) in (str, bytes, int, float, bool, complex, type(None)):
        h.update(f"{type(value).__name__}:{value!r}".encode())
        return
    h.update(b"pickle:")
    h.update(_pickle_digest(value))


def _pickle_digest(value: Any) -> bytes:
    # Without memoization, the stream does not depend on which equal objects happen to be
    # identical (interned strings, say), which changes when a value is unpickled.
    probe = hasher()
    try:
        p = _CanonicalPickler(probe)
        p.fast = True
        p.dump(value)
    except (ValueError, RecursionError, pickle.PicklingError):  # cycles need the memo
        probe = hasher()
        p = _CanonicalPickler(probe)
        p.dump(value)
    for name in sorted(p.by_reference):
        digest = _project_module_digest(name)
        if digest is not None:
            probe.update(f"module:{name}:{digest}".encode())
    return probe.digest()


def _project_module_digest(name: str) -> str | None:
    """The source digest of a loaded module whose file is not installed (a project file)."""
    path = getattr(sys.modules.get(name), "__file__", None)
    if not path or name == "__main__" or not path.endswith(".py"):
        return None
    real = os.path.realpath(path)
    if not is_project_file(real, os.sep) or not os.path.isfile(real):
        return None
    return source_digest(real)


_sources: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> source digest


def source_digest(path: str | os.PathLike) -> str:
    """A Python file by its AST (comments and formatting do not count); other bytes as is."""
    st = os.stat(path)
    cache_key = (os.fspath(path), st.st_size, st.st_mtime_ns)
    if cache_key not in _sources:
        try:
            text = Path(path).read_text(encoding="utf-8")
            digest = hasher().update(normalize(ast.parse(text)).encode()).hexdigest()
        except (SyntaxError, UnicodeDecodeError, ValueError):
            digest = file_digest(path)
        _sources[cache_key] = digest
    return _sources[cache_key]


class _HashWriter:
    def __init__(self, h: blake3.blake3):
        self.write = h.update


def _array_token(dtype: str, shape: tuple, digest: str) -> None:
    """Stands for an array's content in the stream that is hashed (never unpickled)."""


def _canonical_pickler():
    import cloudpickle

    class CanonicalPickler(cloudpickle.Pickler):
        """Pickles into a hash; arrays become (dtype, shape, data digest) tokens, so an array's
        memory layout and in-band/out-of-band pickling cannot change the digest."""

        def __init__(self, h: blake3.blake3):
            super().__init__(_HashWriter(h), protocol=5)
            self.by_reference: set[str] = set()  # modules of classes/functions saved by name

        def reducer_override(self, obj: Any) -> Any:
            t = type(obj)
            if t.__module__ == "numpy" and t.__name__ == "ndarray" and not obj.dtype.hasobject:
                return _array_token, (_dtype_key(obj.dtype), obj.shape, digest_value(obj))
            if isinstance(obj, (type, types.FunctionType)) and _by_reference(obj):
                self.by_reference.add(obj.__module__)
            return super().reducer_override(obj)

    return CanonicalPickler


def _by_reference(obj: Any) -> bool:
    from cloudpickle.cloudpickle import _should_pickle_by_reference  # cloudpickle's own rule

    try:
        return isinstance(getattr(obj, "__module__", None), str) and \
            _should_pickle_by_reference(obj)
    except Exception:  # an object with an odd __module__ or __qualname__
        return False


def _CanonicalPickler(h: blake3.blake3):  # noqa: N802 - a class, built on first use
    global _CanonicalPickler
    cls = _canonical_pickler()
    _CanonicalPickler = cls  # type: ignore[misc]
    return cls(h)


def _update_pandas(h: blake3.blake3, value: Any) -> bool:
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        h.update(b"DataFrame:")
        _update_pandas(h, value.columns)
        _update_pandas(h, value.index)
        for i in range(value.shape[1]):
            _update_pandas(h, value.iloc[:, i])
        return True
    if isinstance(value, (pd.Series, pd.Index)):
        h.update(f"{type(value).__name__}:{value.dtype}:{value.name!r}:".encode())
        if isinstance(value, pd.Series):
            _update_pandas(h, value.index)
        arr = value.to_numpy()
        if arr.dtype.hasobject:
            _update(h, arr.tolist())
        else:
            _update_array(h, arr)
        return True
    return False


def digest_value(value: Any, single_thread: bool = False) -> str:
    """Digest of a value's content (blake3, hex); equal data gives equal digests.

    Large arrays are hashed on all cores unless `single_thread` (when another thread is busy
    writing the same value out, as in digest_and_write, two cores are already in use).
    """
    h = hasher(0 if single_thread else (getattr(value, "nbytes", 0) or 0))
    try:
        _update(h, value)
    except RecursionError:  # a container that contains itself
        h = hasher()
        h.update(b"pickle:")
        h.update(_pickle_digest(value))
    return h.hexdigest()


# ---- artifact files ---------------------------------------------------------------------
# Layout: ARTIFACT_HEADER, 8-byte header length, JSON header, pickle stream, each buffer (the
# body), then a trailer: the blake3 digest of the body's bytes and the signature of the
# artifact's name with that digest (signing.py). The name is the value digest (digest_value),
# not a digest of the bytes, so the trailer is what a reader checks the bytes against.
TRAILER_BYTES = 32 + 64
_CHUNK = 16 << 20  # buffers are read and hashed in pieces of this size, in parallel


class ArtifactDamaged(ValueError):
    """The artifact's bytes are not those written (a flipped byte, a truncated file)."""


class ArtifactUnsigned(ValueError):
    """The artifact is intact but no trusted key signed it (old store, or planted)."""


def _body_header(s: Serialized) -> bytes:
    header = json.dumps({"format": FORMAT, "python": list(sys.version_info[:2]),
                         "main": len(s.main), "buffers": [b.nbytes for b in s.buffers]}).encode()
    return ARTIFACT_HEADER + struct.pack("<Q", len(header)) + header


def write_artifact(f: BinaryIO, s: Serialized) -> bytes:
    """Write the body; returns the blake3 digest of its bytes (for write_trailer)."""
    h = hasher(s.nbytes)
    parts: list[bytes | memoryview] = [_body_header(s), s.main, *s.buffers]
    for part in parts:
        f.write(part)
        h.update(part)
    return h.digest()


def write_trailer(f: BinaryIO, name: str, content: bytes, keys: signing.Keys) -> None:
    f.write(content + keys.sign(b"artifact", name.encode() + content).encode())


def _empty_buffer(n: int) -> Any:
    """Writable memory without zero-filling it (numpy.empty), else a bytearray."""
    try:
        import numpy as np
    except ImportError:
        return bytearray(n)
    return np.empty(n, dtype=np.uint8)


def _read_exactly(f: io.BufferedIOBase, view: memoryview) -> None:
    got = 0
    while got < len(view):
        k = f.readinto(view[got:])
        if not k:
            raise ArtifactDamaged("artifact is truncated")
        got += k


def _read_body(f: io.BufferedIOBase) -> tuple[bytes, list[Any], bytes]:
    """(pickle stream, buffers, blake3 of the body's bytes); the hashing of each piece runs
    in a thread while the next piece is read, so checking costs no extra pass."""
    magic = f.read(len(ARTIFACT_HEADER))
    if magic != ARTIFACT_HEADER:
        raise ArtifactUnsigned("it is not a signed jupyter_mlpipe artifact")
    size = f.read(8)
    try:
        (n,) = struct.unpack("<Q", size)
        raw = f.read(n)
        header = json.loads(raw)
        main_size, buffer_sizes = int(header["main"]), [int(b) for b in header["buffers"]]
    except (struct.error, ValueError, KeyError, TypeError, MemoryError) as exc:
        raise ArtifactDamaged(f"its header is unreadable ({type(exc).__name__})") from None
    if header.get("format") != FORMAT:
        raise ArtifactUnsigned(f"artifact format {header.get('format')} is not {FORMAT}")
    main = f.read(main_size)
    if len(main) != main_size:
        raise ArtifactDamaged("artifact is truncated")
    h = hasher(sum(buffer_sizes))
    h.update(magic + size + raw + main)
    if sum(buffer_sizes) <= _CHUNK:  # one piece or none: nothing to overlap, no thread
        buffers = [_read_buffer(f, n_bytes, h.update) for n_bytes in buffer_sizes]
        return main, buffers, h.digest()
    import concurrent.futures as cf  # only writers of large buffers use a thread

    with cf.ThreadPoolExecutor(max_workers=1) as pool:
        pending: list[cf.Future] = []

        def hash_in_thread(piece: memoryview) -> None:
            if pending:
                pending.pop().result()
            pending.append(pool.submit(h.update, piece))

        buffers = [_read_buffer(f, n_bytes, hash_in_thread) for n_bytes in buffer_sizes]
        if pending:
            pending.pop().result()
    return main, buffers, h.digest()


def _read_buffer(f: io.BufferedIOBase, n_bytes: int, hash_piece: Any) -> Any:
    """One out-of-band buffer, read in pieces; each piece goes to `hash_piece` once read."""
    buf = _empty_buffer(n_bytes)
    view = memoryview(buf).cast("B") if not isinstance(buf, bytearray) else memoryview(buf)
    for at in range(0, n_bytes, _CHUNK):
        piece = view[at:at + _CHUNK]
        _read_exactly(f, piece)
        hash_piece(piece)
    return buf


def _unpickle(main: bytes, buffers: list[Any]) -> Any:
    import cloudpickle  # noqa: F401  (functions pickled by value need it importable)

    return pickle.loads(main, buffers=buffers)


def _verified(f: io.BufferedIOBase, name: str, keys: signing.Keys) -> tuple[bytes, list[Any]]:
    main, buffers, content = _read_body(f)
    check_trailer(name, content, f.read(TRAILER_BYTES), keys)
    return main, buffers


def check_trailer(name: str, content: bytes, trailer: bytes, keys: signing.Keys) -> None:
    """The trailer records `content` (the body's blake3) and a trusted key signed it."""
    if not trailer:
        raise ArtifactUnsigned("it has no signature")
    if len(trailer) != TRAILER_BYTES or trailer[:32] != content:
        raise ArtifactDamaged("its content does not match the digest recorded when it was "
                              "written")
    if not keys.verifies(b"artifact", name.encode() + content, trailer[32:].decode("latin-1")):
        raise ArtifactUnsigned("no trusted key signed it")


def read_artifact(f: io.BufferedIOBase, name: str, keys: signing.Keys) -> Any:
    """Load the artifact stored as `name`: its bytes are checked against the digest in its
    trailer and the signature against the trusted keys before anything is unpickled."""
    return _unpickle(*_verified(f, name, keys))


def check_artifact(f: io.BufferedIOBase, name: str, keys: signing.Keys) -> None:
    """read_artifact without the unpickling (raises the same errors)."""
    _verified(f, name, keys)


def digest_and_write(value: Any, s: Serialized, f: BinaryIO, keys: signing.Keys) -> str:
    """Write the signed artifact while another thread hashes the value (both release the
    GIL); returns the value digest, its name."""
    result: dict[str, Any] = {}

    def work() -> None:
        try:
            result["digest"] = digest_value(value, single_thread=True)
        except BaseException as exc:  # re-raised in the caller's thread
            result["error"] = exc

    if s.nbytes > _BIG:
        t = threading.Thread(target=work)
        t.start()
        try:
            content = write_artifact(f, s)
        finally:
            t.join()
    else:
        content = write_artifact(f, s)
        work()
    if "error" in result:
        raise result["error"]
    write_trailer(f, result["digest"], content, keys)
    return result["digest"]


def file_digest(path: str | os.PathLike) -> str:
    """blake3 of a file's bytes, memory-mapped and multi-threaded for large files."""
    size = os.path.getsize(path)
    h = hasher(size)
    if size == 0:
        return h.hexdigest()
    # blake3 opens the file natively: say so as Python's open would, so a recorder running in
    # this process attributes the read to its caller (jupyter_mlpipe here, not the step)
    sys.audit("open", os.fspath(path), "rb", os.O_RDONLY)
    h.update_mmap(os.fspath(path))
    return h.hexdigest()
