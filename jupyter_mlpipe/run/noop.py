"""The no-op fast path, as ninja's: `mlpipe run` and `mlpipe status` when nothing changed.

When every step of a notebook was found cached (a `status`) or ended reused or succeeded (a
`run`), the full path writes one compact state file into the store: the stat of everything
that decision rested on (the notebook, --reads and --writes files and folders, project
modules and the folders they were found in, each stored manifest's entries, the store
entries and artifacts, target configuration and kernelspecs, sys.path folders, the package's
own code) and the environment variables that can change it. The next `run` or `status` with
the same arguments reads that file and stats those paths, importing only the standard
library: if everything is as recorded it prints the result and exits, in a few milliseconds.

This module is the reading side (standard library only); noop_state.py writes the state.

Correctness first: ANY doubt returns None and the caller takes the full path. The state is
not written when a path it rests on changed after the command began (less RACY_SECONDS, as
git's racy index), when a manifest holds an entry kind this module does not know, when a step
runs on a non-local target or a `--module`, or when the store is shared remotely. The one
exception is the notebook itself, saved just before the run (the edit-then-run loop): as git
does for a racily clean file, its content is recorded instead, once a second parse shows that
content is what the run decided on, and the fast path compares the content, not the stat.
"""
from __future__ import annotations

import marshal
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs 3 ms of imports; this module's readers import nothing else
    from typing import Any

STATE_VERSION = 2  # 2: a stamp may carry a content digest (a notebook saved just before)
STATE_DIR = "noop"  # in the store: one state file per notebook
RACY_SECONDS = 2.0
# Environment variables that can change a decision beside those the steps read: the store,
# modules, keys and kernelspec locations, the Python path, the kernel executable's PATH.
ENV_PREFIXES = ("MLPIPE_", "JUPYTER", "PYTHON", "XDG_", "VIRTUAL_ENV", "CONDA_")
ENV_NAMES = ("HOME", "PATH", "JPY_SESSION_NAME")


# ---- reading: standard library only ----------------------------------------------------------
def parse_argv(argv: list[str]) -> tuple[str, str, list[list[str]]] | None:
    """(command, notebook, [[name, value], ...]) of a `run` or `status` the fast path may
    answer; None for anything else (--force, --only, --sweep, --target, an unknown option)."""
    if len(argv) < 2 or argv[0] not in ("run", "status"):
        return None
    command, rest = argv[0], argv[1:]
    notebook: str | None = None
    params: list[list[str]] = []
    i = 0
    while i < len(rest):
        arg = rest[i]
        if arg in ("-p", "--param"):
            if i + 2 >= len(rest):
                return None
            params.append([rest[i + 1], rest[i + 2]])
            i += 3
            continue
        if command == "run" and arg in ("-j", "--jobs", "--output") and i + 1 < len(rest):
            i += 2  # a no-op starts nothing and prints no step output
            continue
        if command == "run" and (arg.startswith(("--jobs=", "--output=")) or arg == "--no-daemon"):
            i += 1
            continue
        if arg.startswith("-") or notebook is not None:
            return None
        notebook = arg
        i += 1
    return (command, notebook, params) if notebook else None


def state_path(notebook: str) -> str:
    """Where the state of `notebook` lives: its store (MLPIPE_HOME, or .mlpipe beside it)."""
    real = os.path.realpath(notebook)
    env = os.environ.get("MLPIPE_HOME")
    home = (os.path.realpath(os.path.expanduser(env)) if env
            else os.path.join(os.path.dirname(real), ".mlpipe"))
    return os.path.join(home, STATE_DIR, os.path.basename(real) + ".marshal")


def stat_sig(path: str) -> list[int] | None:
    """What a path's stat says: inode, size, mtime, ctime (ns); None when it is absent."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _digest(data: bytes) -> str:
    try:
        from _blake2 import blake2b  # hashlib's import of OpenSSL costs 2 ms more
    except ImportError:  # another Python: the public name
        from hashlib import blake2b
    return blake2b(data).hexdigest()


def env_sig(names: list[str]) -> dict[str, str | None]:
    """Each variable's value digest (values themselves, secrets perhaps, are not stored)."""
    return {n: (None if os.environ.get(n) is None else _digest(os.environ[n].encode()))
            for n in names}


def content_sig(path: str) -> str | None:
    """The digest of a file's bytes; None when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return _digest(f.read())
    except OSError:
        return None


def unchanged(stamp: list[Any]) -> bool:
    """[path, stat] holds while the stat is the same; [path, stat, digest] (a file saved just
    before the state was written, whose stat cannot tell a change within the clock's tick)
    while its content is."""
    if len(stamp) == 3:
        return content_sig(stamp[0]) == stamp[2]
    return stat_sig(stamp[0]) == stamp[1]


UNWATCHED = ("MLPIPE_NO_FASTPATH", "MLPIPE_NOOP_DEBUG")  # this module's own switches


def watched_env() -> list[str]:
    return sorted({n for n in os.environ if n.startswith(ENV_PREFIXES)} - set(UNWATCHED)
                  | set(ENV_NAMES))


def python_sig() -> list[Any]:
    return [sys.executable, os.path.realpath(sys.prefix), sys.version, list(sys.path)]


def debug(message: str) -> None:
    """MLPIPE_NOOP_DEBUG=1: say why the fast path did not answer (or wrote no state)."""
    if os.environ.get("MLPIPE_NOOP_DEBUG"):
        print(f"mlpipe: no-op fast path: {message}", file=sys.stderr)


def check(argv: list[str]) -> dict[str, Any] | None:
    """The recorded state when `argv` is a `run` or `status` that would change nothing, else
    None (the full path decides)."""
    if os.environ.get("MLPIPE_NO_FASTPATH"):
        return None
    parsed = parse_argv(argv)
    if parsed is None:
        return None
    command, notebook, params = parsed
    try:
        with open(state_path(notebook), "rb") as f:
            state = marshal.load(f)  # no import (json's costs 6 ms); Python's own version
        if (state.get("version") != STATE_VERSION
                or state["notebook"] != os.path.realpath(notebook)
                or state["params"] != params or state["python"] != python_sig()
                or state["watched"] != watched_env()
                or env_sig(sorted(state["env"])) != state["env"]):
            debug("the notebook, arguments, Python or environment differ")
            return None
        for stamp in state["stamps"]:
            if not unchanged(stamp):
                debug(f"{stamp[0]} changed")
                return None
    except (OSError, ValueError, KeyError, TypeError, EOFError, AttributeError):
        return None
    state["command"] = command
    return state


def answer(state: dict[str, Any]) -> int:
    """Print what the full path would have concluded: every step cached (status) or reused."""
    steps = state["steps"]
    width = max([len(s) for s in steps] + [4])
    out = sys.stdout
    if state["command"] == "status":
        for s in steps:
            out.write(f"✓ {s:<{width}}  cached\n")
        out.write(f"{len(steps)} cached, 0 stale\n")
    else:
        for s in steps:
            out.write(f"↺ {s:<{width}}  reused\n")
        out.write(f"nothing changed: {len(steps)} reused, no run recorded "
                  "(`mlpipe run --force` executes again)\n")
    out.flush()
    return 0


def fast(argv: list[str]) -> int | None:
    """The exit code of a no-op `run`/`status` answered from the state, or None."""
    state = check(argv)
    return None if state is None else answer(state)


def forget(notebook: str) -> None:
    """Remove the state (a run that changed something, or a failure)."""
    try:
        os.unlink(state_path(notebook))
    except OSError:
        pass
