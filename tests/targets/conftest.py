"""Fixtures for compute-target tests: notebooks with targets, a real Kernel Gateway subprocess."""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.helpers import free_port






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


