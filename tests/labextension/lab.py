"""A real `jupyter lab` for the panel's browser tests: this checkout's labextension build linked
into a private JUPYTER_DATA_DIR, news off, a token, 127.0.0.1, stopped by its PID."""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import ROOT, free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
BUILD = ROOT / "jupyter_mlpipe" / "labextension"
ARTIFACTS = ROOT / "test-artifacts"


@contextlib.contextmanager
def jupyter_lab(tmp: Path, root: Path, env: dict[str, str] | None = None,
                log_copy: str | None = None):
    """Serve `root` with JupyterLab (env added to this process's, less MLPIPE_HOME); yields
    (url, token, root). `log_copy`: the server log's name under test-artifacts/ afterwards."""
    if not (BUILD / "package.json").exists():
        pytest.skip("the labextension is not built: cd labextension && jlpm build (needs Node)")
    data = tmp / "data"
    (data / "labextensions").mkdir(parents=True)
    (data / "labextensions" / "jupyter-mlpipe-labextension").symlink_to(BUILD)
    config = tmp / "config"
    (config / "labconfig").mkdir(parents=True)
    (config / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    port, token = free_port(), secrets.token_hex(16)
    full = {k: v for k, v in os.environ.items() if k not in ("MLPIPE_HOME", "PYTEST_CURRENT_TEST")}
    full.update(env or {})
    full.update(JUPYTER_CONFIG_DIR=str(config), JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
                JUPYTER_DATA_DIR=str(data), JUPYTER_PREFER_ENV_PATH="0",  # this build first
                PYTHONPATH=os.pathsep.join(
                    [str(ROOT)] + [p for p in [full.get("PYTHONPATH")] if p]))
    log = open(tmp / "lab.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--allow-root", "--ip", "127.0.0.1",
         "--port", str(port), f"--ServerApp.token={token}", "--no-browser",
         f"--ServerApp.root_dir={root}", f"--LabApp.workspaces_dir={tmp / 'ws'}",
         "--LabApp.expose_app_in_browser=True",  # window.jupyterapp, to run commands
         "--ServerApp.log_level=" + os.environ.get("MLPIPE_TEST_LAB_LOG_LEVEL", "INFO")],
        env=full, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        end = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.time() > end:
                    raise RuntimeError("jupyter lab did not start:\n"
                                       + (tmp / "lab.log").read_text()[-3000:])
                time.sleep(0.3)
        yield url, token, root
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        if log_copy:
            ARTIFACTS.mkdir(exist_ok=True)
            (ARTIFACTS / log_copy).write_bytes((tmp / "lab.log").read_bytes())
