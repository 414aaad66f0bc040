"""Local kernels through papermill, started ahead of time and warmed with the prelude.

Kernel start-up is papermill's largest fixed cost (about 0.5 s spawned; forked from the run's
template, kernels/forked.py, about 0.2 s of which most is the client's IOPub drain). Each slot thread owns one
kernel at a time: it starts it, runs the warm-up part (parameters + prelude) at once, then
waits for a step. There is one slot more than --jobs, so while steps run a warm kernel is
already waiting for the next one. A kernel serves one step, then is shut down: a step never
sees another step's leftovers.
"""
from __future__ import annotations

import concurrent.futures as cf
import queue
import threading
from typing import Any

from ..models import PipelineSpec
from ..kernels.template_pool import TemplateLoan
from ..targets import Target
from .base import StepJob
from .kernels import KernelExecutor


class LocalExecutor(KernelExecutor):
    spare = 2

    def __init__(self, pipeline: PipelineSpec, params: dict[str, Any], jobs: int,
                 target: Target | None = None, *, templates: TemplateLoan | None = None):
        super().__init__(pipeline, params, jobs, target, templates=templates)
        self._jobs: queue.Queue = queue.Queue()
        self._cond = threading.Condition()
        self._future = 0  # steps that may still be submitted (besides those queued)
        self._idle = 0  # kernels started or starting, not yet given a step
        self._closing = False
        self._running = threading.Semaphore(self.jobs)
        # At most --jobs kernels warm at once: the first ones are ready sooner than if all
        # the spares imported pandas together, and a fan-out still finds --jobs kernels ready.
        self._warming = threading.Semaphore(self.jobs)
        self._slots: list[threading.Thread] = []

    # ---- scheduling hints ---------------------------------------------------------------
    def expect(self, n: int) -> None:
        """Up to n more steps may come besides those submitted: keep kernels warm for them."""
        with self._cond:
            self._future = n
            self._grow()
            self._cond.notify_all()

    def _grow(self) -> None:
        want = min(self.jobs + self.spare, self._future + self._jobs.qsize())
        while len(self._slots) < want:
            t = threading.Thread(target=self._slot, name=f"mlpipe-kernel-{len(self._slots)}",
                                 daemon=True)
            self._slots.append(t)
            t.start()

    def submit(self, job: StepJob) -> cf.Future:
        fut: cf.Future = cf.Future()
        with self._cond:
            self._jobs.put((job, fut))
            self._grow()
            self._cond.notify_all()
        return fut

    def _want_kernel(self) -> bool:
        return not self._closing and self._idle < self._future + self._jobs.qsize()

    # ---- the slot thread ----------------------------------------------------------------
    def _slot(self) -> None:
        while True:
            with self._cond:
                while not self._want_kernel():
                    if self._closing:
                        return
                    self._cond.wait()
                self._idle += 1
            kernel, warm, error = None, None, None
            try:
                with self._warming:
                    kernel = self.start_kernel()
                    warm = self.warm_up(kernel)
            except Exception as exc:  # noqa: BLE001 - reported on the step that gets it
                error = exc
            item = self._jobs.get()
            with self._cond:
                self._idle -= 1
            if item is None:  # closing
                if kernel:
                    self.stop_kernel(kernel)
                return
            job, fut = item
            if fut.set_running_or_notify_cancel():
                with self._running:
                    try:
                        fut.set_result(self.finish(kernel, warm, error, job))
                    except BaseException as exc:  # noqa: BLE001 - handed to the runner
                        fut.set_exception(exc)
            if kernel:
                self.stop_kernel(kernel)

    def close(self, now: bool = False) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        for _ in self._slots:
            self._jobs.put(None)
        self.close_kernels(now)
        if now:  # first: a slot waiting on a busy template (importing) is freed at once
            self.close_template()
        for t in self._slots:
            t.join(timeout=None if not now else 5)
        self.close_template()
