"""Talking to the resident run daemon (daemon.py): find it, hand it a command, wait for its end.

Standard library only, imported before anything else by `mlpipe` (launcher.py): when a daemon
for this Python and this jupyter_mlpipe is up, `mlpipe run` costs a connect instead of Python's
imports, papermill's and a kernel template's. The daemon runs the command in a process it forks,
on this terminal (the client passes its stdin, stdout and stderr), in this folder, with this
environment; Ctrl-C and `kill` reach that process, and its exit code is the client's.

One daemon per fingerprint: the Python, its import path, the files of jupyter_mlpipe and the
mtimes of the import path's folders (an upgrade or `pip install` changes them), so a daemon
never runs code older than what `mlpipe` would import. MLPIPE_DAEMON=off: never use one.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

from ..private import private_dir
from .switch import daemon_enabled as enabled  # MLPIPE_DAEMON=off: none used or started
from .switch import daemon_folder

PACKAGE = Path(__file__).resolve().parent.parent  # jupyter_mlpipe
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def daemon_dir() -> Path:
    """A folder of this user's only (sockets, locks, logs)."""
    return private_dir(daemon_folder())


# Read once at interpreter start (warnings filters, hash seed, locale): not per run.
STARTUP_ENV = ("LANG", "LC_ALL", "LC_CTYPE")


def fingerprint() -> str:
    """What a daemon's code and interpreter depend on: it serves only clients with the same."""
    parts = [sys.executable, *sys.path[1:]]
    parts += sorted(f"{k}={v}" for k, v in os.environ.items()
                    if k.startswith("PYTHON") or k in STARTUP_ENV)
    for folder in sys.path[1:]:
        with contextlib.suppress(OSError):
            parts.append(f"{folder}:{os.stat(folder or '.').st_mtime_ns}")
    for dirpath, _dirs, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                st = os.stat(os.path.join(dirpath, name))
                parts.append(f"{dirpath}/{name}:{st.st_mtime_ns}:{st.st_size}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def socket_path(fp: str | None = None) -> Path:
    return daemon_dir() / f"{fp or fingerprint()}.sock"


def send(sock: socket.socket, message: dict, fds: list[int] | None = None) -> None:
    """A length-prefixed JSON message; fds ride on the length."""
    data = json.dumps(message).encode()
    socket.send_fds(sock, [struct.pack("!I", len(data))], fds or [])
    sock.sendall(data)


def receive(conn: socket.socket) -> tuple[dict, list[int]]:
    """What `send` sent: the message and the fds that rode on it."""
    head, fds, _flags, _addr = socket.recv_fds(conn, 4, 3)
    if len(head) != 4:
        raise ValueError("short header")
    size = struct.unpack("!I", head)[0]
    data = bytearray()
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ValueError("short message")
        data += chunk
    return json.loads(data), list(fds)


def peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


def connect(path: Path | None = None, timeout: float | None = None) -> socket.socket | None:
    """A connection to the daemon at path (default: this fingerprint's), or None if none is up."""
    path = path or socket_path()
    if not path.exists():
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
    except OSError:  # a socket file left by a daemon that died
        sock.close()
        return None
    return sock


def ask(op: str, path: Path | None = None, timeout: float = 5.0) -> dict | None:
    """One control request (status, stop); the daemon's answer, or None if none is up."""
    sock = connect(path, timeout)
    if sock is None:
        return None
    with sock:
        try:
            send(sock, {"op": op})
            line = sock.makefile("r").readline()
        except OSError:
            return None
    return json.loads(line) if line else None


def _terminal_fds() -> list[int]:
    """fds 0-2 to hand over; /dev/null for one that is closed (cron, a detached shell)."""
    fds = []
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
            fds.append(fd)
        except OSError:
            fds.append(os.open(os.devnull, os.O_RDWR))
    return fds


def run(argv: list[str]) -> int | None:
    """Run `mlpipe ARGV` in the daemon; its exit code, or None when no daemon took it."""
    if not enabled():
        return None
    try:
        sock = connect()
    except OSError:
        return None
    if sock is None:
        return None
    umask = os.umask(0)
    os.umask(umask)
    line = ""
    with sock, _forwarding(sock) as caught:  # from the first byte: Ctrl-C reaches the run
        reader = sock.makefile("r")
        try:
            send(sock, {"op": "run", "argv": argv, "env": dict(os.environ), "cwd": os.getcwd(),
                        "path0": sys.path[0] if sys.path else "", "umask": umask,
                        "encoding": sys.stdout.encoding, "errors": sys.stdout.errors},
                 _terminal_fds())
            started = json.loads(reader.readline() or "{}")
        except (OSError, ValueError):
            started = {}
        if "pid" in started:
            line = reader.readline()
    if "pid" not in started:  # refused (stopping, not forkable): run it here instead
        why = started.get("refused", "")
        if why and "stopping" not in why:
            print(f"mlpipe: the run daemon cannot take this run ({why}); it runs here, "
                  "without the daemon.", file=sys.stderr)
        if caught:  # ... unless the user already asked to stop
            os.kill(os.getpid(), caught[0])
        return None
    if not line:
        print("mlpipe: error: the run daemon went away during the run; `mlpipe daemon status` "
              "says whether it is up, MLPIPE_DAEMON=off runs without it.", file=sys.stderr)
        return 1
    code = int(json.loads(line)["exit"])
    if code < 0:  # killed by a signal: die the same way, as a shell expects
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        return 128 - code
    return code


@contextlib.contextmanager
def _forwarding(sock: socket.socket):
    """Ctrl-C, SIGTERM and SIGHUP go to the daemon's run while this lasts; yields the list of
    signals caught."""
    caught: list[int] = []

    def forward(signum, _frame):
        caught.append(signum)
        with contextlib.suppress(OSError):
            sock.sendall(json.dumps({"signal": signum}).encode() + b"\n")

    previous = {s: signal.signal(s, forward) for s in FORWARDED}
    try:
        yield caught
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def stop_outdated(current: Path) -> list[int]:
    """Stop daemons of this Python whose fingerprint is no longer this one's (jupyter_mlpipe
    upgraded or edited, packages installed): no client can reach them any more."""
    stopped = []
    for other in daemon_dir().glob("*.sock"):
        if other == current:
            continue
        status = ask("status", other, timeout=2.0)
        if status is not None and status.get("executable") == sys.executable:
            if ask("stop", other, timeout=2.0) is not None:
                stopped.append(status["pid"])
    return stopped


def start(idle: float, watch_pid: int | None = None, timeout: float = 60.0,
          wait: bool = True) -> dict | None:
    """Start a daemon for this fingerprint unless one is up; its status once it answers
    (wait=False: None at once, while it imports)."""
    path = socket_path()
    status = ask("status", path)
    if status is not None:
        return status
    stop_outdated(path)
    cmd = [sys.executable, "-m", "jupyter_mlpipe.daemon.server", "--socket", str(path),
           "--idle", str(idle)] + (["--watch-pid", str(watch_pid)] if watch_pid else [])
    env = {**os.environ, "MLPIPE_DAEMON_SYS_PATH": json.dumps(sys.path[1:])}
    subprocess.Popen(cmd, env=env, cwd=daemon_dir(), start_new_session=True,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)
    if not wait:
        return None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = ask("status", path)
        if status is not None:
            return status
        time.sleep(0.1)
    raise RuntimeError(f"the run daemon did not answer within {timeout:.0f} s; its log: "
                       f"{path.with_suffix('.log')}")
