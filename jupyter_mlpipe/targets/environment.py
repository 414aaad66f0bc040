"""A target's environment as part of each step's cache key: fingerprints, recorded per target.

The environment of a target (kernel name, the kernel's Python version, the GPU model) enters
the key of every step that runs on it. Before a run, each executor kind's `probe()` measures it
(executors/registry.py: check_targets) and records it here, so `mlpipe status` and interactive
runs can explain keys without contacting a gateway or a scheduler.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_path

from .. import atomic
from ..errors import TargetError
from ..models import PipelineSpec
from .config import LOCAL_KINDS, Target, load_targets


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


# ipykernel's own spec, which jupyter_client offers as "python3" when none is installed
NATIVE_KERNELSPEC = {"argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                     "language": "python"}


def kernel_dirs() -> list[str]:
    """Where jupyter_client's KernelSpecManager looks for kernelspecs (jupyter's path, then
    IPython's folder), without importing IPython to find that folder (~0.05 s)."""
    ipython_dir = os.environ.get("IPYTHONDIR") or os.path.join(os.path.expanduser("~"), ".ipython")
    return [*jupyter_path("kernels"), os.path.join(ipython_dir, "kernels")]


def kernelspec_json(kernel_name: str) -> dict | None:
    """The kernel.json of a local kernelspec, searched where jupyter_client searches (its
    path, then IPython's folder), without importing jupyter_client (~0.15 s with its search,
    before a run's first kernel); None when there is no such kernelspec."""
    for folder in kernel_dirs():
        f = Path(folder) / kernel_name / "kernel.json"
        if f.is_file():
            try:
                spec = json.loads(f.read_text())
            except (OSError, ValueError):
                return None
            return spec if isinstance(spec, dict) else None
    return dict(NATIVE_KERNELSPEC) if kernel_name == "python3" else None


def kernelspec_argv(kernel_name: str) -> list[str] | None:
    """argv of a local kernelspec (kernelspec_json)."""
    spec = kernelspec_json(kernel_name)
    return None if spec is None else list(spec.get("argv") or ["python"])


def ipykernel_python(kernel_name: str) -> str | None:
    """The Python an ipykernel kernelspec runs (`python -m ipykernel_launcher ...`), the one its
    kernels can be forked from; None for another kernel, or no such kernelspec."""
    spec = kernelspec_json(kernel_name) or {}
    argv = list(spec.get("argv") or [])
    if str(spec.get("language", "")).lower() != "python" or argv[1:3] not in (
            ["-m", "ipykernel_launcher"], ["-m", "ipykernel"]):
        return None
    return sys.executable if argv[0] in ("python", "python3", "{python}") else argv[0]


def local_kernel_python(kernel_name: str) -> str:
    """major.minor of the Python a local kernelspec runs, without starting a kernel."""
    argv = kernelspec_argv(kernel_name)
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


def key_env(env: dict) -> dict:
    """Keys starting with _ are recorded facts about a target, not part of the cache key."""
    return {k: v for k, v in env.items() if not k.startswith("_")}


def read_recorded(home: Path, name: str) -> dict | None:
    try:
        return json.loads(_recorded_path(home, name).read_text())
    except (OSError, ValueError):
        return None


def record_env(home: Path, name: str, env: dict) -> None:
    path = _recorded_path(home, name)
    atomic.write_text(path, json.dumps(env, sort_keys=True))


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
        if t.kind in LOCAL_KINDS:
            try:
                envs[name] = local_env(spec, t)
            except TargetError:  # no such kernelspec here: `run` will say so
                envs[name] = base_env(spec, t)
            continue
        recorded = read_recorded(home, name)
        # never run there: every step on it is stale anyway
        envs[name] = key_env(recorded) if recorded else base_env(spec, t)
    return envs
