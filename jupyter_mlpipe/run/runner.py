"""Run a pipeline: decide reuse step by step, execute the rest concurrently, record it all.

A step is decided when its upstream steps are done, so its key uses the digests of the
outputs they actually produced (early cutoff). Failures skip the steps below them; other
branches go on unless fail_fast. Nothing stored before is ever removed.
"""
from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import filelock

from .. import timings
from ..errors import MlpipeError, StepExecutionError
from ..executors.base import Executor, StepJob, StepOutcome
from ..executors.registry import check_targets
from ..executors.routing import RoutingExecutor
from ..models import FINAL_STATES, PipelineSpec, RunState, StepRun, StepSpec, StepState
from ..pipeline.names import check_names
from ..pipeline.parameters import check_overrides
from . import bytecode
from .defaults import load_run_defaults, unenforced_timeouts
from .plan import Decision, Planner, undeclared_read_warnings
from ..store.files import Store
from ..store.history import History, new_run_id
from ..store.results import Computed
from .result import RunResult
from ..kernels.template_pool import TemplateLoan
from ..targets import override_target

Listener = Callable[["RunResult", StepRun], None]
# failures another try cannot mend: the step's own outputs or stored inputs are the problem
NOT_RETRIED = frozenset({"UnpicklableOutputError", "InputChangedError", "CacheError",
                         "DamagedArtifactError", "UntrustedArtifactError", "MissingResult"})
ExecutorFactory = Callable[[PipelineSpec, dict[str, Any], int], Executor]


@dataclass(frozen=True)
class RunOptions:
    """How to run a pipeline, built once at each door (CLI, API, server, sweeps, schedules,
    published pipelines) and handed to prepare_run. `target` runs every step on that compute
    target (`mlpipe run --target NAME`). `cancel`, when set from another thread, stops the run
    like Ctrl-C does (running kernels killed, finished steps kept) and the run ends as
    cancelled. `trigger` says in the history what started the run (a schedule, a sweep, ...);
    `templates` are kernel templates the run daemon lends to this run."""

    params: dict[str, Any] | None = None
    jobs: int | None = None  # steps at once; default: the CPUs this process may use
    only: list[str] | None = None  # these steps (and what they need)
    force: bool = False  # execute the selected steps even when a stored result matches
    fail_fast: bool = False
    executor_factory: ExecutorFactory | None = None
    kind: str = "batch"  # as recorded in the history
    run_id: str | None = None
    cancel: threading.Event | None = None
    target: str | None = None
    trigger: str | None = None
    templates: TemplateLoan | None = None


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def prepare_run(spec: PipelineSpec, options: RunOptions | None = None) -> PreparedRun:
    """Everything a run needs before its first step: parameters and names checked, the store
    and history open, targets checked (unknown or unreachable ones fail here), the run id and
    the steps' past durations known. Then `.execute(listener)`."""
    options = options or RunOptions()
    params = dict(options.params or {})
    check_overrides(spec.parameters, params)
    check_names(spec)
    if options.target:
        spec = override_target(spec, options.target)
    store = Store.for_notebook(spec.path)
    history = History(store.home)
    try:
        return PreparedRun(RunLoop(spec, options, params, store, history))
    except BaseException:
        history.close()
        raise


def run_pipeline(spec: PipelineSpec, options: RunOptions | None = None, *,
                 listener: Listener | None = None, **fields: Any) -> RunResult:
    """prepare_run, then execute: for scripts and tests, `fields` set RunOptions' fields."""
    options = dataclasses.replace(options or RunOptions(), **fields)
    return prepare_run(spec, options).execute(listener)


class PreparedRun:
    """A run whose id, store, history and targets are settled, not yet started."""

    def __init__(self, loop: RunLoop):
        self._loop = loop

    @property
    def run_id(self) -> str:
        return self._loop.run.run_id

    @property
    def steps(self) -> dict[str, StepRun]:
        """The selected steps, all pending, in pipeline order."""
        return self._loop.run.steps

    @property
    def jobs(self) -> int:
        return self._loop.jobs

    def past_durations(self) -> dict[str, float]:
        """How long each step took when it last executed (for an ETA)."""
        return self._loop.history.last_durations(str(self._loop.spec.path))

    def execute(self, listener: Listener | None = None) -> RunResult:
        """Run to the end (or cancel) and record it; `listener` hears each step's changes."""
        return self._loop.execute(listener)

    def close(self) -> None:
        """Give up a run that was prepared but is not to be executed."""
        self._loop.history.close()


class _Cancelled(Exception):
    """Raised inside the run loop when its cancel event is set."""


class RunLoop:
    """One run's scheduler and state machine: start the steps whose upstream is done (reused
    or submitted), collect finished ones, and stop them all on failure, cancel or Ctrl-C."""

    def __init__(self, spec: PipelineSpec, options: RunOptions, params: dict[str, Any],
                 store: Store, history: History):
        self.spec, self.options, self.store, self.history = spec, options, store, history
        self.planner = Planner(spec, store, history, params)
        self.results = self.planner.results
        self.graph = graph = self.planner.graph
        only = options.only
        selected = graph.closure(only) if only else set(graph.names)
        self.forced = (set(graph.check(only)) if only else selected) if options.force else set()
        self.order = [n for n in graph.order if n in selected]
        # steps above that write a file this one reads (no --writes): wait for them
        self.handoffs = self.planner.handoffs(self.order)
        self.planner.remote_check = self._check_remote
        self._remote_checked = False
        # unknown targets, unreachable gateways/schedulers: fail here, before any step starts
        self.planner.ctx.env.update(check_targets(
            spec, {spec.step(n).target for n in self.order}, store.home))
        self.jobs = options.jobs or default_jobs()
        self.defaults = load_run_defaults(spec.root)  # [run] timeout, retries
        for line in unenforced_timeouts(spec, self.order, self.defaults):
            print(line, file=sys.stderr)
        self.submitted: dict[str, StepJob] = {}  # kept to submit again (--retries)
        self.overrides = params  # the kernels get only these; the parameters cell does the rest
        self.run = RunResult(options.run_id or new_run_id(), spec.path, store.home,
                             {**spec.parameters, **params})
        self.run.steps = {n: StepRun(n) for n in self.order}
        self.executor: Executor | None = None
        self.outputs: dict[str, dict[str, str]] = {}  # step -> variable -> digest, once done
        self.running: dict[cf.Future, str] = {}
        self.decisions: dict[str, Decision] = {}
        self.stop = False  # fail_fast: start nothing more
        # single flight: the key locks this run holds while computing, and the steps waiting
        # for another run (or process) computing the same key, then decided again
        self.flights: dict[str, filelock.BaseFileLock] = {}
        self.waiting: dict[cf.Future, str] = {}
        self._waiters: cf.ThreadPoolExecutor | None = None
        self._done = threading.Event()
        self.listener: Listener | None = None

    def _check_remote(self, step: StepSpec, remote: dict) -> list[str]:
        """Ask the step's gateway whether what it read there last time still holds."""
        from ..executors.gateway import check_remote  # heavy: only for such a step
        from ..targets import load_targets

        try:
            target = load_targets(self.spec.root).get(step.target)
            if target.kind != "gateway":
                return [f"it read files on target '{remote.get('target')}', which it no "
                        f"longer runs on"]
            self._remote_checked = True
            return check_remote(target, target.kernel_name(self.spec), remote)
        except MlpipeError as exc:
            return [f"what it read on target '{step.target}' cannot be checked ({exc})"]

    def execute(self, listener: Listener | None = None) -> RunResult:
        """Run to the end (or cancel), record it in the history; Ctrl-C is re-raised."""
        self.listener = listener
        run = self.run
        if not self.order:  # no %%step cells: nothing ran, nothing goes in the history
            run.state, run.finished = RunState.SUCCEEDED, time.time()
            self.history.close()
            return run
        with self.store.lock(), self.planner.results.lease(run.run_id):
            self.history.start_run(run.run_id, str(self.spec.path), self.options.kind,
                                   run.params, self.options.only, self.jobs)
            if self.options.trigger:
                self.history.set_trigger(run.run_id, self.options.trigger)
            try:
                self._loop()
                run.state = RunState.SUCCEEDED if all(
                    s.state in (StepState.SUCCEEDED, StepState.REUSED) for s in run.steps.values()
                ) else RunState.FAILED
            except BaseException as exc:  # Ctrl-C, cancel, or a bug: record it, stop kernels
                run.state = (RunState.CANCELLED if isinstance(exc, _Cancelled) else
                             RunState.INTERRUPTED if isinstance(exc, KeyboardInterrupt) else
                             RunState.FAILED)
                self.stop_all(run.state, str(exc))
                if not isinstance(exc, _Cancelled):
                    raise
            finally:
                self._land_all()
                run.finished = time.time()
                self.history.finish_run(run.run_id, run.state)
                if self.executor is not None:
                    self.executor.close(now=run.state is not RunState.SUCCEEDED)
                    timings.mark("kernels and template stopped")
                if self._remote_checked:
                    from ..executors.gateway_client import release_gateway
                    release_gateway()
                self.history.close()
        return run

    def _loop(self) -> None:
        while True:
            self._check_cancel()
            self.start_ready()
            if not self.running and not self.waiting:
                break
            self.collect_finished()
            if self.stop:
                self.waiting.clear()  # start nothing more: stop waiting for other runs
            if self.stop and self.running:
                self.stop_running("stopped: another step failed and --fail-fast is set")
            if self.executor is not None:
                self.executor.expect(self._undecided())
        for s in self.run.steps.values():
            if s.state is StepState.PENDING:
                s.state, s.error = StepState.SKIPPED, "not run: the run stopped (--fail-fast)"
                self._record(s)

    def start_ready(self) -> None:
        """Decide every pending step whose upstream is done: reuse it, or submit it."""
        progressed = True
        while progressed and not self.stop:
            progressed = False
            for name in self.order:
                s = self.run.steps[name]
                if s.state is StepState.PENDING and name not in self.waiting.values() and all(
                        u in self.outputs for u in self.graph.upstream[name]) and all(
                        self.run.steps[a].state in FINAL_STATES for a in self.handoffs[name]):
                    progressed = True
                    self._start(s)

    def _start(self, s: StepRun) -> None:
        s.started = time.time()
        try:
            d = self.planner.decide(s.name, self.outputs, force=s.name in self.forced)
        except MlpipeError as exc:
            s.state, s.error, s.finished = StepState.FAILED, str(exc), time.time()
            self._record(s)
            self._fail_below(s.name)
            self.stop = self.stop or self.options.fail_fast
            return
        s.key, s.reasons = d.key, tuple(d.reasons)
        if not d.hit:
            flown = self._take_flight(s, d)
            if flown is None:
                return  # another run computes it: decided again when that ends
            d = flown
        if d.entry is not None:
            self.outputs[s.name] = self.results.reuse(s, d.components, d.entry)
            self._record(s)
            return
        if self.executor is None:
            self.executor = self._make_executor()
            timings.mark("executor made")
        self.executor.expect(self._undecided() - 1)  # s is still pending: it is submitted below
        step = self.spec.step(s.name)
        root = self.spec.root.resolve()
        bytecode.drop_stale(root / rel for rel in {*d.components.get("modules", {}),
                                                   *d.imported_before})
        job = StepJob(self.run.run_id, step, d.key,
                      self.planner.input_digests(s.name, self.outputs), self.store.home,
                      self.store.runs / self.run.run_id, self.planner.imported(s.name),
                      self.defaults.timeout_of(step))
        timings.mark(f"step '{s.name}' decided and submitted")
        s.state, s.notebook = StepState.RUNNING, str(job.notebook_path)
        s.max_attempts = 1 + self.defaults.retries_of(step)
        self.running[self.executor.submit(job)] = s.name
        self.submitted[s.name] = job
        self.decisions[s.name] = d
        self._record(s)

    def _make_executor(self) -> Executor:
        """One executor per compute target the steps use (mlpipe.toml), or the options' own."""
        if self.options.executor_factory is not None:
            return self.options.executor_factory(self.spec, self.overrides, self.jobs)
        return RoutingExecutor(self.spec, self.overrides, self.jobs,
                               templates=self.options.templates)

    def _take_flight(self, s: StepRun, d: Decision) -> Decision | None:
        """Hold the key's lock before computing it. If another run holds it, wait for that
        run in a thread (None); if it was computed meanwhile, the step is decided again."""
        lock = self.store.flight(d.key)
        try:
            lock.acquire(blocking=False)
        except filelock.Timeout:
            if self._waiters is None:
                self._waiters = cf.ThreadPoolExecutor(thread_name_prefix="mlpipe-flight-wait")
            self.waiting[self._waiters.submit(self._wait_for, d.key)] = s.name
            return None
        self.flights[s.name] = lock
        if s.name not in self.forced and self.results.get(d.key) is not None:
            d = self.planner.decide(s.name, self.outputs, force=False)
            if d.hit:
                self._land(s.name)
        return d

    def _wait_for(self, key: str) -> None:
        lock = self.store.flight(key)
        while not self._done.is_set():
            try:
                lock.acquire(timeout=0.5)
            except filelock.Timeout:
                continue
            lock.release()
            return

    def _land(self, name: str) -> None:
        lock = self.flights.pop(name, None)
        if lock is not None:
            lock.release()

    def _land_all(self) -> None:
        self._done.set()
        for name in list(self.flights):
            self._land(name)
        if self._waiters is not None:
            self._waiters.shutdown(wait=False, cancel_futures=True)

    def collect_finished(self) -> None:
        """Wait for at least one running step (or a cancel), then store or fail each done."""
        cancellable = self.options.cancel is not None
        done, _ = cf.wait(list(self.running) + list(self.waiting),
                          return_when=cf.FIRST_COMPLETED, timeout=0.2 if cancellable else None)
        self._check_cancel()
        for fut in done:
            if fut in self.waiting:
                del self.waiting[fut]  # the other run ended: decide the step again
                continue
            s = self.run.steps[self.running.pop(fut)]
            s.finished = time.time()
            try:
                outcome: StepOutcome = fut.result()
            except StepExecutionError as exc:
                if self._retry(s, exc):
                    continue
                s.state, s.error, s.traceback = StepState.FAILED, str(exc), exc.traceback
            except MlpipeError as exc:
                s.state, s.error = StepState.FAILED, str(exc)
            else:
                s.error = None  # an earlier try's (--retries); they stay in attempt_errors
                computed = Computed(outcome.outputs, outcome.writes, outcome.body_seconds,
                                    outcome.exec_seconds, outcome.manifest, outcome.displays)
                self.results.record(s, self.decisions[s.name].components, computed,
                                    self.run.run_id)
                self.outputs[s.name] = s.outputs
                self.planner.ctx.forget_digests()  # it may have rewritten files others read
                for line in undeclared_read_warnings(self.spec.step(s.name), outcome.manifest):
                    print(line, file=sys.stderr)
            self._land(s.name)
            self._record(s)
            timings.mark(f"step '{s.name}' {s.state}: stored and recorded")
            if s.state is StepState.FAILED:
                self._fail_below(s.name)
                self.stop = self.stop or self.options.fail_fast

    def _retry(self, s: StepRun, exc: StepExecutionError) -> bool:
        """Submit a failed step again (a fresh kernel) if it has tries left (--retries) and
        its failure is one another try could mend; True if it was."""
        if s.attempts >= s.max_attempts or exc.ename in NOT_RETRIED or self.stop \
                or self.executor is None:
            return False
        first = str(exc).splitlines()[0]
        s.attempt_errors.append(first)
        s.attempts += 1
        s.finished, s.error = None, f"attempt {s.attempts - 1} failed: {first}"
        self.running[self.executor.submit(self.submitted[s.name])] = s.name
        self._record(s)
        return True

    def stop_running(self, reason: str) -> None:
        """Kill the running steps' kernels; they fail with `reason`."""
        if self.executor is not None:
            self.executor.close(now=True)
        for name in list(self.running.values()):
            self._land(name)
            s = self.run.steps[name]
            s.state, s.finished, s.error = StepState.FAILED, time.time(), reason
            self._record(s)
        self.running.clear()

    def stop_all(self, why: RunState, error: str) -> None:
        """Every unfinished step stops and kernels stop. On a cancel or Ctrl-C the steps are
        cancelled (running ones stopped, pending ones never started); on a bug they fail."""
        stopped = why in (RunState.CANCELLED, RunState.INTERRUPTED)
        for s in self.run.steps.values():
            if s.state in FINAL_STATES:
                continue
            if not stopped:
                s.state, s.error = StepState.FAILED, error
            elif s.state is StepState.RUNNING:
                s.state, s.error = StepState.CANCELLED, f"stopped: the run was {why}"
            else:
                s.state, s.error = StepState.CANCELLED, f"not started: the run was {why}"
            s.finished = time.time()
            self._record(s)
        if self.executor is not None:
            self.executor.close(now=True)
            self.executor = None

    def _check_cancel(self) -> None:
        if self.options.cancel is not None and self.options.cancel.is_set():
            raise _Cancelled

    def _record(self, s: StepRun) -> None:
        self.history.record_step(self.run.run_id, s)
        if self.listener is not None:
            self.listener(self.run, s)

    def _fail_below(self, name: str) -> None:
        for d in sorted(self.graph.descendants(name), key=self.graph.order.index):
            s = self.run.steps.get(d)
            if s is not None and s.state is StepState.PENDING:
                s.state, s.error = StepState.SKIPPED, f"upstream '{name}' failed"
                self._record(s)

    def _undecided(self) -> int:
        return sum(1 for s in self.run.steps.values() if s.state is StepState.PENDING)
