"""`mlpipe`: a run goes to the resident run daemon when one is up (daemon_client.py), the rest
to cli.py. Nothing heavy is imported before that choice: the daemon's point is to skip it."""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from ..run import noop  # nothing changed: answered by stat alone, before anything else

    code = noop.fast(argv)
    if code is not None:
        return code
    from .. import timings  # not before: the no-op path imports nothing more

    timings.mark("started; no-op fast path does not answer")
    try:
        code = _main(argv)
    finally:
        timings.report()
    leave(code)
    return code  # not reached


def leave(code: int) -> None:
    """Exit now, without the interpreter's teardown of every module and object: 0.1-0.25 s
    after a run that imported papermill, jupyter_client and zmq (measured from the last
    line printed to the end of the process). What a normal exit does before that teardown is
    done here: wait for the threads that are not daemons, run the atexit handlers (logging's
    flush, temporary folders, ...), flush stdout and stderr; memory and descriptors go to the
    system. Only after a normal return: an exception still prints its traceback."""
    import atexit
    import os
    import threading

    for t in threading.enumerate():
        if t is not threading.current_thread() and not t.daemon:
            t.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`mlpipe runs | head`): nothing to keep
            pass
    os._exit(code if isinstance(code, int) else 1)


def _main(argv: list[str]) -> int:
    if argv[:1] == ["run"] and "--no-daemon" not in argv and _daemon_may_be_up():
        from . import client as daemon_client

        code = daemon_client.run(argv)
        if code is not None:
            return code
    spawned = _spawn_template(argv)  # first: ipykernel's import then overlaps all of ours
    from . import import_trims

    import_trims.install()
    try:
        from ..cli.main import main as cli_main

        code = cli_main(argv, handlers={"daemon": _cmd_daemon}, spawned=spawned)
    finally:
        if spawned is not None:  # the run closed it if it took it; else it goes now
            spawned.template.close()
    if argv[:1] == ["run"]:
        _start_daemon_if_auto()
    return code


def _daemon_may_be_up() -> bool:
    """False when no daemon can take the run: turned off, or no daemon's socket in this user's
    daemon folder. Asked before the client is imported and its fingerprint
    computed (~0.025 s before the kernel template can be spawned); any doubt says True."""
    import os

    from .switch import daemon_enabled, daemon_folder

    if not daemon_enabled():
        return False
    try:
        names = os.listdir(daemon_folder())
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return any(name.endswith(".sock") for name in names)


def _spawn_template(argv: list[str]):
    """A plain `mlpipe run NB` (no daemon took it): its kernel template is started before
    anything else, so ipykernel's import overlaps ours and the planning (a leaf edit's time;
    MLPIPE_TEMPLATE_AHEAD=0: no template before the run needs a kernel)."""
    import os

    from ..run import noop

    parsed = noop.parse_argv(argv) if argv[:1] == ["run"] else None
    if parsed is None or os.environ.get("MLPIPE_TEMPLATE_AHEAD") == "0":
        return None
    from ..executors.ahead import launch_early

    return launch_early(parsed[1])


def _cmd_daemon(args) -> int:
    """`mlpipe daemon`: its client (sockets, subprocesses) imported only for this command."""
    from .command import cmd_daemon

    return cmd_daemon(args)


def _start_daemon_if_auto() -> None:
    """MLPIPE_DAEMON=auto: after a run without a daemon, start one for the next (as Gradle
    does), which exits after 3 hours without a run."""
    import os

    if os.environ.get("MLPIPE_DAEMON", "").lower() != "auto":
        return
    from . import client as daemon_client

    try:
        daemon_client.start(3 * 3600, wait=False)
    except (OSError, RuntimeError) as exc:
        print(f"mlpipe: no run daemon started: {exc}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
