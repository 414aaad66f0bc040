"""A kernel template process (forkserver.py), seen from the side that starts and asks it.

`KernelTemplate` starts one template per run and kernel environment (or the run daemon keeps
it between runs and lends it), sends it the prelude's imports, asks it to fork kernels and to
poll them, and knows whether a file its imports loaded has changed since (stamps.py).
"""
from __future__ import annotations

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

from ..private import private_dir
from .stamps import changed

log = logging.getLogger(__name__)
TEMPLATE_MODULE = "jupyter_mlpipe.kernels.forkserver"
PARENT_ENV = "MLPIPE_TEMPLATE_PARENT"  # the launcher's pid: a template whose launcher is gone exits


class TemplateError(RuntimeError):
    """The template process is gone, refused, or did not answer."""


class TemplateClosed(TemplateError):
    """close() was called (the run is stopping): a thread that waited on the template stops
    quietly, with no kernel started in its stead and no fallback to report."""


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
        self.closed = False  # close() was called: no kernel is started in its stead either

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
        warm: for a template kept between runs, also fill the caches each kernel would fill
        and stamp what the imports loaded (`stale`); a template of one run needs neither.

        Linux signals the template when the *thread* that started it exits (PR_SET_PDEATHSIG):
        launch it from a thread that outlives it, such as the one that will close it."""
        template = cls.spawn(python, env, cwd)
        template.send_imports(imports, warm)
        return template

    @classmethod
    def spawn(cls, python: str = sys.executable, env: dict[str, str] | None = None,
              cwd: str | None = None) -> KernelTemplate:
        """Start a template process, which imports ipykernel and waits for `send_imports`
        (a run starts it before it knows the prelude's imports). Launch it as `launch` says."""
        # the template exits at once if this process is gone before it could bind to it
        env = {**(os.environ if env is None else env), PARENT_ENV: str(os.getpid())}
        try:
            proc = subprocess.Popen(
                [python, "-m", TEMPLATE_MODULE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, env=env, cwd=cwd, text=True, bufsize=1,
                start_new_session=True)  # a Ctrl-C in the terminal is the executor's to handle
        except OSError as exc:
            raise TemplateError(f"cannot start a kernel template with {python}: {exc}") from None
        return cls(proc, TemplateImports((), (), ()))

    def send_imports(self, imports: list[str], warm: bool = False) -> None:
        """Send the imports of a spawned template (see `launch`); TemplateError, closed then."""
        try:
            self._send({"op": "imports", "statements": list(imports), "warm": warm})
        except TemplateError:
            self.close()
            raise
        self._imports_pending = True

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Wait until the template has run its imports (at once if it has); TemplateError."""
        with self._lock:
            if self.closed:
                raise TemplateClosed("the kernel template was closed: the run is stopping")
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
            return pid_exists(self.proc.pid)
        return self.proc.poll() is None

    def request(self, message: dict, timeout: float = 30.0) -> dict:
        self.wait_ready()
        with self._lock:
            self._send(message)
            return self._receive(timeout)

    def _send(self, message: dict) -> None:
        if self.closed:
            raise TemplateClosed("the kernel template was closed: the run is stopping")
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
        if not line and self.closed:  # close() stopped it under this read
            raise TemplateClosed("the kernel template was closed: the run is stopping")
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
        self.closed = True
        if self.lent:
            self._kill_forked()
            return
        if self.proc.poll() is None:
            # SIGTERM, not {"op": "exit"}: it kills its kernels and leaves at once, busy or not
            # (importing, or a request waiting on it, it would read "exit" only when done,
            # seconds later under load), without the interpreter's teardown (~0.03 s).
            self.proc.terminate()
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._kill_forked()  # the template may have died by SIGKILL: do its cleanup
        self._forget_spares()
        # Never close the pipes under a thread that reads them (it would fail with "I/O
        # operation on closed file" instead of seeing `closed`): the template is gone, so a
        # reader sees end of file at once and lets go of the lock; else the pipes are left
        # to the garbage collector.
        if not self._lock.acquire(timeout=2):
            return
        try:
            for pipe in (self.proc.stdin, self.proc.stdout):
                try:
                    pipe.close()
                except OSError:
                    pass
        finally:
            self._lock.release()


def pid_exists(pid: int) -> bool:
    """Whether pid runs (a zombie does not: it only waits for someone to reap it)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def ipc_prefix() -> str:
    """A fresh IPC socket prefix in a private folder (no TCP port race, nothing on the network)."""
    folder = private_dir(os.path.join(tempfile.gettempdir(), f"mlpipe-ipc-{os.getuid()}"))
    return os.path.join(folder, uuid.uuid4().hex[:12])
