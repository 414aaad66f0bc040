"""Local kernels through papermill, started ahead of time and warmed with the prelude.

Kernel start-up is papermill's largest fixed cost (about 0.5 s). Each `_KernelSlot` thread
owns one kernel at a time: it starts it, runs the warm-up part (parameters + prelude) at
once, then waits for a step. There is one slot more than --jobs, so while steps run a warm
kernel is already waiting for the next one. A kernel serves one step, then is shut down: a
step never sees another step's leftovers.
"""
from __future__ import annotations

import concurrent.futures as cf
import logging
import os
import queue
import tempfile
import uuid
import threading
import time
from typing import Any

from ..errors import StepExecutionError
from .base import Executor, StepJob, error_from_papermill, step_notebook, warmup_notebook

log = logging.getLogger(__name__)
ENGINE = "mlpipe"


def register_engine() -> None:
    """Register the papermill engine that reuses a started, connected kernel."""
    from papermill.engines import papermill_engines

    if ENGINE not in papermill_engines._engines:
        from .engine import MlpipeEngine

        papermill_engines.register(ENGINE, MlpipeEngine)


def _ipc_dir() -> str:
    path = os.path.join(tempfile.gettempdir(), f"mlpipe-ipc-{os.getuid()}")
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


class _Kernel:
    def __init__(self, kernel_name: str, cwd: str, env: dict[str, str]):
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import ensure_event_loop

        self.loop = ensure_event_loop()  # this thread's loop: nbclient's run_sync uses it too
        self._stopping = threading.Lock()  # close(now=True) and the slot thread may race here
        last: Exception | None = None
        for _attempt in range(3):  # jupyter_client's port race can kill a kernel at start
            # IPC sockets: no TCP port race at start (jupyter_client#154), nothing on the network
            self.km = AsyncKernelManager(kernel_name=kernel_name, transport="ipc",
                                         ip=os.path.join(_ipc_dir(), uuid.uuid4().hex[:12]))
            try:
                self.loop.run_until_complete(self.km.start_kernel(cwd=cwd, env=env))
                self.kc = self.km.client()
                self.kc.start_channels()
                self.loop.run_until_complete(self.kc.wait_for_ready(timeout=60))
                return
            except Exception as exc:  # noqa: BLE001 - retried, then re-raised
                last = exc
                self.shutdown()
        raise RuntimeError(f"kernel '{kernel_name}' failed to start: {last}")

    def exit_code(self) -> int | None:
        proc = getattr(self.km.provisioner, "process", None) if self.km.provisioner else None
        return proc.poll() if proc is not None else None

    def kill(self) -> None:
        """Kill the kernel process from any thread (zmq sockets stay with their owner)."""
        proc = getattr(self.km.provisioner, "process", None) if self.km.provisioner else None
        if proc is not None and proc.poll() is None:
            proc.kill()

    def shutdown(self) -> None:
        with self._stopping:  # two threads destroying one zmq context abort the process
            self._shutdown()

    def _shutdown(self) -> None:
        try:
            kc, self.kc = getattr(self, "kc", None), None
            if kc is not None:
                kc.stop_channels()
            if self.km.has_kernel:
                self.loop.run_until_complete(self.km.shutdown_kernel(now=True))
        except Exception:  # noqa: BLE001 - best effort; the process may be gone already
            log.debug("kernel shutdown failed", exc_info=True)


class LocalExecutor(Executor):
    spare = 2

    def __init__(self, pipeline, params, jobs, env: dict[str, str] | None = None):
        super().__init__(pipeline, params, jobs)
        register_engine()
        self.env = {**os.environ, **(env or {}), "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
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
        self._live: set[_Kernel] = set()

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
                    kernel = _Kernel(self.pipeline.kernel_name, str(self.pipeline.root), self.env)
                    with self._cond:
                        self._live.add(kernel)
                    warm = self._run_papermill(kernel, warmup_notebook(self.pipeline), None,
                                               parameters=self.params)
            except Exception as exc:  # noqa: BLE001 - reported on the step that gets it
                error = exc
            item = self._jobs.get()
            with self._cond:
                self._idle -= 1
            if item is None:  # closing
                if kernel:
                    kernel.shutdown()
                return
            job, fut = item
            if fut.set_running_or_notify_cancel():
                with self._running:
                    try:
                        fut.set_result(self._finish(kernel, warm, error, job))
                    except BaseException as exc:  # noqa: BLE001 - handed to the runner
                        fut.set_exception(exc)
            if kernel:
                kernel.shutdown()
                with self._cond:
                    self._live.discard(kernel)

    def _finish(self, kernel, warm, error, job: StepJob):
        t0 = time.perf_counter()
        job.run_dir.mkdir(parents=True, exist_ok=True)
        if error is not None:
            raise _warmup_error(job, error)
        nb = self._execute_on(kernel, warm, job)
        outcome = self.read_result(job, nb)
        outcome.exec_seconds = time.perf_counter() - t0
        return outcome

    def execute(self, job: StepJob) -> Any:  # used when a caller bypasses the slots
        kernel = _Kernel(self.pipeline.kernel_name, str(self.pipeline.root), self.env)
        try:
            warm = self._run_papermill(kernel, warmup_notebook(self.pipeline), None,
                                       parameters=self.params)
            return self._execute_on(kernel, warm, job)
        finally:
            kernel.shutdown()

    def _execute_on(self, kernel: _Kernel, warm: Any, job: StepJob) -> Any:
        from nbclient.exceptions import DeadKernelError
        from papermill.exceptions import PapermillExecutionError

        nb = step_notebook(job, self.pipeline.kernel_name)
        out = job.notebook_path
        try:
            executed = self._run_papermill(kernel, nb, out)
        except PapermillExecutionError as exc:
            _save_combined(warm, out)
            raise error_from_papermill(job.step.name, exc, str(out)) from None
        except DeadKernelError:
            code = kernel.exit_code()
            _save_combined(warm, out)
            raise StepExecutionError(
                job.step.name, "DeadKernelError",
                f"kernel process exited with code {code}" if code is not None
                else "kernel process stopped answering", notebook=str(out),
                kernel_died=True) from None
        _save_combined(warm, out, executed)
        return executed

    def _run_papermill(self, kernel: _Kernel, nb: Any, out, parameters=None) -> Any:
        return run_papermill(nb, out, self.pipeline.kernel_name, kernel.km, kernel.kc, parameters)

    def close(self, now: bool = False) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        for _ in self._slots:
            self._jobs.put(None)
        if now:
            for k in list(self._live):
                k.kill()
        for t in self._slots:
            t.join(timeout=None if not now else 5)


def run_papermill(nb: Any, out, kernel_name: str, km, kc, parameters=None) -> Any:
    """papermill on a started, connected kernel (MlpipeEngine); out=None keeps it in memory."""
    import nbformat
    import papermill

    if out is None:  # warm-up: only its executed cells are kept, in memory
        fd, src = tempfile.mkstemp(suffix=".ipynb")
        os.close(fd)
    else:
        src = out.with_suffix(".input.ipynb")
    nbformat.write(nb, src)
    try:
        return papermill.execute_notebook(
            str(src), str(out) if out else None, parameters=parameters or None,
            engine_name=ENGINE, kernel_name=kernel_name, km=km, kc=kc, progress_bar=False,
            request_save_on_cell_execute=False, log_output=False)
    finally:
        os.unlink(src)


def _warmup_error(job: StepJob, error: Exception) -> StepExecutionError:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(error, PapermillExecutionError):
        err = error_from_papermill(job.step.name, error, "")
        return StepExecutionError(
            job.step.name, err.ename,
            f"{err.evalue} (in the parameters or prelude cells, which run before every step)",
            err.traceback)
    return StepExecutionError(job.step.name, type(error).__name__, str(error))


def _save_combined(warm: Any, out, executed: Any = None) -> None:
    """Keep one executed notebook per step: warm-up cells, then the step's own cells."""
    import nbformat

    if executed is None:
        try:
            executed = nbformat.read(out, as_version=4)
        except (OSError, ValueError):
            return
    if warm is not None:
        executed.cells = list(warm.cells) + list(executed.cells)
    nbformat.write(executed, out)
