"""Checked downloads from the shared store: one pass that streams, writes and hashes.

An object is read through fsspec's open() in large blocks, two at once (as s3fs's get_file
fetches parts at once), while the blocks already here are written to the temporary file and
hashed in order, so checking costs no second read of the file. The last `tail` bytes (an
artifact's signed trailer) are kept aside, not hashed, for the caller to check against the
digest of the rest.
"""
from __future__ import annotations

import concurrent.futures as cf
import threading
from collections import deque
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO

from .serialize import hasher

BLOCK = 64 << 20  # bytes per request: few requests (each has a cost of its own)
READERS = 2  # blocks fetched at once: at most READERS + 1 blocks (192 MB) in memory


@dataclass(frozen=True, slots=True)
class Received:
    """What a download delivered: its size, the blake3 of all but the tail, and the tail."""

    size: int
    digest: bytes
    tail: bytes


class _Sink:
    """Writes blocks to a file and hashes every byte before the last `tail` of `size`."""

    def __init__(self, out: BinaryIO, size: int, tail: int):
        self.out, self.size, self.tail = out, size, tail
        self.hash = hasher(size)
        self.at = 0
        self.kept = bytearray()

    def take(self, block: bytes) -> None:
        self.out.write(block)
        view = memoryview(block)
        hashed = max(0, min(len(view), self.size - self.tail - self.at))
        if hashed:
            self.hash.update(view[:hashed])
        self.kept += view[hashed:]
        self.at += len(view)


def receive(fs: Any, path: str, dest: Path, tail: int = 0, block: int = BLOCK,
            readers: int = READERS) -> Received:
    """Download `path` of `fs` into the file `dest` (created): `readers` threads fetch the next
    blocks, each through an fsspec file of its own, while this thread writes and hashes."""
    local = threading.local()
    opened: list[Any] = []

    def fetch(at: int) -> bytes:
        src = getattr(local, "src", None)
        if src is None:
            src = local.src = fs.open(path, "rb", block_size=block, cache_type="none")
            opened.append(src)
        src.seek(at)
        return src.read(block)

    try:
        with open(dest, "wb") as out, cf.ThreadPoolExecutor(readers) as pool:
            sink = _Sink(out, int(fs.size(path)), tail)
            offsets = iter(range(0, sink.size, block))
            ahead = deque(pool.submit(fetch, at) for at in islice(offsets, readers))
            while ahead:
                chunk = ahead.popleft().result()
                for at in islice(offsets, 1):
                    ahead.append(pool.submit(fetch, at))
                sink.take(chunk)
    finally:
        for src in opened:
            src.close()
    return Received(sink.at, sink.hash.digest(), bytes(sink.kept))
