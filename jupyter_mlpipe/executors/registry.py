"""Executor kinds by name, and the pre-flight check of every target a run uses.

A target's kind (targets/config.py: Target.kind) names the executor class that runs its steps.
The built-in kinds sit here as "module:Class" strings, imported when a target first uses them:
local, gpu, gateway, dask. Other packages add kinds without touching jupyter_mlpipe, through
the entry-point group `jupyter_mlpipe.executors` (as papermill finds engines and jupyter-cache
finds executors):

    [project.entry-points."jupyter_mlpipe.executors"]
    slurm = "mlpipe_slurm:SlurmExecutor"

and a target that names the kind: `[targets.hpc]` with `executor = "slurm"`. The class
subclasses executors.base.Executor; it is built as `Kind(pipeline, params, jobs, target)`, and
its `probe(pipeline, target, home)` checks the target before a run. Entry points are read once,
the first time a kind is not among those registered, and each is loaded when first used; a kind
registered here (built-in, or through `kinds.register`) wins over an entry point of that name.
"""
from __future__ import annotations

import dataclasses
import importlib
import threading
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Iterable

from ..errors import TargetError
from ..models import PipelineSpec
from ..kernels.template_pool import TemplateLoan
from ..targets import Target, Targets, key_env, load_targets, record_env
from .base import Executor

ENTRY_POINT_GROUP = "jupyter_mlpipe.executors"
BUILT_IN = {
    "local": "jupyter_mlpipe.executors.local:LocalExecutor",
    "gpu": "jupyter_mlpipe.executors.gpu:GpuExecutor",
    "gateway": "jupyter_mlpipe.executors.gateway:GatewayExecutor",
    "dask": "jupyter_mlpipe.executors.dask:DaskExecutor",
}


def _import(ref: str) -> Any:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


class ExecutorRegistry:
    """Kind name -> executor class, a "module:Class" string, or an entry point (loaded lazily)."""

    def __init__(self, kinds: dict[str, Any] | None = None):
        self._kinds: dict[str, Any] = dict(BUILT_IN if kinds is None else kinds)
        self._entry_points_read = False
        self._lock = threading.Lock()

    def register(self, kind: str, executor: type[Executor] | str) -> None:
        """Add a kind: an Executor subclass, or "module:Class" imported when first used."""
        with self._lock:
            self._kinds[kind] = executor

    def register_entry_points(self, found: Iterable[Any] | None = None) -> None:
        """Add the kinds other packages declare (or `found`: objects with .name and .load())."""
        if found is None:
            found = entry_points(group=ENTRY_POINT_GROUP)
        with self._lock:
            for ep in found:
                self._kinds.setdefault(ep.name, ep)
            self._entry_points_read = True

    def names(self) -> list[str]:
        if not self._entry_points_read:
            self.register_entry_points()
        return sorted(self._kinds)

    def get(self, kind: str, target: Target | None = None) -> type[Executor]:
        """The executor class of a kind; TargetError naming the target if nobody provides it."""
        if kind not in self._kinds and not self._entry_points_read:
            self.register_entry_points()
        with self._lock:
            found = self._kinds.get(kind)
        if found is None:
            who = f"target '{target.name}' uses" if target else "unknown"
            raise TargetError(
                f"{who} executor kind '{kind}', which no installed package provides (known: "
                f"{', '.join(self.names())}). Install the package that provides it (entry-point "
                f"group {ENTRY_POINT_GROUP}), or fix `executor` in the targets file.")
        if not isinstance(found, type):
            found = _import(found) if isinstance(found, str) else found.load()
            if not (isinstance(found, type) and issubclass(found, Executor)):
                raise TargetError(f"executor kind '{kind}' is {found!r}, not a subclass of "
                                  "jupyter_mlpipe.executors.base.Executor")
            with self._lock:
                self._kinds[kind] = found
        return found


kinds = ExecutorRegistry()


def executor_for(target: Target, spec: PipelineSpec, params: dict[str, Any],
                 jobs: int, templates: TemplateLoan | None = None) -> Executor:
    """The executor that runs steps on one target (with the target's kernel, if it names one);
    executors of local kernels get the run's kernel templates lent by the daemon."""
    spec = dataclasses.replace(spec, kernel_name=target.kernel_name(spec))
    cls = kinds.get(target.kind, target)
    if templates is not None and getattr(cls, "borrows_templates", False):
        return cls(spec, params, jobs, target, templates=templates)
    return cls(spec, params, jobs, target)


def check_targets(spec: PipelineSpec, names: Iterable[str], home: Path,
                  config: Targets | None = None) -> dict[str, dict]:
    """Each named target exists and answers; returns its environment for the cache key.

    Raises TargetError naming the target and the fix before any step starts. Each environment
    is recorded, so `mlpipe status` can explain keys without contacting anything."""
    config = config or load_targets(spec.root)
    envs: dict[str, dict] = {}
    for name in sorted(set(names)):
        t = config.get(name)
        env = kinds.get(t.kind, t).probe(spec, t, home)
        record_env(home, name, env)
        envs[name] = key_env(env)
    return envs
