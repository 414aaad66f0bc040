"""Kernels forked from a template process: the client side (template handle, provisioner, start).

`KernelTemplate` starts and talks to one `forkserver` process (per run and kernel
environment). `ForkedProvisioner` is a jupyter_client kernel provisioner that asks the template
for a kernel instead of spawning one, so a plain `KernelManager` (or `AsyncKernelManager`)
drives it: shutdown, kill, interrupt and `is_alive` work as for any kernel. `start_kernel` gives
back a manager and a ready `BlockingKernelClient`, forked when it can, else started the normal
way (with one warning line saying why). `kernel_start_mode` decides "fork" or "spawn".
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import KernelManager
from jupyter_client.provisioning import LocalProvisioner

from ..targets.config import KERNEL_START_MODES
from .stamps import changed

log = logging.getLogger(__name__)
TEMPLATE_MODULE = "jupyter_mlpipe.executors.forkserver"


class TemplateError(RuntimeError):
    """The template process is gone, refused, or did not answer."""


def kernel_start_mode(configured: str | None = None, platform: str = sys.platform) -> str:
    """"fork" on Linux unless configured "spawn"; always "spawn" where fork is unsafe or absent."""
    if configured is not None and configured not in KERNEL_START_MODES:
        raise ValueError(f"kernel_start must be one of {KERNEL_START_MODES}, not {configured!r}")
    if not platform.startswith("linux"):
        return "spawn"  # macOS: fork after system frameworks load is unsafe; Windows: no fork
    return configured or "fork"


def template_python(spec: KernelSpec) -> str | None:
    """The Python of an ipykernel kernelspec (`python -m ipykernel_launcher ...`), else None."""
    argv = list(spec.argv or [])
    if spec.language.lower() != "python" or len(argv) < 3 or argv[1] != "-m":
        return None
    if argv[2] not in ("ipykernel_launcher", "ipykernel"):
        return None
    return sys.executable if argv[0] in ("python", "python3", "{python}") else argv[0]


@dataclass(frozen=True, slots=True)
class TemplateImports:
    imported: tuple[str, ...]
    skipped: tuple[str, ...]  # not an import, or one that would initialise CUDA
    failed: tuple[str, ...]  # "statement: Error: message"; the step raises it itself


class KernelTemplate:
    """A running forkserver process and the JSON-lines pipe to it (thread-safe)."""

    def __init__(self, proc: subprocess.Popen, imports: TemplateImports):
        self.proc = proc
        self.imports = imports
        self._lock = threading.Lock()
        self._fallback_said = False
        self._imports_pending = False  # launched: the answer to the imports is not read yet
        self._forked: list[int] = []  # process groups to kill on close, whatever killed the template
        self.files: dict[str, list] = {}  # stamps of what its imports loaded (stamps.py)
        self.lent = False  # the run daemon's, lent to this run: close() leaves it running
        self.spare: dict | None = None  # a kernel forked ahead for the next run (fork_spare)
        self._spare_files: list[str] = []  # its connection file and sockets, gone at reset

    @classmethod
    def start(cls, imports: list[str], python: str = sys.executable,
              env: dict[str, str] | None = None, cwd: str | None = None,
              timeout: float = 120.0) -> KernelTemplate:
        """Start a template with `python`, import `imports` in it; raises TemplateError."""
        template = cls.launch(imports, python, env, cwd)
        template.wait_ready(timeout)
        return template

    @classmethod
    def launch(cls, imports: list[str], python: str = sys.executable,
               env: dict[str, str] | None = None, cwd: str | None = None,
               warm: bool = False) -> KernelTemplate:
        """Start a template and send it `imports` without waiting (`wait_ready` reads the answer);
        warm: also fill the caches each kernel would fill (for templates kept between runs).

        Linux signals the template when the *thread* that started it exits (PR_SET_PDEATHSIG):
        launch it from a thread that outlives it, such as the one that will close it."""
        try:
            proc = subprocess.Popen(
                [python, "-m", TEMPLATE_MODULE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, env=env, cwd=cwd, text=True, bufsize=1,
                start_new_session=True)  # a Ctrl-C in the terminal is the executor's to handle
        except OSError as exc:
            raise TemplateError(f"cannot start a kernel template with {python}: {exc}") from None
        template = cls(proc, TemplateImports((), (), ()))
        try:
            template._send({"op": "imports", "statements": list(imports), "warm": warm})
        except TemplateError:
            template.close()
            raise
        template._imports_pending = True
        return template

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Wait until the template has run its imports (at once if it has); TemplateError."""
        with self._lock:
            if not self._imports_pending:
                return
            try:
                answer = self._receive(timeout)
            except TemplateError:
                self._imports_pending = False
                raise
            self._imports_pending = False
        self.imports = TemplateImports(
            tuple(answer["imported"]), tuple(answer["skipped"]), tuple(answer["failed"]))
        self.files = answer.get("files") or {}

    @property
    def ready(self) -> bool:
        """Its imports are done and their answer read (a lendable template must be)."""
        return not self._imports_pending and self.alive

    def stale(self) -> str | None:
        """A file its imports loaded that changed since (edited, upgraded, removed), or a
        folder on its import path that gained or lost a module; None if none did."""
        return changed(self.files)

    def reset(self, timeout: float = 5.0) -> None:
        """Kill every kernel it forked, skipping answers a stopped run left unread in the pipe
        (its run may have ended mid-request); TemplateError if it does not answer."""
        nonce = uuid.uuid4().hex
        deadline = time.monotonic() + timeout
        with self._lock:
            self._send({"op": "reset", "nonce": nonce})
            while self._receive_any(max(0.01, deadline - time.monotonic())).get("nonce") != nonce:
                pass
        self._forget_spares()

    def _forget_spares(self) -> None:
        self.spare = None
        for path in self._spare_files:
            with contextlib.suppress(OSError):
                os.unlink(path)
        self._spare_files.clear()

    @property
    def alive(self) -> bool:
        if self.lent:  # the daemon's child, not ours: waitpid cannot tell, /proc can
            return _exists(self.proc.pid)
        return self.proc.poll() is None

    def request(self, message: dict, timeout: float = 30.0) -> dict:
        self.wait_ready()
        with self._lock:
            self._send(message)
            return self._receive(timeout)

    def _send(self, message: dict) -> None:
        if not self.alive:
            raise TemplateError(f"kernel template exited with code {self.proc.returncode}")
        try:
            self.proc.stdin.write(json.dumps(message) + "\n")
            self.proc.stdin.flush()
        except OSError as exc:
            raise TemplateError(f"kernel template pipe broke: {exc}") from None

    def _receive(self, timeout: float) -> dict:
        answer = self._receive_any(timeout)
        if not answer.get("ok"):
            raise TemplateError(answer.get("error", "kernel template refused"))
        return answer

    def _receive_any(self, timeout: float) -> dict:
        try:
            ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
            line = self.proc.stdout.readline() if ready else ""
        except (OSError, ValueError) as exc:
            raise TemplateError(f"kernel template pipe broke: {exc}") from None
        if not line:
            if self.alive:  # a late answer would be read as the next one's: give up on it
                self.proc.kill()
                self.proc.wait()
            raise TemplateError(f"kernel template did not answer (exit code {self.proc.poll()})")
        return json.loads(line)

    def fork(self, connection_file: str, env: dict[str, str], cwd: str | None) -> int:
        pid = int(self.request({"op": "fork", "connection_file": connection_file,
                                "env": dict(env), "cwd": cwd})["pid"])
        self._forked.append(pid)
        return pid

    def fork_spare(self, env: dict[str, str], cwd: str) -> None:
        """Fork an idle kernel for the run this template is lent to next (the daemon's):
        adopting it saves that run a kernel start, about 0.2 s on its critical path."""
        from jupyter_client.connect import write_connection_file

        cf, info = write_connection_file(
            os.path.join(os.path.dirname(ipc_prefix()), f"spare-{uuid.uuid4().hex[:12]}.json"),
            transport="ipc", ip=ipc_prefix(), key=uuid.uuid4().hex.encode())
        self._spare_files += [cf] + [f"{info['ip']}-{info[k]}" for k in info if k.endswith("_port")]
        self.spare = {"pid": self.fork(cf, env, cwd), "connection_file": cf, "env": dict(env),
                      "cwd": cwd}

    def take_spare(self, env: dict[str, str], cwd: str) -> dict | None:
        """The spare kernel if it was forked with exactly this environment and folder (the
        caller adopts it, so it is handed out once); else None."""
        with self._lock:
            spare = self.spare
            if spare is None or spare["env"] != env or spare["cwd"] != cwd:
                return None
            self.spare = None
        self._forked.append(spare["pid"])
        return spare

    def poll(self, pid: int) -> int | None:
        return self.request({"op": "poll", "pid": pid})["exit_code"]

    def _kill_forked(self) -> None:
        for pid in self._forked:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass

    def say_fallback_once(self, reason: str) -> None:
        with self._lock:
            said, self._fallback_said = self._fallback_said, True
        if not said:
            log.warning("forked kernel start failed (%s); starting kernels the normal way", reason)

    def close(self) -> None:
        """Stop the template; it kills the kernels it still has before leaving. A lent one
        stays up for the daemon: only this run's kernels are killed."""
        if self.lent:
            self._kill_forked()
            return
        if self.proc.poll() is None:
            if self._lock.acquire(timeout=1.0):  # else a request waits on it: no polite exit
                try:
                    self.proc.stdin.write(json.dumps({"op": "exit"}) + "\n")
                    self.proc.stdin.flush()
                except OSError:
                    pass
                finally:
                    self._lock.release()
            else:
                self.proc.terminate()  # its SIGTERM handler kills its kernels, then exits
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._kill_forked()  # the template may have died by SIGKILL: do its cleanup
        self._forget_spares()
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                pipe.close()
            except OSError:
                pass


class ForkedProcess:
    """What `subprocess.Popen` offers jupyter_client, for a kernel the template forked."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int, template: KernelTemplate):
        self.pid = pid
        self.template = template
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                self.returncode = self.template.poll(self.pid)
            except TemplateError:  # template gone: its kernels got SIGKILL (PR_SET_PDEATHSIG)
                self.returncode = None if _exists(self.pid) else -signal.SIGKILL
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"forked kernel {self.pid}", timeout)
            time.sleep(0.05)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        """Signal the kernel's process group (it leads one; it outlives the kernel while what
        the kernel started still runs, and Linux gives no new process a live group's id)."""
        try:
            os.killpg(self.pid, signum)
        except ProcessLookupError:
            if self.poll() is None:
                raise

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


def _exists(pid: int) -> bool:
    """Whether pid runs (a zombie does not: it only waits for someone to reap it)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


class ForkedProvisioner(LocalProvisioner):
    """A provisioner whose `launch_kernel` forks from a template instead of spawning argv.

    LocalProvisioner's pre_launch writes the connection file; its poll, wait, send_signal
    (to the process group), kill and terminate work on the `ForkedProcess` handle.
    """

    def __init__(self, template: KernelTemplate, **kwargs: Any):
        super().__init__(**kwargs)
        self.template = template

    async def launch_kernel(self, cmd: list[str], **kwargs: Any):
        km = self.parent
        cwd = kwargs.get("cwd")
        pid = self.template.fork(km.connection_file, kwargs.get("env") or {}, cwd)
        self.process = ForkedProcess(pid, self.template)
        self.pid = self.pgid = pid
        self.cwd = cwd or os.getcwd()
        return self.connection_info

    async def wait(self) -> int | None:
        """LocalProvisioner.wait polls every 0.1 s; a killed kernel is gone in milliseconds,
        and every run waits for its last kernel to stop."""
        if self.process is None:
            return 0
        await self._gone()
        code, self.process = self.process.returncode, None
        return code

    async def kill(self, restart: bool = False) -> None:
        """Kill, then return once it is gone: KernelManager's shutdown checks is_alive and, if
        the kernel still lives, sleeps 0.1 s before looking again."""
        await super().kill(restart)
        if self.process is not None:
            await self._gone(timeout=1.0)

    async def _gone(self, timeout: float | None = None) -> None:
        delay, waited = 0.002, 0.0
        while self.process.poll() is None and (timeout is None or waited < timeout):
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, 0.1)

    def adopt(self, pid: int) -> None:
        """Take over a kernel the template already forked (a spare) instead of launching one."""
        self.process = ForkedProcess(pid, self.template)
        self.pid = self.pgid = pid

    async def get_provisioner_info(self) -> dict:
        return {**await super().get_provisioner_info(), "forked": True}


def forked_manager(kernel_name: str, template: KernelTemplate,
                   manager_class: type = KernelManager) -> Any:
    """A kernel manager (sync or async class) whose next start forks from `template`."""
    km = manager_class(kernel_name=kernel_name, transport="ipc", ip=ipc_prefix())
    km.kernel_id = str(uuid.uuid4())
    km.provisioner = ForkedProvisioner(template, kernel_id=km.kernel_id,
                                       kernel_spec=km.kernel_spec, parent=km)
    return km


@dataclass(frozen=True, slots=True)
class StartedKernel:
    """A started kernel and a connected, ready client, as the local executor uses them."""

    km: KernelManager
    kc: Any  # jupyter_client.blocking.BlockingKernelClient
    forked: bool

    def is_alive(self) -> bool:
        return self.km.is_alive()

    def exit_code(self) -> int | None:
        proc = getattr(self.km.provisioner, "process", None) if self.km.provisioner else None
        return proc.poll() if proc is not None else None

    def kill(self) -> None:
        """Kill the kernel's whole process group, from any thread."""
        proc = getattr(self.km.provisioner, "process", None) if self.km.provisioner else None
        if proc is None:
            return
        try:  # forked or spawned by jupyter_client, the kernel leads its own process group
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            if proc.poll() is None:
                proc.kill()

    def shutdown(self) -> None:
        _stop(self.km, self.kc)


def start_kernel(kernel_name: str, cwd: str, env: dict[str, str],
                 template: KernelTemplate | None = None, timeout: float = 60.0,
                 fork_timeout: float = 20.0) -> StartedKernel:
    """A ready kernel: forked from `template` if it can be, else started the normal way."""
    if template is not None and template.alive:
        km = kc = None
        try:
            km = forked_manager(kernel_name, template)
            km.start_kernel(cwd=cwd, env=env)
            kc = km.client()
            kc.start_channels()
            kc.wait_for_ready(timeout=fork_timeout)
            return StartedKernel(km, kc, forked=True)
        except Exception as exc:  # noqa: BLE001 - any failure means: start it the normal way
            if km is not None:
                _stop(km, kc)
            template.say_fallback_once(f"{type(exc).__name__}: {exc}")
    elif template is not None:
        template.say_fallback_once(f"template exited with code {template.proc.poll()}")
    return spawn_kernel(kernel_name, cwd, env, timeout)


def spawn_kernel(kernel_name: str, cwd: str, env: dict[str, str],
                 timeout: float = 60.0) -> StartedKernel:
    """A kernel started by jupyter_client the normal way, retried against its start races."""
    last: Exception | None = None
    for _attempt in range(3):
        km = KernelManager(kernel_name=kernel_name, transport="ipc", ip=ipc_prefix())
        kc = None
        try:
            km.start_kernel(cwd=cwd, env=env)
            kc = km.client()
            kc.start_channels()
            kc.wait_for_ready(timeout=timeout)
            return StartedKernel(km, kc, forked=False)
        except Exception as exc:  # noqa: BLE001 - retried, then re-raised
            last = exc
            _stop(km, kc)
    raise RuntimeError(f"kernel '{kernel_name}' failed to start: {last}")


def _stop(km: Any, kc: Any) -> None:
    try:
        if kc is not None:
            kc.stop_channels()
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    except Exception:  # noqa: BLE001 - best effort; the process may be gone already
        log.debug("kernel shutdown failed", exc_info=True)


def ipc_prefix() -> str:
    """A fresh IPC socket prefix in a private folder (no TCP port race, nothing on the network)."""
    folder = os.path.join(tempfile.gettempdir(), f"mlpipe-ipc-{os.getuid()}")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    return os.path.join(folder, uuid.uuid4().hex[:12])
