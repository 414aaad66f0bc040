"""Kernel templates that the run daemon lends to a run it forked, matched by kernel environment.

In a plain `mlpipe run` nothing is lent and each executor launches its own template. In a run
the daemon forked (daemon/server.py), a TemplateLoan holds the daemon's ready templates and goes
to the run through its options (RunOptions.templates): an executor with the same Python, prelude
imports, environment and folder takes one instead of importing again (and its spare kernel, if
forked with exactly this environment). Each template an executor used or had to launch itself
is reported, so the daemon keeps one like it, with a spare kernel of this environment, for the
next run.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Callable

# Set by the shell on every command or `cd`, or read by `mlpipe` alone: they change nothing a
# template imports (a spare kernel still needs the run's exact environment).
SHELL_BOOKKEEPING = frozenset({"_", "OLDPWD", "PWD", "SHLVL", "MLPIPE_DAEMON"})


def template_spec(imports: list[str], python: str, env: dict[str, str], cwd: str) -> dict:
    """What starting a template takes; the daemon starts one from it."""
    return {"imports": list(imports), "python": python, "env": dict(env), "cwd": cwd}


def template_key(spec: dict) -> str:
    env = sorted((k, v) for k, v in spec["env"].items() if k not in SHELL_BOOKKEEPING)
    blob = json.dumps([spec["python"], spec["imports"], env, spec["cwd"]])
    return hashlib.sha256(blob.encode()).hexdigest()


class TemplateLoan:
    """The daemon's templates lent to one run (key -> KernelTemplate), and where the run
    reports the templates it used. TemplateLoan() lends nothing and reports nowhere."""

    def __init__(self, templates: dict[str, Any] | None = None,
                 report: Callable[[dict], None] | None = None):
        self._lent = dict(templates or {})
        for t in self._lent.values():
            t.lent = True
        self._report = report

    def take(self, spec: dict) -> Any:
        """A lent, live template for this environment whose imports are still current, or
        None (then the caller launches one and reports it `used`, as this does for a lent one)."""
        template = self._lent.pop(template_key(spec), None)
        if template is None or not template.alive or template.stale():
            return None
        self.used(spec)  # the daemon forks its next spare kernel with this run's environment
        return template

    def used(self, spec: dict) -> None:
        """Tell the daemon this run used a template of `spec`: it keeps one warm for the next
        run, with a spare kernel forked in this run's environment."""
        if self._report is not None:
            self._report(spec)
