"""Kernels on this machine, and the base of executors whose steps run on them (local, gpu).

A `LocalKernel` is one kernel process with its connected client, driven from the thread that
started it (its event loop and zmq sockets stay with that thread); it is forked from the run's
kernel template (kernels/forked.py) when there is one, else started the normal way.
`KernelExecutor` owns that template (one per executor: a run, a kernel name and env), starts
kernels with the target's environment, keeps the pool of those alive (close(now=True) kills
them), warms a kernel with the parameters and prelude, and runs a step on a warm kernel.
jupyter_client, papermill and nbclient are imported in the functions: a warm re-run, which runs
no step, loads these classes only to probe their targets (docs/performance.md: those imports cost ~1.3 s).
papermill is imported by a background thread while the first kernel comes up (heavy.py).
"""
from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from typing import Any

from .. import timings
from ..errors import StepExecutionError
from ..models import PipelineSpec
from ..targets import LOCAL, Target, local_env
from ..targets.config import kernel_start_mode
from ..targets.environment import ipykernel_python
from ..kernels import template_pool
from ..kernels.exits import describe_exit, oom_kills
from ..kernels.template_pool import TemplateLoan
from . import heavy
from .kernel_environment import kernel_env
from .base import Executor, StepJob, StepOutcome, read_result
from .notebooks import step_notebook, warmup_notebook
from .papermill import (
    error_from_papermill, run_papermill, save_combined, timeout_error, warmup_error)

log = logging.getLogger(__name__)


async def _ready(kc: Any, timeout: float) -> None:
    """jupyter_client's wait_for_ready without its last step: after the kernel_info reply it
    drains IOPub until 0.2 s pass in silence, 0.2 s on every kernel start (docs/performance.md). Messages
    left there belong to kernel_info; nbclient skips messages of other requests."""
    end = time.monotonic() + timeout
    while True:
        kc.kernel_info()
        try:
            msg = await kc.shell_channel.get_msg(timeout=1)
        except queue.Empty:
            msg = None
        if msg is not None and msg["msg_type"] == "kernel_info_reply":
            try:  # IOPub is connected once kernel_info's status messages arrive on it
                await kc.iopub_channel.get_msg(timeout=0.2)
                return
            except queue.Empty:
                pass
        if not await kc.is_alive():
            raise RuntimeError("Kernel died before replying to kernel_info")
        if time.monotonic() > end:
            raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")


class LocalKernel:
    """A started, connected kernel; forked from `template` if it can be (else it says why once
    and starts it the normal way), retried when it dies at start (jupyter_client's port race)."""

    def __init__(self, kernel_name: str, cwd: str, env: dict[str, str], template: Any = None):
        heavy.import_kernel_client()  # heavy: see the module docstring
        from jupyter_core.utils import ensure_event_loop

        self.kernel_name = kernel_name
        self.loop = ensure_event_loop()  # this thread's loop: nbclient's run_sync uses it too
        self._stopping = threading.Lock()  # close(now=True) and the slot thread may race here
        self.forked = template is not None and self._fork(template, cwd, env)
        if not self.forked and template is not None and template.closed:
            from ..kernels.template import TemplateClosed
            raise TemplateClosed("the run is stopping: no kernel is started")
        if not self.forked:
            self._spawn(cwd, env)

    def _fork(self, template: Any, cwd: str, env: dict[str, str]) -> bool:
        from jupyter_client.manager import (
            AsyncKernelManager,  # heavy: see the module docstring
        )

        from ..kernels.forked import forked_manager
        from ..kernels.template import TemplateClosed, TemplateError
        try:
            # made while the template still imports: reading the kernelspec through
            # jupyter_client costs ~0.05-0.1 s here, which the wait hides
            km = forked_manager(self.kernel_name, template, AsyncKernelManager)
            template.wait_ready()
            timings.mark("kernel template ready (its imports done)")
            if not template.alive:
                raise TemplateError(f"template exited with code {template.proc.poll()}")
            self.km = km
            spare = template.take_spare(env, cwd)
            if spare is not None:  # forked by the daemon before this run: connect to it
                self.km.load_connection_file(spare["connection_file"])
                self.km.provisioner.adopt(spare["pid"])
            self._connect(cwd, env, timeout=20, started=spare is not None)
            timings.mark("kernel forked and connected")
            return True
        except Exception as exc:  # noqa: BLE001 - any failure means: start it the normal way
            if getattr(self, "km", None) is not None:
                self.shutdown()
            if template.closed:  # the run is stopping: nothing to fall back to, nor to say
                raise TemplateClosed("the run is stopping: no kernel is started") from None
            template.say_fallback_once(f"{type(exc).__name__}: {exc}")
            return False

    def _spawn(self, cwd: str, env: dict[str, str]) -> None:
        from jupyter_client.manager import (
            AsyncKernelManager,  # heavy: see the module docstring
        )

        from ..kernels.template import ipc_prefix
        last: Exception | None = None
        for _attempt in range(3):  # jupyter_client's port race can kill a kernel at start
            # IPC sockets: no TCP port race at start (jupyter_client#154), nothing on the network
            self.km = AsyncKernelManager(kernel_name=self.kernel_name, transport="ipc",
                                         ip=ipc_prefix())
            try:
                self._connect(cwd, env, timeout=60)
                return
            except Exception as exc:  # noqa: BLE001 - retried, then re-raised
                last = exc
                self.shutdown()
        raise RuntimeError(f"kernel '{self.kernel_name}' failed to start: {last}")

    def _connect(self, cwd: str, env: dict[str, str], timeout: float,
                 started: bool = False) -> None:
        import zmq  # heavy: see the module docstring

        if not started:
            self.loop.run_until_complete(self.km.start_kernel(cwd=cwd, env=env))
        self.kc = self.km.client()
        # The client connects before the new kernel has bound its sockets; zmq then retries
        # after RECONNECT_IVL, 100 ms by default: a tenth of a second on every kernel start.
        self.kc.context.setsockopt(zmq.RECONNECT_IVL, 5)
        self.kc.context.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)  # backing off from a dead one
        self.kc.start_channels()
        self.loop.run_until_complete(_ready(self.kc, timeout))

    def papermill(self, nb: Any, out=None, parameters: dict[str, Any] | None = None) -> Any:
        """Run a notebook on this kernel; out=None keeps the executed notebook in memory."""
        return run_papermill(nb, out, self.kernel_name, self.km, self.kc, parameters)

    def exit_code(self) -> int | None:
        proc = getattr(self.km.provisioner, "process", None) if self.km.provisioner else None
        return proc.poll() if proc is not None else None

    def kill(self) -> None:
        """Kill the kernel process from any thread (zmq sockets stay with their owner)."""
        proc = getattr(self.km.provisioner, "process", None) if self.km.provisioner else None
        if proc is not None and proc.poll() is None:
            proc.kill()

    def interrupt(self) -> None:
        """SIGINT to the kernel from any thread: KeyboardInterrupt in the running cell."""
        proc = getattr(self.km.provisioner, "process", None) if self.km.provisioner else None
        if proc is not None and proc.poll() is None:
            try:
                proc.send_signal(signal.SIGINT)
            except ProcessLookupError:
                pass

    def shutdown(self) -> None:
        with self._stopping:  # two threads destroying one zmq context abort the process
            try:
                kc, self.kc = getattr(self, "kc", None), None
                if kc is not None:
                    kc.stop_channels()
                if self.km.has_kernel:
                    self.loop.run_until_complete(self.km.shutdown_kernel(now=True))
            except Exception:  # noqa: BLE001 - best effort; the process may be gone already
                log.debug("kernel shutdown failed", exc_info=True)


class Watchdog:
    """A step's time limit (--timeout): at the deadline the kernel is interrupted; if it has
    not stopped `grace` seconds later (the step ignores or catches KeyboardInterrupt, or sits
    in C code that never checks for signals), it is killed."""

    grace = 5.0

    def __init__(self, kernel: LocalKernel, timeout: float | None):
        self.kernel, self.timeout = kernel, timeout
        self.fired_at: float | None = None
        self.killed = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="mlpipe-timeout", daemon=True)

    def __enter__(self) -> Watchdog:
        if self.timeout is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()

    def _watch(self) -> None:
        if self._done.wait(self.timeout):
            return
        self.fired_at = time.monotonic()
        self.kernel.interrupt()
        if self._done.wait(self.grace):
            return
        self.killed = True
        self.kernel.kill()

    def error(self, job: StepJob, notebook: str) -> StepExecutionError:
        """The step's failure once the deadline passed, whatever the kernel said after it."""
        how = (f"interrupted, then killed: it did not stop within {self.grace:g}s of the "
               "interrupt" if self.killed else "interrupted")
        return timeout_error(job.step.name, self.timeout, notebook, how)


def template_imports(pipeline: PipelineSpec) -> list[str]:
    """What a kernel template imports: the prelude's import statements and the in-kernel helper."""
    return [p.source for p in pipeline.prelude if p.imported_modules] + [
        "import jupyter_mlpipe.interactive.in_kernel"]


def template_spec_for(pipeline: PipelineSpec, target: Target, env: dict[str, str]
                      ) -> dict | None:
    """What starting the template of this target's kernels takes, or None when they are not
    forked (spawn mode, no such kernelspec, a kernel that is not an ipykernel)."""
    if kernel_start_mode(target.kernel_start) != "fork":
        return None
    kernel_name = target.kernel_name(pipeline)
    python = ipykernel_python(kernel_name)
    if python is None:  # no such kernelspec: starting a kernel says so, as it always did
        log.info("kernel '%s' is not an ipykernel here: its kernels start the normal way",
                 kernel_name)
        return None
    return template_pool.template_spec(template_imports(pipeline), python, env,
                                       str(pipeline.root))


class KernelExecutor(Executor):
    """Steps on kernels of this machine, one fresh kernel per step; subclasses schedule them."""

    borrows_templates = True  # executor_for hands it the run's TemplateLoan

    def __init__(self, pipeline: PipelineSpec, params: dict[str, Any], jobs: int,
                 target: Target | None = None, *, templates: TemplateLoan | None = None):
        self.templates = templates or TemplateLoan()
        self.pipeline, self.params, self.jobs = pipeline, params, max(1, jobs)
        self.target = target or Target(LOCAL)
        self.kernel_name = self.target.kernel_name(pipeline)
        self.env = kernel_env(self.target)
        self._pool_lock = threading.Lock()
        self._live: set[LocalKernel] = set()
        self._closed = False
        # launched from this thread, which closes it (the template dies with the thread that
        # started it); papermill is imported meanwhile, in a thread of its own
        self.template = self.launch_template()
        heavy.start_preload()

    @staticmethod
    def probe(pipeline: PipelineSpec, target: Target, home) -> dict[str, Any]:
        return local_env(pipeline, target)

    def launch_template(self) -> Any:
        """The kernel template of this run and kernel environment, or None (spawn mode)."""
        from ..kernels.template import KernelTemplate, TemplateError

        spec = template_spec_for(self.pipeline, self.target, self.env)
        if spec is None:
            return None
        lent = self.templates.take(spec)
        if lent is not None:
            return lent
        try:
            template = KernelTemplate.launch(spec["imports"], spec["python"], self.env,
                                             spec["cwd"])
            self.templates.used(spec)
            return template
        except TemplateError as exc:
            log.warning("no kernel template (%s); starting kernels the normal way", exc)
            return None

    # ---- the pool of live kernels -------------------------------------------------------
    def start_kernel(self, env: dict[str, str] | None = None) -> LocalKernel:
        kernel = LocalKernel(self.kernel_name, str(self.pipeline.root), env or self.env,
                             self.template)
        with self._pool_lock:
            closed = self._closed
            if not closed:
                self._live.add(kernel)
        if closed:  # close(now=True) came while it started: it must not outlive the run
            kernel.shutdown()
            raise RuntimeError("the run is stopping")
        return kernel

    def stop_kernel(self, kernel: LocalKernel) -> None:
        kernel.shutdown()
        with self._pool_lock:
            self._live.discard(kernel)

    def close_kernels(self, now: bool) -> None:
        """No kernel starts after this; now=True kills those alive. The template goes too."""
        with self._pool_lock:
            self._closed = self._closed or now
        if now:
            self.kill_kernels()

    def close_template(self) -> None:
        if self.template is not None:
            self.template.close()

    def kill_kernels(self) -> None:
        with self._pool_lock:
            live = list(self._live)
        for k in live:
            k.kill()

    # ---- one step -----------------------------------------------------------------------
    def warm_up(self, kernel: LocalKernel, nb: Any = None) -> Any:
        """Run the parameters and prelude (or nb) on the kernel; return the executed cells."""
        warm = kernel.papermill(nb if nb is not None else warmup_notebook(self.pipeline), None,
                                parameters=self.params)
        timings.mark("warm-up cells run (parameters, prelude)")
        return warm

    def finish(self, kernel: LocalKernel | None, warm: Any, error: Exception | None,
               job: StepJob) -> StepOutcome:
        """Run the step on a kernel warmed for it (error: what went wrong warming it)."""
        t0 = time.perf_counter()
        job.run_dir.mkdir(parents=True, exist_ok=True)
        if error is not None or kernel is None:
            raise warmup_error(job, error or RuntimeError("no kernel"))
        timings.mark(f"step '{job.step.name}' given a warm kernel")
        nb = self.run_on(kernel, warm, job)
        timings.mark(f"step '{job.step.name}' executed, its notebook written")
        outcome = read_result(job, nb)
        outcome.exec_seconds = time.perf_counter() - t0
        return outcome

    def run_on(self, kernel: LocalKernel, warm: Any, job: StepJob) -> Any:
        """The step notebook on a warm kernel; returns it executed, written to its path."""
        from nbclient.exceptions import (
            DeadKernelError,  # heavy: see the module docstring
        )
        from papermill.exceptions import PapermillExecutionError

        out = job.notebook_path
        oom_before = oom_kills()
        with Watchdog(kernel, job.timeout) as watchdog:
            try:
                executed = kernel.papermill(
                    step_notebook(job, self.kernel_name, self.pipeline), out)
            except PapermillExecutionError as exc:
                save_combined(warm, out)
                if watchdog.fired_at is not None:
                    raise watchdog.error(job, str(out)) from None
                raise error_from_papermill(job.step.name, exc, str(out)) from None
            except DeadKernelError:
                code = kernel.exit_code()
                save_combined(warm, out)
                if watchdog.fired_at is not None:
                    raise watchdog.error(job, str(out)) from None
                raise StepExecutionError(
                    job.step.name, "DeadKernelError", describe_exit(code, oom_before, oom_kills()),
                    notebook=str(out), kernel_died=True) from None
        save_combined(warm, out, executed)
        if watchdog.fired_at is not None:  # it caught the interrupt and finished late
            raise watchdog.error(job, str(out))
        return executed
