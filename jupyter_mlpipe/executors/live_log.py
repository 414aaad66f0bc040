"""A step's live log written from its kernel's messages, for kernels that cannot write the file
the pipeline view reads (.mlpipe/runs/RUN/STEP.log) themselves: a gateway kernel runs on
another host, a Dask worker's kernel maybe too. papermill hands each stream message as it
arrives to a `stdout_file`; on a gateway that is the file here, on a Dask worker a writer
that sends it as a Dask event the executor appends to the file here.
"""
from __future__ import annotations

import threading
from pathlib import Path

MAX_BYTES = 8 << 20  # as the local kernels' tee: the view reads the head of a huge log


class LogFile:
    """Appends what it is given to `path` (flushed per message, cut at MAX_BYTES)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(path, "ab")  # noqa: SIM115 - open while the step runs, closed by close()
        self._size = self._f.tell()
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        data = text.encode("utf-8", "replace")
        with self._lock:
            if self._f.closed or self._size >= MAX_BYTES:
                return
            data = data[:MAX_BYTES - self._size]
            self._f.write(data)
            self._f.flush()
            self._size += len(data)

    def flush(self) -> None:
        pass  # each write is flushed

    def close(self) -> None:
        with self._lock:
            self._f.close()


class EventWriter:
    """On a Dask worker: each write becomes an event on `topic` (the executor subscribed)."""

    def __init__(self, topic: str):
        from distributed import get_worker  # optional: only on a Dask worker

        self._worker, self._topic = get_worker(), topic

    def write(self, text: str) -> None:
        if text:
            self._worker.log_event(self._topic, text)

    def flush(self) -> None:
        pass
