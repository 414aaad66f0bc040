"""`mlpipe`: a run goes to the resident run daemon when one is up (daemon_client.py), the rest
to cli.py. Nothing heavy is imported before that choice: the daemon's point is to skip it."""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["run"] and "--no-daemon" not in argv:
        from . import daemon_client

        code = daemon_client.run(argv)
        if code is not None:
            return code
    from .cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
