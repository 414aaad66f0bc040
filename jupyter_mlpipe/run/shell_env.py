"""Environment variables a command line names (`$NAME`, `${NAME}`): what a shell started by a
step reads from the environment it inherits. A subprocess gets the whole environment, so the
variables it reads cannot be seen from Python; the ones its command line spells are recorded as
the step's own reads (`os.system("echo $GREETING")`, `subprocess.run("make MODE=$MODE",
shell=True)`). A `$name` that is not exported (a shell loop's variable) is recorded as unset,
which it stays."""
from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

_NAMED = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
# audit event -> the position of the command line in its arguments
COMMAND_EVENTS = {"os.system": 0, "subprocess.Popen": 1, "os.exec": 1, "os.posix_spawn": 1}


def _texts(value: Any) -> Iterable[str]:
    if isinstance(value, (str, bytes, os.PathLike)):
        value = [value]
    for part in value if isinstance(value, (list, tuple)) else ():
        try:
            yield os.fsdecode(part)
        except TypeError:
            continue


def named_variables(event: str, args: tuple) -> set[str]:
    """The variables the command of a process-starting audit event names."""
    at = COMMAND_EVENTS.get(event)
    if at is None or len(args) <= at:
        return set()
    return {m.group(1) for text in _texts(args[at]) for m in _NAMED.finditer(text)}
