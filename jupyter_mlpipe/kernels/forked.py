"""Kernels forked from a template process (template.py): provisioner, process handle, start.

`ForkedProvisioner` is a jupyter_client kernel provisioner that asks the template
for a kernel instead of spawning one, so a plain `KernelManager` (or `AsyncKernelManager`)
drives it: shutdown, kill, interrupt and `is_alive` work as for any kernel. `start_kernel` gives
back a manager and a ready `BlockingKernelClient`, forked when it can, else started the normal
way (with one warning line saying why). `kernel_start_mode` decides "fork" or "spawn".
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from typing import Any

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from jupyter_client.provisioning import LocalProvisioner

from ..targets.environment import kernel_dirs
from .template import KernelTemplate, TemplateError, ipc_prefix, pid_exists

log = logging.getLogger(__name__)


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
                self.returncode = None if pid_exists(self.pid) else -signal.SIGKILL
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
    km = manager_class(kernel_name=kernel_name, transport="ipc", ip=ipc_prefix(),
                       kernel_spec_manager=KernelSpecManager(kernel_dirs=kernel_dirs()))
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


