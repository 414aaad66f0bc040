"""The kernel template process: import ipykernel and the prelude's imports once, fork kernels.

Run as `python -m jupyter_mlpipe.kernels.forkserver` with the kernelspec's Python. It talks
JSON lines: requests on stdin, one answer per request on the stdout it had at start (fd 1 and
sys.stdout then point at stderr, so an import that prints cannot corrupt the protocol).

    -> {"op": "imports", "statements": ["import numpy as np", ...], "warm": false}
    <- {"ok": true, "imported": [...], "skipped": [...], "failed": [...],
        "files": {...} (warm only: stamps.py)}
    -> {"op": "fork", "connection_file": CF, "env": {...}, "cwd": "/path"}
    <- {"ok": true, "pid": 1234}            (or {"ok": false, "error": "..."})
    -> {"op": "poll", "pid": 1234}          <- {"ok": true, "exit_code": null | int}
    -> {"op": "reset", "nonce": "N"}        <- {"ok": true, "nonce": "N"}  (kills every kernel)
    -> {"op": "exit"}                       (also on end of input: kill the children, leave)

A child is its own session and process group (so killing the group kills what the kernel
started), dies with the template (PR_SET_PDEATHSIG, and ipykernel's parent poller watches the
template too), gets the env and working directory it was given before any user code, fresh
random seeds, /dev/null for stdio and none of the template's other file descriptors. The
template never starts a thread or a zmq context and never imports a CUDA library: a fork after
either would hand the child a broken copy.
"""
from __future__ import annotations

import ast
import atexit
import ctypes
import gc
import importlib
import json
import os
import select
import signal
import sys

from .template import PARENT_ENV

PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int) -> None:
    """Ask Linux to send `sig` to this process when its parent exits (no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)


def _on_sigterm(*_args) -> None:
    """The run (or the daemon) that launched this template is gone or stopping it: kill the
    kernels and leave now. Not SystemExit: an import running user code could catch that
    (run_imports catches BaseException) and the template would outlive its run."""
    if os.getpid() == _TEMPLATE_PID:  # not in a just-forked kernel before it resets SIGTERM
        kill = globals().get("kill_children")
        if kill is not None:
            kill()
    os._exit(0)


def _bind_to_parent() -> None:
    """Before the heavy imports below: from here on the template dies with whoever launched
    it, even if that process was killed while this one was still starting."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    die_with_parent(signal.SIGTERM)
    parent = os.environ.pop(PARENT_ENV, "")
    if parent.isdigit() and os.getppid() != int(parent):  # it died before prctl took effect
        os._exit(0)


def _import_debugger_module_without_debugpy() -> None:
    """A forked kernel runs one step's cells for the run (papermill's client sends no debug
    requests; nothing attaches a front end), so it needs no debug adapter: ipykernel's
    import of debugpy is about 0.04-0.05 CPU-s of the template's start, on a leaf edit's
    path, and prints a warning about frozen modules. ipykernel's debugger module is imported
    while `debugpy` looks missing, which it reads as "no debugger" (the kernel_info reply
    then says so); the name is released afterwards, so a step may still `import debugpy`."""
    missing = "debugpy" not in sys.modules
    if missing:
        sys.modules["debugpy"] = None  # type: ignore[assignment]
    try:
        importlib.import_module("ipykernel.debugger")
    finally:
        if missing and sys.modules.get("debugpy", 0) is None:
            del sys.modules["debugpy"]


_TEMPLATE_PID = os.getpid()
if __name__ == "__main__":
    _bind_to_parent()
    _import_debugger_module_without_debugpy()

# Importing it starts neither threads nor a zmq context; it is the import a kernel pays for.
from ipykernel.kernelapp import IPKernelApp  # after _bind_to_parent, on purpose

from .stamps import loaded_stamps, stamp
from .threads import fork_refusal as threads_refusal
from .threads import NATIVE_POOL_MODULES, quiet_pools, restore_pools, thread_count

# Modules that initialise a GPU driver (or may): a forked child would inherit a dead context.
CUDA_MODULES = ("torch", "tensorflow", "jax", "jaxlib", "cupy", "numba.cuda", "pycuda",
                "keras", "mxnet", "paddle")
# What every kernel imports while it starts, and what a step's first save and load import
# lazily (cloudpickle, the pool that hashes large artifacts while they are read): imported
# once here.
KERNEL_START_MODULES = ("ipykernel.ipkernel", "ipykernel.debugger", "IPython.extensions",
                        "IPython.core.history", "sqlite3", "tornado.gen", "tornado.queues",
                        "pdb", "http.server", "xmlrpc.client", "faulthandler", "cloudpickle",
                        "concurrent.futures.thread")
_children: dict[int, int | None] = {}  # pid -> exit code once reaped
_thread_starters: list[str] = []  # import statements after which the template had more threads


def imported_names(statement: str) -> list[str] | None:
    """Dotted module names a statement imports; None if it is not only absolute imports."""
    try:
        tree = ast.parse(statement)
    except SyntaxError:
        return None
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
            names += [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            return None
    return names


def touches_cuda(names: list[str]) -> bool:
    return any(n == m or n.startswith(m + ".") for n in names for m in CUDA_MODULES)


def run_imports(statements: list[str]) -> dict:
    """Import what can be imported here; a failing import is the step's to raise, not ours."""
    imported, skipped, failed = [], [], []
    for stmt in statements:
        names = imported_names(stmt)
        if names is None or touches_cuda(names):
            skipped.append(stmt)
            continue
        before = thread_count()
        try:
            exec(compile(stmt, "<mlpipe-template>", "exec"), {})  # noqa: S102 - the prelude's own imports
            imported.append(stmt)
        except BaseException as exc:  # noqa: BLE001 - SystemExit in a module is a failure too
            failed.append(f"{stmt}: {type(exc).__name__}: {exc}")
        if thread_count() > before:
            _thread_starters.append(stmt)
    if any(m in sys.modules for m in NATIVE_POOL_MODULES):  # restore_pools: paid once, here
        try:
            importlib.import_module("threadpoolctl")
        except ImportError:
            pass
    return {"ok": True, "imported": imported, "skipped": skipped, "failed": failed}


IN_KERNEL = "jupyter_mlpipe.interactive.in_kernel"


def start_recording():
    """Record what the imports read, import and look up in the environment (a project module
    reading a config file or $LIMIT at import time): each forked kernel inherits the recorder,
    and each step's manifest includes it (in_kernel.begin_prelude). The in-kernel helper is
    one of the template's imports anyway; imported by name, as a generated notebook does."""
    try:
        module = importlib.import_module(IN_KERNEL)
        module.begin_prelude()
    except Exception:  # noqa: BLE001 - without it the warm-up starts recording, a bit later
        return None
    return module


def read_stamps(recording) -> dict[str, list]:
    """Stamps of the files the imports read: a template kept between runs is stale (stamps.py)
    once one of them changes, as when a module it imported does."""
    if recording is None:
        return {}
    stamps = {}
    for path in recording.prelude_files():
        s = stamp(path)
        if s is not None:
            stamps[path] = s
    return stamps


def warm_caches() -> None:
    """Fill what each kernel would compute for itself, for a template kept warm between runs:
    the manifest's map of installed distributions (about 0.3 s per process; a fork inherits it)."""
    manifest = sys.modules.get("jupyter_mlpipe.run.manifest")
    if manifest is not None:
        try:
            manifest.distributions_of("")
        except Exception:  # noqa: BLE001 - each kernel builds it again, as without a template
            pass


def preload_kernel_modules() -> None:
    for name in KERNEL_START_MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the kernel imports it again (or does without)
            pass


def fork_refusal() -> str | None:
    """Why forking now would be unsafe, or None."""
    refusal = threads_refusal("the kernel template")
    if refusal:
        started = (f" `{'`, `'.join(_thread_starters)}` started them." if _thread_starters
                   else "")
        return (f"{refusal}.{started} Kernels start the normal way instead (as with "
                "kernel_start = \"spawn\"); to fork again, keep imports that start threads out "
                "of the prelude or start their threads in the step")
    zmq = sys.modules.get("zmq")
    if zmq is not None and getattr(zmq.Context, "_instance", None) is not None:
        return "the template created a zmq context; fork would share it"
    return None


def fork_kernel(request: dict, protocol_fds: tuple[int, ...]) -> dict:
    refusal = fork_refusal()
    if refusal:
        return {"ok": False, "error": refusal}
    template_pid = os.getpid()
    template_cwd = os.getcwd()
    gc.freeze()  # the child's collector then leaves the template's objects (and pages) alone
    pid = os.fork()
    if pid:
        _children[pid] = None
        return {"ok": True, "pid": pid}
    code = 1  # the child from here on: it must never return into the template's loop
    try:
        _become_kernel(request, template_pid, template_cwd, protocol_fds)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    except BaseException:  # noqa: BLE001 - its exit code is the only report left to make
        code = 1
    finally:
        try:
            atexit._run_exitfuncs()  # what a normal interpreter exit would run (history, ...)
        finally:
            os._exit(code)


def _become_kernel(request: dict, template_pid: int, template_cwd: str,
                   protocol_fds: tuple[int, ...]) -> None:
    os.setsid()
    die_with_parent(signal.SIGKILL)
    if os.getppid() != template_pid:  # the template died before prctl took effect
        os._exit(1)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the template's own handler is not the kernel's
    for fd in protocol_fds:
        os.close(fd)
    _redirect_stdio()
    os.closerange(3, _max_fd())  # nothing of the template's stays open in the kernel
    os.environ.clear()
    os.environ.update(request.get("env") or {})  # CUDA_VISIBLE_DEVICES etc., before user code
    restore_pools(os.environ)  # the thread pools the template kept at one thread (threads.py)
    cwd = request.get("cwd") or template_cwd
    os.chdir(cwd)
    if sys.path and sys.path[0] == template_cwd:
        sys.path[0] = cwd
    _reseed()
    cf = request["connection_file"]
    sys.argv = [sys.executable, "-m", "ipykernel_launcher", "-f", cf]
    # parent_handle: ipykernel's poller exits the kernel if the template goes away.
    app = IPKernelApp.instance(connection_file=cf, parent_handle=template_pid)
    _read_no_command_line(app)
    app.initialize([])
    app.start()


def _read_no_command_line(app: IPKernelApp) -> None:
    """traitlets reads even an empty command line by building an argparse parser of every
    option of every configurable class: ~0.02-0.03 CPU-s of a forked kernel's ~0.12. The
    kernel gets no arguments (its connection file is set above), so it gets what that parse
    gives: no command-line config and no extra arguments."""
    from traitlets.config import Config

    def parse_command_line(argv=None) -> None:
        app.argv, app.extra_args, app.cli_config = [], [], Config()

    app.parse_command_line = parse_command_line  # type: ignore[method-assign]


def _redirect_stdio() -> None:
    """fds 0-2 and sys.std*/sys.__std*__ to /dev/null (ipykernel prints to sys.__stdout__)."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    sys.stdin = sys.__stdin__ = open(0, "r", closefd=False)  # noqa: SIM115 - lives as long as the process
    sys.stdout = sys.__stdout__ = open(1, "w", closefd=False)  # noqa: SIM115
    sys.stderr = sys.__stderr__ = open(2, "w", closefd=False)  # noqa: SIM115


def _max_fd() -> int:
    try:
        return os.sysconf("SC_OPEN_MAX")
    except (ValueError, OSError):
        return 4096


def _reseed() -> None:
    """`random` reseeds itself after fork (os.register_at_fork); numpy's global state does not."""
    np_random = sys.modules.get("numpy.random")
    if np_random is not None:
        np_random.seed()


def reap() -> None:
    """Collect every exited child's status (the template is their parent)."""
    while _children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _children[pid] = os.waitstatus_to_exitcode(status)


def poll(request: dict) -> dict:
    reap()
    pid = int(request["pid"])
    if pid not in _children:
        return {"ok": False, "error": f"{pid} is not a kernel of this template"}
    return {"ok": True, "exit_code": _children[pid]}


def kill_children() -> None:
    """SIGKILL each kernel's process group: the kernel and whatever it started."""
    for pid in _children:
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
    reap()


def forget_children() -> None:
    """Kill every kernel and wait for each (SIGKILL is quick), then forget them all."""
    kill_children()
    for pid, code in list(_children.items()):
        if code is None:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
    _children.clear()


def serve(requests, answers, protocol_fds: tuple[int, ...]) -> None:
    """Answer requests until `exit` or end of input; reap children between requests."""
    while True:
        ready, _, _ = select.select([requests], [], [], 1.0)
        reap()
        if not ready:
            continue
        line = requests.readline()
        if not line:
            return
        try:
            request = json.loads(line)
            op = request.get("op")
            if op == "exit":
                return
            if op == "imports":
                recording = start_recording()
                answer = run_imports(list(request.get("statements") or []))
                if request.get("warm"):  # kept between runs: stamp what the imports loaded
                    warm_caches()
                    answer["files"] = {**loaded_stamps(), **read_stamps(recording)}
            elif op == "fork":
                answer = fork_kernel(request, protocol_fds)
            elif op == "poll":
                answer = poll(request)
            elif op == "reset":  # the run it served is over: nothing of it may stay
                forget_children()
                answer = {"ok": True, "nonce": request.get("nonce")}
            else:
                answer = {"ok": False, "error": f"unknown op {op!r}"}
        except Exception as exc:  # noqa: BLE001 - one bad request must not end the template
            answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


def main() -> None:
    _bind_to_parent()  # again, if started other than with -m (done at import then)
    answer_fd = os.dup(1)
    os.dup2(2, 1)  # anything imported code prints goes to stderr, not into the protocol
    sys.stdout = sys.stderr
    quiet_pools()  # imports start no native thread pool here: a fork would copy none of it
    preload_kernel_modules()
    requests = os.fdopen(0, "r", buffering=1, closefd=False)
    answers = os.fdopen(answer_fd, "w", buffering=1)
    try:
        serve(requests, answers, (answer_fd,))
    finally:
        kill_children()


if __name__ == "__main__":
    main()
