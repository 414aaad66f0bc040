"""Kernel templates that the run daemon lends to a run it forked, matched by kernel environment.

In a plain `mlpipe run` nothing is lent and each executor launches its own template. In a run
the daemon forked (daemon.py), `lend` holds the daemon's ready templates whose imported files are
unchanged: an executor with the same Python, prelude imports, environment and folder takes one
instead of importing again (and its spare kernel, if forked with exactly this environment). Each
template an executor used or had to launch itself is reported, so the daemon keeps one like it,
with a spare kernel of this environment, for the next run.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Callable

# Set by the shell on every command or `cd`, or read by `mlpipe` alone: they change nothing a
# template imports (a spare kernel still needs the run's exact environment).
SHELL_BOOKKEEPING = frozenset({"_", "OLDPWD", "PWD", "SHLVL", "MLPIPE_DAEMON"})

_lent: dict[str, Any] = {}  # key -> KernelTemplate, the daemon's, for this run
_report: list[Callable[[dict], None]] = []


def template_spec(imports: list[str], python: str, env: dict[str, str], cwd: str) -> dict:
    """What starting a template takes; the daemon starts one from it."""
    return {"imports": list(imports), "python": python, "env": dict(env), "cwd": cwd}


def template_key(spec: dict) -> str:
    env = sorted((k, v) for k, v in spec["env"].items() if k not in SHELL_BOOKKEEPING)
    blob = json.dumps([spec["python"], spec["imports"], env, spec["cwd"]])
    return hashlib.sha256(blob.encode()).hexdigest()


def lend(templates: dict[str, Any], report: Callable[[dict], None]) -> None:
    """The daemon's templates for this run (in the forked child), and where to report."""
    _lent.clear()
    _lent.update(templates)
    for t in templates.values():
        t.lent = True
    _report[:] = [report]


def take(spec: dict) -> Any:
    """A lent, live template for this environment whose imports are still current, or None
    (then the caller launches one and reports it `used`, as this does for a lent one)."""
    template = _lent.pop(template_key(spec), None)
    if template is None or not template.alive or template.stale():
        return None
    used(spec)  # the daemon forks its next spare kernel with this run's environment
    return template


def used(spec: dict) -> None:
    """Tell the daemon this run used a template of `spec`: it keeps one warm for the next run,
    with a spare kernel forked in this run's environment."""
    for report in _report:
        report(spec)
