"""Compute targets as configured: the [targets.NAME] tables of mlpipe.toml / pyproject.toml.

A target says where a step's kernel runs: `local` (a kernel on this machine, the default),
`gateway = URL` (a kernel started by Jupyter Kernel / Enterprise Gateway) or `dask = ADDRESS`
(a task on a Dask distributed cluster; "local" starts a LocalCluster). `gpus = N` asks for N
devices of this machine. `executor = KIND` names an executor kind another package provides
(entry-point group `jupyter_mlpipe.executors`, see executors/registry.py).
`kernel_start = "fork" | "spawn"` says how local kernels start (kernels/forked.py); unset:
fork on Linux, spawn elsewhere.
"""
from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import TargetError
from ..models import PipelineSpec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

LOCAL = "local"
# executor kinds whose environment is probed on this machine without contacting anything
LOCAL_KINDS = frozenset({"local", "gpu"})
_KEYS = {"kernel", "gateway", "token_env", "dask", "resources", "gpus", "env", "retries",
         "timeout", "workers", "executor", "kernel_start"}
KERNEL_START_MODES = ("fork", "spawn")


def kernel_start_mode(configured: str | None = None, platform: str = sys.platform) -> str:
    """"fork" on Linux unless configured "spawn"; always "spawn" where fork is unsafe or absent."""
    if configured is not None and configured not in KERNEL_START_MODES:
        raise ValueError(f"kernel_start must be one of {KERNEL_START_MODES}, not {configured!r}")
    if not platform.startswith("linux"):
        return "spawn"  # macOS: fork after system frameworks load is unsafe; Windows: no fork
    return configured or "fork"


@dataclass(frozen=True, slots=True)
class Target:
    """One `[targets.NAME]` table."""

    name: str
    kernel: str | None = None  # None: the notebook's own kernelspec
    gateway: str | None = None
    token_env: str | None = None
    dask: str | None = None
    resources: dict[str, float] = field(default_factory=dict)
    gpus: int = 0
    env: dict[str, str] = field(default_factory=dict)
    retries: int = 0
    timeout: float = 5.0  # seconds to wait when checking that a gateway/scheduler answers
    workers: int = 2  # dask = "local": LocalCluster size
    executor: str | None = None  # an executor kind by name (executors/registry.py)
    kernel_start: str | None = None  # "fork" | "spawn"; None: fork where it is safe

    @property
    def kind(self) -> str:
        """The executor kind that runs this target's steps."""
        if self.executor:
            return self.executor
        return ("gateway" if self.gateway else "dask" if self.dask
                else "gpu" if self.gpus else "local")

    def kernel_name(self, spec: PipelineSpec) -> str:
        return self.kernel or spec.kernel_name

    def token(self) -> str:
        if not self.token_env:
            return ""
        value = os.environ.get(self.token_env)
        if value is None:
            raise TargetError(
                f"target '{self.name}' reads its gateway token from ${self.token_env}, which is "
                f"not set. Export it (export {self.token_env}=...) and run again.")
        return value


@dataclass(frozen=True, slots=True)
class Targets:
    """All targets of a project, and the file they came from (None: built-in defaults)."""

    targets: dict[str, Target]
    source: Path | None = None

    def get(self, name: str) -> Target:
        if name in self.targets:
            return self.targets[name]
        where = str(self.source) if self.source else "mlpipe.toml (none found beside the notebook)"
        raise TargetError(
            f"unknown compute target '{name}': {where} defines "
            + ", ".join(sorted(self.targets)) + f". Add a [targets.{name}] table, or fix the name.")


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise TargetError(f"cannot read compute targets from {path}: {exc}") from None


def find_config(root: Path) -> tuple[Path, dict] | None:
    """mlpipe.toml, else pyproject.toml with [tool.mlpipe], in the notebook's folder or above."""
    for folder in [root.resolve(), *root.resolve().parents]:
        toml = folder / "mlpipe.toml"
        if toml.is_file():
            return toml, _read_toml(toml)
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            data = _read_toml(pyproject).get("tool", {}).get("mlpipe")
            if data is not None and not isinstance(data, dict):
                raise TargetError(f"{pyproject}: tool.mlpipe must be a table ([tool.mlpipe])")
            if data is not None:
                return pyproject, data
    return None


def parse_target(name: str, table: Any, source: Path) -> Target:
    if not isinstance(table, dict):
        raise TargetError(f"{source}: targets.{name} must be a table ([targets.{name}])")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise TargetError(f"{source}: [targets.{name}] has unknown key(s) {', '.join(unknown)}; "
                          f"known keys: {', '.join(sorted(_KEYS))}")
    if table.get("executor") is not None and not isinstance(table["executor"], str):
        raise TargetError(f"{source}: [targets.{name}] executor must be a string (a kind name)")
    if table.get("kernel_start", "fork") not in KERNEL_START_MODES:
        raise TargetError(f"{source}: [targets.{name}] kernel_start must be one of "
                          f"{', '.join(map(repr, KERNEL_START_MODES))}, not "
                          f"{table['kernel_start']!r}")
    if table.get("gateway") and table.get("dask"):
        raise TargetError(f"{source}: [targets.{name}] sets both gateway and dask; a target runs "
                          "kernels in one place. Split it into two targets.")
    try:
        t = Target(name, **{k: v for k, v in table.items()})
        int(t.gpus), int(t.retries), float(t.timeout)
        dict(t.resources), dict(t.env)
    except (TypeError, ValueError) as exc:
        raise TargetError(f"{source}: [targets.{name}]: {exc}") from None
    return dataclasses.replace(t, gpus=int(t.gpus), retries=int(t.retries),
                               env={k: str(v) for k, v in t.env.items()})


def load_targets(root: Path) -> Targets:
    found = find_config(root)
    targets = {LOCAL: Target(LOCAL)}
    if found is None:
        return Targets(targets)
    source, data = found
    tables = data.get("targets") or {}
    if not isinstance(tables, dict):
        raise TargetError(
            f"{source}: 'targets' must hold one table per target, not {tables!r}. Write "
            "[targets.local] (or [targets.NAME] with its keys) instead of 'targets = ...'.")
    for name, table in tables.items():
        targets[name] = parse_target(name, table, source)
    return Targets(targets, source)


def override_target(spec: PipelineSpec, name: str) -> PipelineSpec:
    """`mlpipe run --target NAME`: every step runs on NAME."""
    steps = tuple(dataclasses.replace(s, target=name) for s in spec.steps)
    return dataclasses.replace(spec, steps=steps)
