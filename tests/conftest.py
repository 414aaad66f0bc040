"""Shared fixtures: build small notebooks from cell sources, in a fresh folder each test;
pytest-jupyter's server fixtures (jp_fetch, jp_serverapp, ...)."""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import free_port, mlpipe, write_notebook

pytest_plugins = ["pytest_jupyter.jupyter_server"]

# No run daemon unless a test starts its own (test_daemon.py): not even the one a Jupyter server
# of a session-scoped fixture would start, nor the developer's.
os.environ["MLPIPE_DAEMON"] = "off"


@pytest.fixture
def make_nb(tmp_path, monkeypatch):
    monkeypatch.delenv("MLPIPE_HOME", raising=False)

    def make(cells, params=None, name="pipe.ipynb"):
        return write_notebook(tmp_path / name, cells, params)

    return make


@pytest.fixture(scope="session")
def _secret_file(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("keys") / "secret"


@pytest.fixture(autouse=True)
def _quiet_kernels(monkeypatch, _secret_file):
    monkeypatch.setenv("PYTHONWARNINGS", "ignore")
    monkeypatch.setenv("MLPIPE_SECRET_FILE", str(_secret_file))  # never the user's own key
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    yield


@pytest.fixture
def mlpipe_cli():
    """Run the real `mlpipe` console script of this environment."""
    return mlpipe


@pytest.fixture(scope="session")
def gateway(tmp_path_factory):
    """One real `jupyter kernelgateway` on 127.0.0.1, token-protected, in its own folder.

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


