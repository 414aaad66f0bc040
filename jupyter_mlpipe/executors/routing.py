"""One executor per compute target in use, behind the Executor interface; routes jobs by target.

It also owns the retry policy (`retries = N` in a target): a step is submitted again only when
its kernel or worker was lost, never when the step's own code raised.
"""
from __future__ import annotations

import concurrent.futures as cf
import sys
import functools
import threading
from typing import Any, Callable

from ..errors import StepExecutionError
from ..models import PipelineSpec
from ..kernels.template_pool import TemplateLoan
from ..targets import Target, Targets, load_targets
from .base import Executor, StepJob
from .registry import executor_for

# ename values executors use for infrastructure failures (worth one more try)
LOST = {"DeadKernelError", "KernelLost", "WorkerLost", "GatewayLost"}


def retryable(exc: BaseException) -> bool:
    return isinstance(exc, StepExecutionError) and (exc.kernel_died or exc.ename in LOST)


class RoutingExecutor(Executor):
    """Holds one executor per target used; builds each on the first job for it."""

    def __init__(self, pipeline: PipelineSpec, params: dict[str, Any], jobs: int,
                 targets: Targets | None = None,
                 build: Callable[[Target, PipelineSpec, dict, int], Executor] | None = None,
                 templates: TemplateLoan | None = None):
        super().__init__()
        self.pipeline, self.params, self.jobs = pipeline, params, max(1, jobs)
        self.targets = targets or load_targets(pipeline.root)
        self._build = build or functools.partial(executor_for, templates=templates)
        self._lock = threading.Lock()
        self._executors: dict[str, Executor] = {}
        self._submitted: dict[str, int] = {}
        self._steps = {}  # target -> number of steps of the pipeline on it
        for s in pipeline.steps:
            self._steps[s.target] = self._steps.get(s.target, 0) + 1

    def executor(self, name: str) -> Executor:
        with self._lock:
            if name not in self._executors:
                self._executors[name] = self._build(self.targets.get(name), self.pipeline,
                                                    self.params, self.jobs)
            return self._executors[name]

    def expect(self, n: int) -> None:
        """Pass the hint on, capped by how many steps each target can still get."""
        for name, count in self._steps.items():
            left = min(n, count - self._submitted.get(name, 0))
            if name not in self.targets.targets:
                continue  # a step outside this run (--only) names it; it gets no job
            if left > 0 or name in self._executors:
                self.executor(name).expect(max(0, left))

    def submit(self, job: StepJob) -> cf.Future:
        name = job.step.target
        outer: cf.Future = cf.Future()
        outer.set_running_or_notify_cancel()
        self._submitted[name] = self._submitted.get(name, 0) + 1
        self._attach(outer, job, self.executor(name), self.targets.get(name).retries)
        return outer

    def _attach(self, outer: cf.Future, job: StepJob, ex: Executor, retries: int) -> None:
        def done(fut: cf.Future) -> None:
            exc = fut.exception() if not fut.cancelled() else cf.CancelledError()
            if exc is None:
                outer.set_result(fut.result())
            elif retries > 0 and retryable(exc):
                print(f"jupyter_mlpipe: step '{job.step.name}' lost its "
                      f"{'worker' if exc.ename == 'WorkerLost' else 'kernel'} ({exc.evalue}); "
                      f"retrying ({retries} retr{'y' if retries == 1 else 'ies'} left)",
                      file=sys.stderr, flush=True)
                try:
                    self._attach(outer, job, ex, retries - 1)
                except BaseException as again:  # noqa: BLE001 - e.g. executor closed
                    outer.set_exception(again)
            else:
                outer.set_exception(exc)

        ex.submit(job).add_done_callback(done)

    def close(self, now: bool = False) -> None:
        for ex in list(self._executors.values()):
            ex.close(now=now)
