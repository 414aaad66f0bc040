"""Shared fixtures: build small notebooks from cell sources, in a fresh folder each test;
pytest-jupyter's server fixtures (jp_fetch, jp_serverapp, ...)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import mlpipe, write_notebook

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
