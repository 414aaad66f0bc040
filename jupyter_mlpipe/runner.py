"""Run a pipeline: decide reuse step by step, execute the rest concurrently, record it all.

A step is decided when its upstream steps are done, so its key uses the digests of the
outputs they actually produced (early cutoff). Failures skip the steps below them; other
branches go on unless fail_fast. Nothing stored before is ever removed.
"""
from __future__ import annotations

import concurrent.futures as cf
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .errors import MlpipeError, StepExecutionError
from .models import FINAL_STATES, Status, StepRun
from .notebook import PipelineSpec
from .plan import Planner
from .store.files import Store
from .store.history import History, new_run_id
from .executors.registry import check_targets
from .targets import override_target

Listener = Callable[["RunResult", StepRun], None]


@dataclass
class RunResult:
    """One run: its id, state, and what happened to each step."""

    run_id: str
    notebook: Path
    store_home: Path
    params: dict[str, Any]
    steps: dict[str, StepRun] = field(default_factory=dict)
    state: str = "running"
    started: float = field(default_factory=time.time)
    finished: float | None = None

    @property
    def ok(self) -> bool:
        return self.state == "succeeded"

    @property
    def failed(self) -> list[StepRun]:
        return [s for s in self.steps.values() if s.state is Status.FAILED]

    def outputs(self, step: str) -> dict[str, Any]:
        """The step's output values, loaded from the store."""
        from .errors import UnknownStepError

        if step not in self.steps:
            raise UnknownStepError(f"step '{step}' was not part of run {self.run_id}; "
                                   "its steps are: " + ", ".join(self.steps))
        s = self.steps[step]
        if s.state not in (Status.SUCCEEDED, Status.REUSED):
            raise MlpipeError(f"step '{step}' has no outputs in run {self.run_id}: it {s.state}")
        store = Store(self.store_home)
        return {var: store.get_value(d) for var, d in s.outputs.items()}

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for s in self.steps.values():
            counts[str(s.state)] = counts.get(str(s.state), 0) + 1
        took = (self.finished or time.time()) - self.started
        parts = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        return f"run {self.run_id} {self.state} in {took:.1f}s ({parts})"


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def make_executor(spec: PipelineSpec, params: dict[str, Any], jobs: int):
    """One executor per compute target the steps use (mlpipe.toml); `local` is LocalExecutor."""
    from .executors.routing import RoutingExecutor

    return RoutingExecutor(spec, params, jobs)


def run_pipeline(spec: PipelineSpec, *, params: dict[str, Any] | None = None,
                 jobs: int | None = None, only: list[str] | None = None, force: bool = False,
                 fail_fast: bool = False, listener: Listener | None = None,
                 executor_factory: Callable | None = None, kind: str = "batch",
                 run_id: str | None = None, cancel: threading.Event | None = None,
                 target: str | None = None) -> RunResult:
    """Run the selected steps. `target` runs every step on that compute target (`mlpipe run
    --target NAME`). `cancel`, when set from another thread, stops the run like Ctrl-C does
    (running kernels killed, finished steps kept) and returns it as cancelled."""
    params = dict(params or {})
    unknown = sorted(set(params) - set(spec.parameters))
    if unknown:
        from .errors import StepDefinitionError

        raise StepDefinitionError(
            f"unknown parameter(s) {', '.join(unknown)}: the parameters cell defines "
            + (", ".join(spec.parameters) or "nothing") + ". Add them to the cell tagged "
            "'parameters', or fix the name.")
    jobs = jobs or default_jobs()
    if target:
        spec = override_target(spec, target)
    store = Store.for_notebook(spec.path)
    history = History(store.home)
    planner = Planner(spec, store, history, params)
    graph = planner.graph
    selected = graph.closure(only) if only else set(graph.names)
    forced = (set(graph.check(only)) if only else selected) if force else set()
    order = [n for n in graph.order if n in selected]
    # unknown targets, unreachable gateways/schedulers: fail here, before any step starts
    try:
        planner.ctx.env.update(check_targets(spec, {spec.step(n).target for n in order},
                                             store.home))
    except BaseException:
        history.close()
        raise
    run = RunResult(run_id or new_run_id(), spec.path, store.home, {**spec.parameters, **params})
    run.steps = {n: StepRun(n) for n in order}
    run_dir = store.runs / run.run_id
    notify = listener or (lambda r, s: None)

    with store.lock():
        history.start_run(run.run_id, str(spec.path), kind, run.params, only, jobs)
        executor = None
        outputs: dict[str, dict[str, str]] = {}
        running: dict[cf.Future, str] = {}
        decisions: dict[str, Any] = {}
        stop = False

        def record(s: StepRun) -> None:
            history.record_step(run.run_id, s)
            notify(run, s)

        def fail_below(name: str) -> None:
            for d in sorted(graph.descendants(name)):
                s = run.steps.get(d)
                if s is not None and s.state is Status.PENDING:
                    s.state, s.error = Status.SKIPPED, f"upstream '{name}' failed"
                    record(s)

        def undecided() -> int:
            return sum(1 for s in run.steps.values() if s.state is Status.PENDING)

        try:
            while True:
                if cancel is not None and cancel.is_set():
                    raise _Cancelled
                progressed = True
                while progressed and not stop:
                    progressed = False
                    for name in order:
                        s = run.steps[name]
                        if s.state is not Status.PENDING:
                            continue
                        if not all(u in outputs for u in graph.upstream[name]):
                            continue
                        progressed = True
                        s.started = time.time()
                        try:
                            d = planner.decide(name, outputs, force=name in forced)
                        except MlpipeError as exc:
                            s.state, s.error, s.finished = Status.FAILED, str(exc), time.time()
                            record(s)
                            fail_below(name)
                            stop = stop or fail_fast
                            continue
                        s.key, s.reasons = d.key, tuple(d.reasons)
                        if d.hit:
                            _reuse(store, spec, s, d)
                            outputs[name] = s.outputs
                            record(s)
                            continue
                        if executor is None:
                            factory = executor_factory or make_executor
                            executor = factory(spec, run.params, jobs)
                        executor.expect(undecided())
                        from .executors.base import StepJob

                        job = StepJob(run.run_id, spec.step(name), d.key,
                                      planner.input_digests(name, outputs), store.home, run_dir)
                        s.state = Status.RUNNING
                        s.notebook = str(job.notebook_path)
                        running[executor.submit(job)] = name
                        decisions[name] = d
                        record(s)
                if not running:
                    break
                done, _ = cf.wait(list(running), return_when=cf.FIRST_COMPLETED,
                                  timeout=0.2 if cancel is not None else None)
                if cancel is not None and cancel.is_set():
                    raise _Cancelled
                for fut in done:
                    name = running.pop(fut)
                    s = run.steps[name]
                    s.finished = time.time()
                    try:
                        outcome = fut.result()
                    except StepExecutionError as exc:
                        s.state, s.error, s.traceback = Status.FAILED, str(exc), exc.traceback
                    except MlpipeError as exc:
                        s.state, s.error = Status.FAILED, str(exc)
                    else:
                        d = decisions[name]
                        _store_result(store, spec, s, d, outcome, run.run_id)
                        outputs[name] = s.outputs
                    record(s)
                    if s.state is Status.FAILED:
                        fail_below(name)
                        if fail_fast:
                            stop = True
                if stop and running:
                    executor.close(now=True)
                    for name in list(running.values()):
                        s = run.steps[name]
                        s.state, s.finished = Status.FAILED, time.time()
                        s.error = "stopped: another step failed and --fail-fast is set"
                        record(s)
                    running.clear()
                if executor is not None:
                    executor.expect(undecided())
            for s in run.steps.values():
                if s.state is Status.PENDING:
                    s.state, s.error = Status.SKIPPED, "not run: the run stopped (--fail-fast)"
                    record(s)
            run.state = "succeeded" if all(
                s.state in (Status.SUCCEEDED, Status.REUSED) for s in run.steps.values()
            ) else "failed"
        except BaseException as exc:  # Ctrl-C, cancel, or a bug: record it, stop kernels
            run.state = ("cancelled" if isinstance(exc, _Cancelled) else
                         "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed")
            for s in run.steps.values():
                if s.state not in FINAL_STATES:
                    s.state, s.finished = Status.FAILED, time.time()
                    s.error = run.state if run.state != "failed" else str(exc)
                    record(s)
            if executor is not None:
                executor.close(now=True)
                executor = None
            if not isinstance(exc, _Cancelled):
                raise
        finally:
            run.finished = time.time()
            history.finish_run(run.run_id, run.state)
            if executor is not None:
                executor.close(now=run.state != "succeeded")
            history.close()
    return run


class _Cancelled(Exception):
    """Raised inside the run loop when its cancel event is set."""


def _reuse(store: Store, spec: PipelineSpec, s: StepRun, d) -> None:
    entry = d.entry
    for path, manifest in entry.get("writes", {}).items():
        store.restore_path(path, manifest, spec.root)
    s.state, s.reused, s.finished = Status.REUSED, True, time.time()
    s.outputs = dict(entry["outputs"])
    s.saved_seconds = entry.get("duration")
    s.reasons = (f"computed {_when(entry.get('computed_at'))}",)
    _set_latest(store, spec, s.name, d, entry.get("computed_at"), entry.get("duration"))


def _set_latest(store: Store, spec: PipelineSpec, step: str, d, at, duration) -> None:
    latest = store.get_latest(spec.path.name, step)
    if latest is None or latest.get("key") != d.key:
        store.set_latest(spec.path.name, step, {"key": d.key, "components": d.components,
                                                "computed_at": at, "duration": duration})


def _store_result(store: Store, spec: PipelineSpec, s: StepRun, d, outcome, run_id: str) -> None:
    now = time.time()
    duration = s.duration
    entry = {"key": d.key, "step": s.name, "notebook": spec.path.name, "run_id": run_id,
             "outputs": outcome.outputs, "writes": outcome.writes, "computed_at": now,
             "duration": duration, "body_seconds": outcome.body_seconds,
             "exec_seconds": outcome.exec_seconds,
             "components": d.components}
    store.put_entry(entry)
    _set_latest(store, spec, s.name, d, now, duration)
    s.state, s.outputs = Status.SUCCEEDED, dict(outcome.outputs)
    s.body_seconds, s.exec_seconds = outcome.body_seconds, outcome.exec_seconds


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "earlier"
