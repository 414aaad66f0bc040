"""Background runs for the server: one thread per run, one run per notebook, progress kept in
memory for polling and pushed to server-sent-event subscribers on the event loop."""
from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import MlpipeError
from ..models import PipelineSpec, RunState, StepRun
from ..pipeline.parameters import as_json_sent
from ..api import Pipeline
from ..run.result import RunResult
from ..run.runner import RunOptions, prepare_run

KEEP_FINISHED = 50  # finished runs kept in memory for polling; older ones come from History


def relative_text(text: str | None, root: str) -> str | None:
    """Messages name paths relative to the served root, not the server's absolute paths."""
    return text.replace(root.rstrip("/") + "/", "") if text and root else text


def _call_in(loop: asyncio.AbstractEventLoop, fn, *args) -> None:
    """Schedule fn on the server's loop from a run thread; once the server has stopped and
    closed its loop there is nobody left to tell (the history keeps the run's record)."""
    if loop.is_closed():
        return
    try:
        loop.call_soon_threadsafe(fn, *args)
    except RuntimeError:  # closed between the check and the call
        pass


class RunConflictError(MlpipeError):
    """A run of this notebook is already going on (HTTP 409)."""


def step_json(s: StepRun, root: str = "") -> dict[str, Any]:
    return {"name": s.name, "state": str(s.state), "started": s.started, "finished": s.finished,
            "duration": s.duration, "reused": s.reused, "error": relative_text(s.error, root),
            "reasons": list(s.reasons), "has_notebook": bool(s.notebook),
            "attempts": s.attempts}


@dataclass
class LiveRun:
    """A run the server started; `events` is the ordered log that pollers and streams read."""

    notebook: Path
    path: str  # as the client named it
    run_id: str | None = None
    state: str = "starting"
    started: float = field(default_factory=time.time)
    finished: float | None = None
    error: str | None = None
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def done(self) -> bool:
        return self.state not in ("starting", "running")

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "path": self.path, "state": self.state,
                "started": self.started, "finished": self.finished, "error": self.error,
                "duration": (self.finished or time.time()) - self.started,
                "steps": list(self.steps.values()), "live": not self.done}


class RunManager:
    """Starts runs off the event loop and wakes SSE handlers when a step changes state."""

    def __init__(self, root: str = "", loop: asyncio.AbstractEventLoop | None = None,
                 jobs: int | None = None):
        self.root = root
        self._loop = loop
        self._lock = threading.Lock()
        self.active: dict[Path, LiveRun] = {}  # notebook -> its running job
        self.by_id: dict[str, LiveRun] = {}
        self.jobs = jobs
        self._changed: asyncio.Event | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def changed(self) -> asyncio.Event:
        """An event set (and replaced) each time any run changes; await it to wait for news."""
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed

    def _wake(self) -> None:
        ev, self._changed = self.changed(), asyncio.Event()
        ev.set()

    def _emit(self, job: LiveRun, event: dict[str, Any]) -> None:
        """Called from the run thread."""
        with self._lock:
            job.events.append(event)
        _call_in(self.loop, self._wake)

    async def start(self, notebook: Path, path: str, *, only: list[str] | None = None,
                    params: dict[str, Any] | None = None, force: bool = False,
                    jobs: int | None = None, spec: PipelineSpec | None = None,
                    trigger: str | None = None) -> LiveRun:
        """Start a run (of `spec` if given, else of the notebook as it is now); returns once
        its run id is known. Definition errors raise here. `trigger` goes to the history."""
        loop = self.loop
        with self._lock:
            current = self.active.get(notebook)
            if current is not None:
                raise RunConflictError(
                    f"{path} is already running (run {current.run_id}); wait for it to "
                    "finish, or follow it at /mlpipe/api/runs/" + str(current.run_id))
            job = LiveRun(notebook, path)
            self.active[notebook] = job
        id_known: asyncio.Future = loop.create_future()

        def resolve(value=None, exc: BaseException | None = None) -> None:
            if not id_known.done():
                id_known.set_exception(exc) if exc else id_known.set_result(value)

        def listener(run: RunResult, s: StepRun) -> None:
            with self._lock:
                job.state = str(RunState.RUNNING)
                job.steps[s.name] = step_json(s, self.root)
            self._emit(job, {"type": "step", "run_id": run.run_id, "step": job.steps[s.name]})

        def work() -> None:
            try:
                pipe = Pipeline(spec) if spec is not None else Pipeline.from_notebook(notebook)
                if only:
                    pipe.graph.check(only)
                prepared = prepare_run(pipe.spec, RunOptions(
                    jobs=jobs or self.jobs, only=only, force=force,
                    params=as_json_sent(pipe.spec.parameters, params or {}),
                    cancel=job.cancel, trigger=trigger))
                with self._lock:
                    job.run_id, job.state = prepared.run_id, str(RunState.RUNNING)
                    self.by_id[prepared.run_id] = job
                    job.steps = {n: step_json(r, self.root) for n, r in prepared.steps.items()}
                _call_in(loop, resolve, prepared.run_id)
                result = prepared.execute(listener)
                with self._lock:
                    job.run_id = result.run_id
                    self.by_id[result.run_id] = job
                    job.steps = {n: step_json(r, self.root) for n, r in result.steps.items()}
                    job.state = str(result.state)
                _call_in(loop, resolve, result.run_id)
            except BaseException as exc:  # noqa: BLE001 - reported to the client, not lost
                with self._lock:
                    job.state, job.error = str(RunState.FAILED), relative_text(str(exc), self.root)
                _call_in(loop, resolve, None, exc)
            finally:
                with self._lock:
                    job.finished = time.time()
                    self.active.pop(notebook, None)
                    for old in list(self.by_id)[:-KEEP_FINISHED]:  # the history has the rest
                        if self.by_id[old].done:
                            del self.by_id[old]
                self._emit(job, {"type": "run", "run_id": job.run_id, "state": job.state,
                                 "error": job.error})

        threading.Thread(target=work, name=f"mlpipe-run-{notebook.name}", daemon=True).start()
        await id_known
        return job

    def get(self, run_id: str) -> LiveRun | None:
        return self.by_id.get(run_id)

    def active_for(self, notebook: Path) -> LiveRun | None:
        return self.active.get(notebook)
