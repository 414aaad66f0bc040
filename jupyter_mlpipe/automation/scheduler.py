"""The scheduler loop: run each schedule of a project when it is due or its data changed.

One loop, one run at a time. Times missed while nothing ran are run once, not once each
(the next time counts from the last run). Data changes are seen by watchfiles and confirmed by
content digest, so a touch starts nothing; changes during a run mark the schedule once, and the
loop starts one more run after it. A failed run is logged; the loop goes on. Setting `stop`
cancels the running pipeline (its kernels are stopped) and ends the loop.
"""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable

from .. import atomic
from ..errors import MlpipeError
from ..pipeline.load import load_pipeline
from ..models import PipelineSpec
from .schedule import Schedule, load_schedules, notebook_path, schedule_file, watched_paths
from ..store.files import Store
from ..store.reads import path_digest
from ..run.runner import RunOptions, run_pipeline
from .triggers import last_triggered

Log = Callable[[str], None]


def content_digest(spec: PipelineSpec, paths: list[str]) -> str:
    """One digest for the contents of the watched paths (a missing path counts as such)."""
    parts = []
    for rel in paths:
        try:
            parts.append(f"{rel}={path_digest(rel, spec.root, None)}")
        except MlpipeError:
            parts.append(f"{rel}=missing")
    return ";".join(parts)


def _state_file(spec: PipelineSpec, schedule: Schedule) -> Path:
    return Store.for_notebook(spec.path).home / "schedules" / f"{schedule.id}.json"


def seen_digest(spec: PipelineSpec, schedule: Schedule) -> str | None:
    path = _state_file(spec, schedule)
    return json.loads(path.read_text())["digest"] if path.is_file() else None


def remember_digest(spec: PipelineSpec, schedule: Schedule, digest: str) -> None:
    path = _state_file(spec, schedule)
    atomic.write_text(path, json.dumps({"digest": digest, "at": time.time()}))


class Scheduler:
    """Runs the schedules in `folder`'s mlpipe-schedules.json until `stop` is set."""

    def __init__(self, folder: str | os.PathLike, stop: threading.Event | None = None,
                 jobs: int | None = None, poll: float = 0.25, log: Log | None = None):
        self.folder = Path(folder).resolve()
        self.stop = stop or threading.Event()
        self.jobs, self.poll = jobs, poll
        self.log: Log = log or (lambda line: None)
        self.schedules: list[Schedule] = []
        self._file_mtime: float | None = None
        self.last_run: dict[str, float] = {}  # schedule id -> start of its last run
        self.dirty: set[str] = set()  # on-change schedules whose paths may have changed
        self._lock = threading.Lock()
        self._watcher: threading.Thread | None = None
        self._watch_stop = threading.Event()

    def run(self) -> None:
        """The loop; returns once `stop` is set (a running pipeline is cancelled first)."""
        try:
            while not self.stop.is_set():
                self._reload()
                for schedule in list(self.schedules):
                    if self.stop.is_set():
                        break
                    reason = self.due(schedule)
                    if reason:
                        self.fire(schedule, reason)
                self.stop.wait(self.poll)
        finally:
            self._watch_stop.set()
            if self._watcher is not None:
                self._watcher.join(timeout=5)

    def _reload(self) -> None:
        """Re-read the schedules file when it changed (`schedule add/rm` while running)."""
        path = schedule_file(self.folder)
        mtime = path.stat().st_mtime if path.is_file() else None
        if mtime == self._file_mtime:
            return
        self._file_mtime = mtime
        try:
            self.schedules = load_schedules(self.folder)
        except MlpipeError as exc:
            self.log(f"error: {exc}")
            return
        with self._lock:
            self.dirty |= {s.id for s in self.schedules if s.on_change is not None}
        self._restart_watcher()
        self.log(f"{len(self.schedules)} schedule(s) in {path}")

    def _spec(self, schedule: Schedule) -> PipelineSpec | None:
        try:
            return load_pipeline(notebook_path(self.folder, schedule))
        except MlpipeError as exc:
            self.log(f"schedule {schedule.id}: error: {exc}")
            return None

    def due(self, schedule: Schedule) -> str | None:
        """Why the schedule should run now, or None."""
        if schedule.on_change is not None:
            return self._changed(schedule)
        if schedule.id not in self.last_run:
            spec = self._spec(schedule)
            last = last_triggered(spec, schedule.trigger) if spec else None
            self.last_run[schedule.id] = last["started"] if last else schedule.created
        if schedule.next_time(self.last_run[schedule.id]) <= time.time():
            return schedule.when
        return None

    def _changed(self, schedule: Schedule) -> str | None:
        with self._lock:
            if schedule.id not in self.dirty:
                return None
            self.dirty.discard(schedule.id)
        spec = self._spec(schedule)
        if spec is None:
            return None
        paths = watched_paths(spec, schedule.on_change or ())
        digest = content_digest(spec, paths)
        before = seen_digest(spec, schedule)
        remember_digest(spec, schedule, digest)  # before the run: changes during it count
        if before is None or before == digest:
            return None  # first sight sets the baseline; a touch changes no content
        return "change of " + ", ".join(paths)

    def fire(self, schedule: Schedule, reason: str) -> None:
        """One run of the schedule; a failure is logged, never raised."""
        self.last_run[schedule.id] = time.time()
        spec = self._spec(schedule)
        if spec is None:
            return
        self.log(f"schedule {schedule.id}: running {schedule.notebook} ({reason})")
        try:
            run = run_pipeline(spec, RunOptions(
                params=schedule.params, jobs=self.jobs, kind="schedule", cancel=self.stop,
                trigger=f"{schedule.trigger}: {reason}"))
        except Exception as exc:  # noqa: BLE001 - one bad run must not stop the scheduler
            self.log(f"schedule {schedule.id}: error: {exc}")
            return
        self.log(f"schedule {schedule.id}: {run.summary()}")

    # ---- watching files --------------------------------------------------------------------
    def _watch_roots(self) -> dict[str, list[Path]]:
        """For each on-change schedule, the existing folders to watch (a file's folder, since
        editors replace files by renaming)."""
        roots: dict[str, list[Path]] = {}
        for schedule in self.schedules:
            if schedule.on_change is None:
                continue
            spec = self._spec(schedule)
            if spec is None:
                continue
            found = []
            for rel in watched_paths(spec, schedule.on_change):
                p = (spec.root / rel).resolve()
                p = p if p.is_dir() else p.parent
                while not p.exists():
                    p = p.parent
                found.append(p)
            roots[schedule.id] = found
        return roots

    def _restart_watcher(self) -> None:
        self._watch_stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        roots = self._watch_roots()
        if not roots:
            return
        self._watch_stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, args=(roots, self._watch_stop),
                                         name="mlpipe-watch", daemon=True)
        self._watcher.start()

    def _watch(self, roots: dict[str, list[Path]], stop: threading.Event) -> None:
        import watchfiles  # a Rust extension; only the scheduler needs it

        paths = sorted({str(p) for ps in roots.values() for p in ps})
        for changes in watchfiles.watch(*paths, stop_event=stop, debounce=200, step=50,
                                        rust_timeout=500, yield_on_timeout=False):
            changed = [Path(p) for _, p in changes]
            with self._lock:
                for sid, ps in roots.items():
                    if any(c.is_relative_to(p) for c in changed for p in ps):
                        self.dirty.add(sid)


def run_scheduler(folder: str | os.PathLike, stop: threading.Event, **kwargs: Any) -> None:
    Scheduler(folder, stop, **kwargs).run()
