"""Checked downloads from the shared store: one pass that streams, writes and hashes.

An object is read through fsspec's open() in large blocks; while the next block downloads, a
thread writes the previous one to the temporary file and hashes it, so checking costs no second
read of the file. The last `tail` bytes (an artifact's signed trailer) are kept aside, not
hashed, for the caller to check against the digest of the rest.
"""
from __future__ import annotations

import concurrent.futures as cf
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from .serialize import hasher

BLOCK = 32 << 20  # bytes per read: few requests, and at most two blocks in memory


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


def receive(fs: Any, path: str, dest: Path, tail: int = 0, block: int = BLOCK) -> Received:
    """Download `path` of `fs` into the file `dest` (created); hashing overlaps the download."""
    with fs.open(path, "rb", block_size=block, cache_type="none") as src, \
            open(dest, "wb") as out, cf.ThreadPoolExecutor(1) as pool:
        size = int(getattr(src, "size", None) or fs.size(path))
        sink = _Sink(out, size, tail)
        pending: cf.Future | None = None
        while chunk := src.read(block):
            if pending is not None:
                pending.result()
            pending = pool.submit(sink.take, chunk)
        if pending is not None:
            pending.result()
    return Received(sink.at, sink.hash.digest(), bytes(sink.kept))
