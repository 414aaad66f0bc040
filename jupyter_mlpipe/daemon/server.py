"""The resident run daemon: `mlpipe run` without Python start-up, imports or template start-up.

Like Gradle's daemon or Bazel's server, it keeps warm what every run pays for: jupyter_mlpipe,
papermill, nbclient and jupyter_client imported, and kernel templates (kernels/forkserver.py)
with each pipeline's prelude imports done. For each `mlpipe run` a client hands it (see
daemon_client.py) it forks a process that runs the command exactly as `mlpipe` would, on the
client's terminal, folder, environment and umask: a run never shares a process with another,
so nothing of one run stays for the next. Templates are lent to one run at a time, reset after
it (every kernel killed), and dropped when a file their imports loaded changes.

It stays single-threaded (a fork needs that), exits after `--idle` seconds without a run, when
`--watch-pid` is gone (the Jupyter server that started it) or on `mlpipe daemon stop`.
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import gc
import importlib
import json
import logging
import os
import select
import selectors
import signal
import socket
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from . import client as daemon_client
from .import_trims import skip_iri_grammars
from ..kernels import template_pool
from ..kernels.forkserver import die_with_parent
from ..kernels.template import KernelTemplate, TemplateError
from ..kernels.threads import fork_refusal, quiet_pools
from ..store import liveness

log = logging.getLogger("jupyter_mlpipe.daemon.server")
# What a run imports; imported once here, so a forked run finds them loaded.
# papermill before the engine: papermill's entry-point registry imports the engine itself.
PRELOAD = ("jupyter_mlpipe.cli.main", "jupyter_mlpipe.run.runner", "jupyter_mlpipe.automation.modules",
           "jupyter_mlpipe.executors.local", "jupyter_mlpipe.executors.gpu",
           "jupyter_mlpipe.store.history", "papermill", "papermill.exceptions", "nbclient",
           "nbformat", "jupyter_mlpipe.executors.engine", "jupyter_client.manager",
           "jupyter_client.kernelspec", "jupyter_core.utils", "ipykernel.kernelspec",
           "filelock._sqlite")
MAX_TEMPLATES = 4


@dataclass
class Run:
    """A run the daemon forked: its client, the templates it was lent, what it reported."""

    pid: int
    conn: socket.socket
    lent: dict[str, KernelTemplate]
    report_fd: int
    reported: bytearray = field(default_factory=bytearray)
    report_eof: bool = False  # the run closed its end: it is exiting
    killed_at: float | None = None


class Daemon:
    def __init__(self, path: Path, idle: float, watch_pid: int | None):
        self.path, self.idle = path, idle
        # the process (a Jupyter server) it lives with; by start time too: a pid gets reused
        self.watched = liveness.process(watch_pid) if watch_pid else None
        self.sel = selectors.DefaultSelector()
        self.runs: dict[int, Run] = {}
        self.templates: dict[str, KernelTemplate] = {}  # ready or importing, not lent
        self.specs: dict[str, dict] = {}  # key -> how the last run used it (env for spares)
        self.used: dict[str, float] = {}  # key -> when last lent or started (LRU)
        self.served = 0
        self.started = time.time()
        self.last_active = time.monotonic()
        self.stopping = False
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)

    # ---- the loop -----------------------------------------------------------------------
    def serve(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # the lock (main) says no daemon owns it
        self.listener.bind(str(self.path))
        os.chmod(self.path, 0o600)
        self.listener.listen(16)
        self.sel.register(self.listener, selectors.EVENT_READ, "accept")
        log.info("serving %s (pid %d)", self.path, os.getpid())
        while not (self.stopping and not self.runs):
            for key, _ in self.sel.select(timeout=0.5):
                if key.data == "accept":
                    self.accept()
                elif isinstance(key.data, Run):
                    self.from_client(key.data)
                else:  # a run's report pipe: a template it started, or EOF as it exits
                    _drain(key.data[1])
            self.reap()
            self.poll_templates()
            if self.runs:
                self.last_active = time.monotonic()
            elif self.should_exit():
                break

    def should_exit(self) -> bool:
        if self.watched is not None and not liveness.is_alive(self.watched):
            log.info("pid %d is gone: exiting", self.watched.pid)
            return True
        return bool(self.idle) and time.monotonic() - self.last_active > self.idle

    def shutdown(self) -> None:
        templates, self.templates = list(self.templates.values()), {}
        for template in templates:
            template.close()
        with contextlib.suppress(OSError):
            self.path.unlink()
        self.listener.close()

    # ---- requests -----------------------------------------------------------------------
    def accept(self) -> None:
        conn, _ = self.listener.accept()
        conn.settimeout(5)
        try:
            if daemon_client.peer_uid(conn) != os.getuid():
                raise PermissionError("a client of another user")
            message, fds = daemon_client.receive(conn)
        except (OSError, ValueError) as exc:
            log.warning("bad request: %s", exc)
            conn.close()
            return
        op = message.get("op")
        if op == "run" and len(fds) == 3:
            self.start_run(conn, message, fds)
            return
        for fd in fds:
            os.close(fd)
        if op == "status":
            answer = self.status()
        elif op == "stop":
            self.stopping = True
            for run in self.runs.values():
                _signal(run.pid, signal.SIGTERM)
            answer = {"stopping": True, "pid": os.getpid()}
        else:
            answer = {"error": f"unknown op {op!r}"}
        with contextlib.suppress(OSError):
            conn.sendall(json.dumps(answer).encode() + b"\n")
        conn.close()

    def status(self) -> dict:
        return {"pid": os.getpid(), "executable": sys.executable, "started": self.started,
                "served": self.served,
                "runs": len(self.runs), "idle_timeout": self.idle,
                "templates": [{"imports": len(t.imports.imported), "ready": t.ready,
                               "spare_kernel": t.spare is not None}
                              for t in self.templates.values()]}

    def start_run(self, conn: socket.socket, message: dict, fds: list[int]) -> None:
        unsafe = "the daemon is stopping" if self.stopping else fork_refusal("the run daemon")
        if unsafe:  # the client then runs it itself
            _refuse(conn, fds, unsafe)
            return
        # ready ones; the run checks that a template's files are unchanged before it uses it
        # (template_pool.take), so a run that executes nothing never pays for that check
        lent = {k: t for k, t in self.templates.items() if t.ready}
        report_r, report_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(report_r)
            self.become_run(conn, message, fds, lent, report_w)  # never returns
        os.close(report_w)
        for fd in fds:
            os.close(fd)
        for key in lent:
            del self.templates[key]
            self.used[key] = time.monotonic()
        os.set_blocking(report_r, False)
        run = self.runs[pid] = Run(pid, conn, lent, report_r)
        self.served += 1
        conn.settimeout(None)
        self.sel.register(conn, selectors.EVENT_READ, run)
        self.sel.register(report_r, selectors.EVENT_READ, ("report", run))
        with contextlib.suppress(OSError):
            conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
        log.info("run %d: mlpipe %s (%d template(s) lent)", pid, " ".join(message["argv"]),
                 len(lent))

    def become_run(self, conn, message: dict, fds: list[int], lent: dict, report_w: int):
        """In the forked process: become `mlpipe ARGV` on the client's terminal; never returns."""
        code = 1
        try:
            self.sel.close()
            self.listener.close()
            conn.close()
            for run in self.runs.values():
                run.conn.close()
                os.close(run.report_fd)
            for sig in daemon_client.FORWARDED + (signal.SIGCHLD,):
                signal.signal(sig, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            die_with_parent(signal.SIGTERM)
            _become_client(message, fds)
            os.set_blocking(report_w, False)
            loan = template_pool.TemplateLoan(lent, lambda spec: _report(report_w, spec))
            from ..cli.main import main
            code = main(list(message["argv"]), templates=loan)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        except KeyboardInterrupt:
            code = 130
        except BaseException:  # noqa: BLE001 - the client's terminal is the place to say it
            traceback.print_exc()
        finally:
            with contextlib.suppress(BaseException):
                import atexit
                atexit._run_exitfuncs()
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)

    def from_client(self, run: Run) -> None:
        """A forwarded signal, or the client gone (then its run is stopped as by Ctrl-C)."""
        try:
            data = run.conn.recv(4096)
        except OSError:
            data = b""
        if not data:
            self.sel.unregister(run.conn)
            if run.killed_at is None:
                _signal(run.pid, signal.SIGTERM)
                run.killed_at = time.monotonic()
            return
        for line in data.splitlines():
            with contextlib.suppress(ValueError, KeyError):
                _signal(run.pid, int(json.loads(line)["signal"]))

    def reap(self) -> None:
        for pid, run in list(self.runs.items()):
            if run.killed_at is not None and time.monotonic() - run.killed_at > 15:
                _signal(pid, signal.SIGKILL)
            # its report pipe at EOF: it is exiting, so wait for it (briefly) to be reapable
            done, status = _waitpid(pid, 1.0 if run.report_eof else 0.0)
            if not done:
                continue
            del self.runs[pid]
            self.sel.unregister(run.report_fd)
            code = os.waitstatus_to_exitcode(status)
            with contextlib.suppress(OSError):
                run.conn.sendall(json.dumps({"exit": code}).encode() + b"\n")
            with contextlib.suppress(KeyError, ValueError):
                self.sel.unregister(run.conn)
            run.conn.close()
            _drain(run)
            os.close(run.report_fd)
            self.take_back(run.lent)
            self.prestart(run.reported)
            log.info("run %d ended with %d", pid, code)

    # ---- templates ----------------------------------------------------------------------
    def take_back(self, lent: dict[str, KernelTemplate]) -> None:
        """A run's templates come back with every kernel killed, or are closed."""
        for key, template in lent.items():
            try:
                template.reset()
            except TemplateError as exc:
                log.info("template dropped: %s", exc)
                template.close()
                continue
            if template.stale():  # an import's file changed: prestart starts a fresh one
                template.close()
                continue
            if key in self.templates:  # a run at the same time needed one too: keep one
                self.templates.pop(key).close()
            self.templates[key] = template

    def prestart(self, reported: bytearray) -> None:
        """Keep, for the next run, a template like each one a run used: start those it had to
        launch itself, and remember the environment of each (for its spare kernel)."""
        for line in bytes(reported).splitlines():
            try:
                spec = json.loads(line)
            except ValueError:
                continue
            key = template_pool.template_key(spec)
            self.specs[key] = spec
            if key in self.templates:
                continue
            try:
                self.templates[key] = KernelTemplate.launch(spec["imports"], spec["python"],
                                                            spec["env"], spec["cwd"], warm=True)
            except TemplateError as exc:
                log.info("template not started: %s", exc)
                continue
            self.used[key] = time.monotonic()
        while len(self.templates) > MAX_TEMPLATES:
            oldest = min(self.templates, key=lambda k: self.used.get(k, 0))
            self.templates.pop(oldest).close()
        self.fork_spares()

    def fork_spares(self) -> None:
        """Each ready template gets an idle kernel, in its last run's environment."""
        for key, template in self.templates.items():
            spec = self.specs.get(key)
            if template.ready and template.spare is None and spec is not None:
                try:
                    template.fork_spare(spec["env"], spec["cwd"])
                except TemplateError as exc:
                    log.info("no spare kernel: %s", exc)

    def poll_templates(self) -> None:
        """Read the answer of templates whose imports finished; drop dead ones."""
        for key, template in list(self.templates.items()):
            if template.alive and not template.ready:
                try:
                    if select.select([template.proc.stdout], [], [], 0)[0]:
                        template.wait_ready(1.0)
                        self.fork_spares()
                    continue
                except TemplateError:
                    pass
            if not template.alive:
                self.templates.pop(key).close()


def _become_client(message: dict, fds: list[int]) -> None:
    """The client's terminal as fds 0-2, its environment, folder, umask and import path."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    encoding, errors = message.get("encoding") or "utf-8", message.get("errors") or "strict"
    sys.stdin = sys.__stdin__ = open(0, closefd=False, encoding=encoding)  # noqa: SIM115
    sys.stdout = sys.__stdout__ = open(1, "w", closefd=False, encoding=encoding, errors=errors,  # noqa: SIM115
                                       buffering=1 if os.isatty(1) else -1)
    sys.stderr = sys.__stderr__ = open(2, "w", closefd=False, encoding=encoding,  # noqa: SIM115
                                       errors="backslashreplace", buffering=1)
    os.environ.clear()
    os.environ.update(message["env"])
    time.tzset()
    tempfile.tempdir = None  # recomputed from the client's TMPDIR
    os.umask(int(message.get("umask", 0o022)))
    os.chdir(message["cwd"])
    if sys.path:
        sys.path[0] = message.get("path0", sys.path[0])
    sys.argv = ["mlpipe", *message["argv"]]


def _waitpid(pid: int, patience: float) -> tuple[int, int]:
    """(pid, status) once it has exited, else (0, 0) after `patience` seconds."""
    deadline = time.monotonic() + patience
    while True:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return pid, 0
        if done or time.monotonic() >= deadline:
            return done, status
        time.sleep(0.002)


def _report(fd: int, spec: dict) -> None:
    with contextlib.suppress(OSError):  # a full pipe loses a hint, never blocks the run
        os.write(fd, json.dumps(spec).encode() + b"\n")


def _drain(run: Run) -> None:
    while True:
        try:
            chunk = os.read(run.report_fd, 65536)
        except (BlockingIOError, OSError):
            return
        if not chunk:
            run.report_eof = True
            return
        run.reported += chunk


def _refuse(conn: socket.socket, fds: list[int], why: str) -> None:
    for fd in fds:
        os.close(fd)
    with contextlib.suppress(OSError):
        conn.sendall(json.dumps({"refused": why}).encode() + b"\n")
    conn.close()


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(OSError):
        os.kill(pid, signum)


def preload() -> None:
    """Import what runs use and fill what they look up on first use, once for every run."""
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a run imports it again and says what fails
            log.warning("preloading %s failed", name, exc_info=True)
    with contextlib.suppress(Exception):
        import nbformat
        from jupyter_client.provisioning.factory import KernelProvisionerFactory

        from ..cli.main import build_parser

        nbformat.validate(nbformat.v4.new_notebook())
        KernelProvisionerFactory.instance()  # reads every distribution's entry points
        build_parser()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m jupyter_mlpipe.daemon.server")
    p.add_argument("--socket", required=True, type=Path)
    p.add_argument("--idle", type=float, default=3 * 3600, help="seconds; 0: never")
    p.add_argument("--watch-pid", type=int, default=None)
    a = p.parse_args(argv)
    if os.environ.get("MLPIPE_DAEMON_SYS_PATH"):  # the starter's import path, for the fingerprint
        sys.path[1:] = json.loads(os.environ.pop("MLPIPE_DAEMON_SYS_PATH"))
    handler = logging.FileHandler(a.socket.with_suffix(".log"))
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    lock = open(a.socket.with_suffix(".lock"), "w")  # noqa: SIM115 - held while it lives
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return 0  # another daemon of this fingerprint is up
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    skip_iri_grammars()  # as `mlpipe` does
    quiet_pools()  # preloading starts no native thread pool: the daemon forks each run
    preload()
    gc.freeze()  # a forked run's collector then leaves these objects (and their pages) alone
    daemon = Daemon(a.socket, a.idle, a.watch_pid)
    try:
        daemon.serve()
    finally:
        daemon.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
