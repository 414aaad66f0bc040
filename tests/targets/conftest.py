"""Fixtures for compute-target tests: notebooks with targets, a real Kernel Gateway subprocess."""
from __future__ import annotations

import dataclasses
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest


def write_notebook(folder: Path, steps: list[str], prelude: str = "import os",
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def gateway(tmp_path_factory):
    """A real `jupyter kernelgateway` on 127.0.0.1, token-protected, in its own folder.

    Its working directory is not the notebooks' folder, so a step that relied on a shared disk
    would fail."""
    cwd = tmp_path_factory.mktemp("gateway-cwd")
    port, token = free_port(), secrets.token_hex(8)
    log = open(cwd.parent / "gateway.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kernel_gateway", "--KernelGatewayApp.ip=127.0.0.1",
         f"--KernelGatewayApp.port={port}", f"--KernelGatewayApp.auth_token={token}"],
        cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            req = urllib.request.Request(url + "/api", headers={"Authorization": f"token {token}"})
            urllib.request.urlopen(req, timeout=1).read()
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail("kernel gateway did not start: "
                            + (cwd.parent / "gateway.log").read_text()[-2000:])
            time.sleep(0.2)
    os.environ["MLPIPE_TEST_GATEWAY_TOKEN"] = token
    yield {"url": url, "token": token, "cwd": cwd, "token_env": "MLPIPE_TEST_GATEWAY_TOKEN"}
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


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
