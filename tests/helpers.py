"""Helpers every test may import (`from tests.helpers import ...`): notebooks built from cell
sources, the real `mlpipe` console script, waiting, free ports, kernel processes. Fixtures live
in conftest.py files; nothing here is a fixture."""
from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import psutil

ROOT = Path(__file__).resolve().parent.parent
MLPIPE = Path(sys.executable).with_name("mlpipe")  # this environment's console script
NOTEBOOKS = ROOT / "tests" / "notebooks"  # fixture notebooks, one per case


def write_notebook(path: Path, cells: list, params: str | None = None) -> Path:
    """cells: source strings (code) or ("md", text). A parameters cell goes first if given."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells.append(nbformat.v4.new_code_cell("%load_ext jupyter_mlpipe"))
    if params is not None:
        c = nbformat.v4.new_code_cell(params)
        c.metadata["tags"] = ["parameters"]
        nb.cells.append(c)
    for c in cells:
        if isinstance(c, tuple):
            nb.cells.append(nbformat.v4.new_markdown_cell(c[1]))
        else:
            nb.cells.append(nbformat.v4.new_code_cell(c))
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def write_pipeline(folder: Path, steps: list[str], prelude: str = "import os",
                   params: str = "n = 3", toml: str | None = None,
                   name: str = "pipe.ipynb") -> Path:
    """A %%step notebook: parameters cell, prelude, then one cell per step source."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    p = nbformat.v4.new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_code_cell("%load_ext jupyter_mlpipe"), p,
                nbformat.v4.new_code_cell(prelude)]
    nb.cells += [nbformat.v4.new_code_cell(s) for s in steps]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    nbformat.write(nb, path)
    if toml is not None:
        (folder / "mlpipe.toml").write_text(toml)
    return path


def replace_cell(path: Path, startswith: str, new_source: str) -> None:
    nb = nbformat.read(path, as_version=4)
    for c in nb.cells:
        if c.source.startswith(startswith):
            c.source = new_source
            break
    else:
        raise AssertionError(f"no cell starts with {startswith!r}")
    nbformat.write(nb, path)


def mlpipe(*args: str | Path, cwd: str | Path | None = None, env: dict | None = None,
           timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the real `mlpipe` console script; `env` adds to this process's environment (a None
    value removes the variable)."""
    merged = {**os.environ, **(env or {})}
    return subprocess.run([str(MLPIPE), *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env={k: v for k, v in merged.items() if v is not None}, timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float = 60.0, every: float = 0.1):
    """The first truthy value of `predicate()`, polled every `every` s; fails after `timeout`."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")


def run_until_running(path: Path, step: str, *args: str) -> subprocess.Popen:
    """`mlpipe run PATH ARGS` in the background, returned once `step` is running (and 1 s
    more, so its kernel is busy in the step), for tests that stop a run."""
    proc = subprocess.Popen([str(MLPIPE), "run", str(path), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    for line in proc.stdout:
        if step in line and "running" in line:
            break
        assert time.time() < deadline
    time.sleep(1.0)
    return proc


def kernel_processes(folder: Path) -> list[int]:
    """Live kernels (started plainly, or forked: they keep their template's argv) and kernel
    templates whose working directory is `folder`."""
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            line = " ".join(p.info["cmdline"] or [])
            if ("ipykernel_launcher" in line or "kernels.forkserver" in line) and \
                    p.cwd() == str(folder) and p.status() != psutil.STATUS_ZOMBIE:
                found.append(p.pid)
        except psutil.Error:
            continue
    return found


def run_on_fake_gpus(nb: Path, devices: list[tuple[str, str]]):
    """Run `nb` with the steps of target `accel` on a GpuExecutor (gpus = 1) that is given
    `devices` (index, model) in place of what nvidia-smi lists."""
    from jupyter_mlpipe.executors.gpu import GpuExecutor
    from jupyter_mlpipe.executors.registry import executor_for
    from jupyter_mlpipe.executors.routing import RoutingExecutor
    from jupyter_mlpipe.pipeline.load import load_pipeline
    from jupyter_mlpipe.run.runner import run_pipeline

    def build(target, spec, params, jobs):
        if target.name == "accel":
            return GpuExecutor(spec, params, jobs, dataclasses.replace(target, gpus=1), devices)
        return executor_for(target, spec, params, jobs)

    return run_pipeline(load_pipeline(nb), jobs=2, executor_factory=lambda s, p, j:
                        RoutingExecutor(s, p, j, build=build))
