"""Compute targets: read them from mlpipe.toml / pyproject.toml, check them, describe their env.

A target says where a step's kernel runs: `local` (a kernel on this machine, the default),
`gateway = URL` (a kernel started by Jupyter Kernel / Enterprise Gateway) or `dask = ADDRESS`
(a task on a Dask distributed cluster; "local" starts a LocalCluster). `gpus = N` asks for N
devices of this machine. The environment of a target (kernel name, the kernel's Python version,
the GPU model) is part of each step's cache key; `check_targets` probes it once per run, before
any step starts, and records it so `mlpipe status` can explain keys without contacting anything.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .errors import TargetError
from .models import PipelineSpec

LOCAL = "local"
_KEYS = {"kernel", "gateway", "token_env", "dask", "resources", "gpus", "env", "retries",
         "timeout", "workers"}


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

    @property
    def kind(self) -> str:
        return "gateway" if self.gateway else "dask" if self.dask else "local"

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
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
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
    for name, table in (data.get("targets") or {}).items():
        targets[name] = parse_target(name, table, source)
    return Targets(targets, source)


def override_target(spec: PipelineSpec, name: str) -> PipelineSpec:
    """`mlpipe run --target NAME`: every step runs on NAME."""
    steps = tuple(dataclasses.replace(s, target=name) for s in spec.steps)
    return dataclasses.replace(spec, steps=steps)


# ---- environment (part of the cache key) -------------------------------------------------

def gpu_devices() -> list[tuple[str, str]]:
    """(index, name) of this machine's NVIDIA GPUs; [] without nvidia-smi."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run([exe, "--query-gpu=index,name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [tuple(x.strip() for x in line.split(",", 1)) for line in out.splitlines()
            if "," in line]


_PYTHONS: dict[tuple, str] = {}


def _kernelspec_argv(kernel_name: str) -> list[str] | None:
    """argv of a local kernelspec, read from its kernel.json (jupyter_client's search path)."""
    from jupyter_core.paths import jupyter_path

    for folder in jupyter_path("kernels"):
        f = Path(folder) / kernel_name / "kernel.json"
        if f.is_file():
            try:
                return list(json.loads(f.read_text()).get("argv") or ["python"])
            except (OSError, ValueError):
                return None
    return ["python"] if kernel_name == "python3" else None  # ipykernel's built-in spec


def local_kernel_python(kernel_name: str) -> str:
    """major.minor of the Python a local kernelspec runs, without starting a kernel."""
    argv = _kernelspec_argv(kernel_name)
    if argv is None:
        raise TargetError(f"no kernelspec named '{kernel_name}' here; `jupyter kernelspec list` "
                          "shows those installed")
    exe = argv[0]
    v = sys.version_info
    if exe in ("python", f"python{v[0]}", f"python{v[0]}.{v[1]}", sys.executable):
        return f"{v[0]}.{v[1]}"  # jupyter_client runs these with sys.executable
    found = shutil.which(exe)
    key = (found, os.stat(found).st_mtime if found else None)
    if key not in _PYTHONS:
        try:
            _PYTHONS[key] = subprocess.run(
                [exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True, text=True, timeout=20).stdout.strip() or "?"
        except (OSError, subprocess.SubprocessError):
            _PYTHONS[key] = "?"
    return _PYTHONS[key]


def base_env(spec: PipelineSpec, t: Target) -> dict[str, Any]:
    env: dict[str, Any] = {"target": t.name, "kernel": t.kernel_name(spec)}
    if t.env:
        env["env"] = dict(sorted(t.env.items()))
    return env


def local_env(spec: PipelineSpec, t: Target) -> dict[str, Any]:
    env = {**base_env(spec, t), "python": local_kernel_python(t.kernel_name(spec))}
    if t.gpus:
        env["gpu"] = sorted({name for _, name in gpu_devices()})
    return env


def _recorded_path(home: Path, name: str) -> Path:
    return home / "targets" / f"{name}.json"


def _key_env(env: dict) -> dict:
    """Keys starting with _ are recorded facts about a target, not part of the cache key."""
    return {k: v for k, v in env.items() if not k.startswith("_")}


def read_recorded(home: Path, name: str) -> dict | None:
    try:
        return json.loads(_recorded_path(home, name).read_text())
    except (OSError, ValueError):
        return None


def record_env(home: Path, name: str, env: dict) -> None:
    path = _recorded_path(home, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(env, sort_keys=True))
    os.replace(tmp, path)


def recorded_envs(spec: PipelineSpec, home: Path) -> dict[str, dict]:
    """Environments for `status` and interactive runs: probed locally, recorded for remote ones."""
    try:
        config = load_targets(spec.root)
    except TargetError:
        return {}
    envs: dict[str, dict] = {}
    for name in {s.target for s in spec.steps}:
        t = config.targets.get(name)
        if t is None:
            continue
        if t.kind == "local":
            try:
                envs[name] = local_env(spec, t)
            except TargetError:  # no such kernelspec here: `run` will say so
                envs[name] = base_env(spec, t)
            continue
        recorded = read_recorded(home, name)
        # never run there: every step on it is stale anyway
        envs[name] = _key_env(recorded) if recorded else base_env(spec, t)
    return envs


def _needs(t: Target, *modules: str) -> None:
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise TargetError(f"target '{t.name}' ({t.kind}) needs {', '.join(missing)}: "
                          "pip install 'jupyter_mlpipe[targets]'")


def check_targets(spec: PipelineSpec, names: Iterable[str], home: Path,
                  config: Targets | None = None) -> dict[str, dict]:
    """Each named target exists and answers; returns its environment for the cache key.

    Raises TargetError naming the target and the fix before any step starts."""
    config = config or load_targets(spec.root)
    envs: dict[str, dict] = {}
    for name in sorted(set(names)):
        t = config.get(name)
        if t.kind == "gateway":
            _needs(t, "jupyter_server", "websocket")
            from .executors.remote_kernel import probe_gateway

            env = {**base_env(spec, t),
                   **probe_gateway(t, t.kernel_name(spec), read_recorded(home, name))}
        elif t.kind == "dask":
            _needs(t, "distributed")
            from .executors.dask import probe_scheduler

            env = {**base_env(spec, t), **probe_scheduler(t, t.kernel_name(spec), home)}
        else:
            env = local_env(spec, t)
            if t.gpus and len(gpu_devices()) < t.gpus:
                raise TargetError(
                    f"target '{name}' asks for {t.gpus} GPU(s), but nvidia-smi lists "
                    f"{len(gpu_devices())} here. Run those steps on a machine with GPUs, or use "
                    "another --target.")
        record_env(home, name, env)
        envs[name] = _key_env(env)
    return envs
