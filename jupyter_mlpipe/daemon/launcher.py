"""`mlpipe`: a run goes to the resident run daemon when one is up (daemon_client.py), the rest
to cli.py. Nothing heavy is imported before that choice: the daemon's point is to skip it."""
from __future__ import annotations

import sys


def skip_iri_grammars() -> None:
    """jsonschema (through nbformat, through papermill) imports rfc3987_syntax, when it is
    installed, to check the "iri" string format: 1.1 s of building grammars, of papermill's
    1.9 s import here. No notebook schema uses that format and `mlpipe` checks no formats, so
    this process marks it missing (jsonschema's import of it allows for that)."""
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[assignment]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from ..run import noop  # nothing changed: answered by stat alone, before anything else

    code = noop.fast(argv)
    if code is not None:
        return code
    skip_iri_grammars()
    if argv[:1] == ["run"] and "--no-daemon" not in argv:
        from . import client as daemon_client

        code = daemon_client.run(argv)
        if code is not None:
            return code
    from ..cli.main import main as cli_main

    code = cli_main(argv, handlers={"daemon": _cmd_daemon})
    if argv[:1] == ["run"]:
        _start_daemon_if_auto()
    return code


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
