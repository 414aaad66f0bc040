"""Code that runs inside a step's kernel: load inputs from the store, save outputs to it.

The generated step notebook calls these; the result (output digests, stored files) goes to a
small JSON file that the runner reads once papermill returns, with the step's manifest: what
its code really read, imported and looked up in the environment (manifest.py), recorded from
begin() to save(). MLPIPE_NO_MANIFEST=1 turns recording off (for overhead measurements only).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from .. import atomic
from ..errors import InputChangedError, UnpicklableOutputError
from ..run.manifest import Manifest
from ..run.recorder import Recorder
from ..store.files import Store
from ..store.previews import save_preview
from ..store.remote import open_remote
from ..store.serialize import digest_value

_missing = object()
_loaded: list[tuple[str, str, Any]] = []  # (home, digest, value) of each input load() gave
# the run this kernel works for, for log_metric/log_param (tracking.py); set by begin()
context: dict[str, str] = {}
# the step's recorder and the top-level modules its code and prelude import; set by begin()
_recording: dict[str, Any] = {}
_teed: list[tuple[str, Any]] = []  # (sys attribute, the stream it had) while a step log is kept
LOG_LIMIT = 8_000_000  # characters a step log keeps; the executed notebook has everything
FLUSH_EVERY = 0.2  # seconds between flushes of the step log


class _Tee:
    """A stream that also appends what is written to the step's log, so the pipeline view can
    show a running step's printed output while it runs."""

    def __init__(self, stream: Any, log: "_Log"):
        self._stream, self._log = stream, log
        self._pending = log.pending

    def write(self, text: str) -> int:
        self._pending.append(text)  # the cheapest thing (a deque): the log thread does the rest
        return self._stream.write(text)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _Log:
    """The step log file, written by a thread every FLUSH_EVERY seconds from what the tees
    queued (a write and flush per line made printing 20 times slower), cut at LOG_LIMIT."""

    def __init__(self, path: str):
        import collections
        import threading

        self.pending: collections.deque = collections.deque()  # thread-safe append/popleft
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 (closed by close())
        self._written = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._flusher, name="mlpipe-step-log",
                                        daemon=True)
        self._thread.start()

    def _flusher(self) -> None:
        while not self._stop.wait(FLUSH_EVERY):
            self._flush()

    def _flush(self) -> None:
        parts = []
        while self.pending:
            parts.append(self.pending.popleft())
        text = "".join(p for p in parts if isinstance(p, str))
        if not text or self._written > LOG_LIMIT:
            return
        if self._written + len(text) > LOG_LIMIT:
            text = text[:LOG_LIMIT - self._written] + \
                "\n[jupyter_mlpipe: log cut here; the executed notebook has all]\n"
        self._written += len(text)
        self._file.write(text)
        self._file.flush()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._flush()
        self._file.close()


def _start_log(path: str) -> None:
    """Tee sys.stdout and sys.stderr into `path` until end()."""
    import sys

    _stop_log()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    log = _Log(path)
    for name in ("stdout", "stderr"):
        _teed.append((name, getattr(sys, name)))
        setattr(sys, name, _Tee(getattr(sys, name), log))


def _stop_log() -> None:
    import sys

    log = None
    while _teed:
        name, stream = _teed.pop()
        tee = getattr(sys, name)
        if isinstance(tee, _Tee):
            log = tee._log
        setattr(sys, name, stream)
    if log is not None:
        log.close()


# the process's own recorder, started before the prelude (or in the kernel template before
# its imports, which a forked kernel inherits): what the prelude used counts for each step
_prelude: list[Recorder] = []


def begin_prelude(root: str | None = None) -> None:
    """Record from here on what this process's code uses, until the process ends: the
    kernel template's imports, the warm-up's parameters and prelude, a live kernel's plain
    cells. A step's own recorder (begin) sits on top of it while the step runs, and its
    manifest is this one's plus the step's. Started once per process; a forked kernel
    keeps its template's."""
    if _prelude or os.environ.get("MLPIPE_NO_MANIFEST"):
        return
    _prelude.append(Recorder(root or os.getcwd(), stamp_reads=True).start())


def resume_prelude() -> None:
    """After a step in a live kernel: the plain cells run next count for the steps below.
    (A batch kernel ends with its step: its prelude recorder stays paused.)"""
    if _prelude and not _prelude[0].recording:
        _prelude[0].start()


def prelude_files() -> list[str]:
    """The files the prelude recorder has seen read (absolute paths)."""
    if not _prelude:
        return []
    _prelude[0].drain_read_log()  # what the imports opened below Python
    return sorted(_prelude[0].files)


def begin(home: str, run_id: str, step: str, ignore: list[str] | None = None,
          imported: list[str] | None = None, root: str | None = None,
          log: str | None = None) -> None:
    """Called first in a step notebook (and around an interactive step). `ignore`: the step's
    --writes, not dependencies (None: record nothing); `imported`: modules the step and its
    prelude import, which a warm kernel imported before the step started. Recording is rooted
    at `root`, by default the kernel's cwd: the notebook's folder. `log`: a file that gets the
    step's printed output as it is printed (the pipeline view's live log)."""
    context.clear()
    context.update(home=str(home), run_id=run_id, step=step)
    _loaded.clear()
    stop_recording()
    if _prelude:  # paused: what the step and the store do is not the prelude's
        _prelude[0].stop()
    if log:
        _start_log(log)
    if ignore is not None and not os.environ.get("MLPIPE_NO_MANIFEST"):
        recorder = Recorder(root or os.getcwd(), [*ignore, str(home)])
        _recording.update(recorder=recorder.start(), imported=list(imported or ()),
                          cache_dir=str(home))


def stop_recording() -> Manifest | None:
    """End the step's recording; its manifest, or None when nothing was recorded."""
    recorder = _recording.pop("recorder", None)
    if recorder is None:
        return None
    recorder.stop()
    cache_dir = _recording.pop("cache_dir", None)
    manifest = recorder.manifest(_recording.pop("imported", ()), cache_dir)
    if _prelude:
        manifest = _prelude[0].manifest(cache_dir=cache_dir, root=recorder.root,
                                        new_modules=False).merged(manifest)
    return manifest


def end() -> None:
    import sys

    stop_recording()
    _stop_log()
    tracking = sys.modules.get("jupyter_mlpipe.interactive.tracking")
    if tracking is not None:
        tracking.finish()
    context.clear()


def load(home: str, digest: str) -> Any:
    """An input value; one the local store lacks is fetched (checked) from the shared store."""
    store = Store(home)
    if not store.has_value(digest):
        remote = open_remote(Path.cwd())
        if remote is not None:
            remote.fetch_value(digest, store)
    value = store.get_value(digest)
    _loaded.append((home, digest, value))
    return value


def check_inputs_unchanged(step: str, namespace: dict, outputs: list[str]) -> None:
    """Fail the step if its body changed an input in place that it does not output: a plain
    top-to-bottom run would hand the changed value on, a pipeline the stored one."""
    changed = []
    for home, digest, value in _loaded:
        names = [n for n, v in namespace.items() if v is value and n not in outputs]
        now = digest_value(value) if names else digest
        if now != digest and now != digest_value(Store(home).get_value(digest)):
            changed.extend(names)  # (a fresh copy: a digest may differ for no change)
    _loaded.clear()
    if changed:
        raise InputChangedError(step, changed)


def save(home: str, step: str, namespace: dict, outputs: list[str], declared: bool,
         writes: list[str], result_path: str) -> None:
    """Store each output variable and --writes path; write the result file last."""
    manifest = stop_recording()  # before storing: the store's own reads are not the step's
    check_inputs_unchanged(step, namespace, outputs)
    store = Store(home)
    stored: dict[str, str] = {}
    dropped: list[str] = []
    for var in outputs:
        value = namespace.get(var, _missing)
        if value is _missing:
            if declared:
                raise NameError(
                    f"step '{step}' declares --out {var} but never assigns '{var}'. "
                    f"Assign it in the step, or remove it from --out.")
            continue
        try:
            stored[var] = store.put_value(value, step, var)
            save_preview(home, stored[var], value)
        except Exception as exc:
            if isinstance(exc, UnpicklableOutputError) and not declared:
                dropped.append(f"{var} ({exc.reason})")  # inferred outputs: keep what pickles
                continue
            raise
    files = {p: store.put_path(Path(p), Path.cwd()) for p in writes}
    result = {"outputs": stored, "writes": files, "dropped": dropped, "saved_at": time.time(),
              "manifest": manifest.to_json() if manifest is not None else None}
    atomic.write_text(result_path, json.dumps(result))
    end()
    if dropped:
        print("jupyter_mlpipe: not stored (cannot be pickled): " + ", ".join(dropped))
