"""Fixtures of the REST API tests: a real Jupyter server (pytest-jupyter) with jupyter_mlpipe's
extension enabled, and the demo pipeline in its root.

# load -> left, right -> join   (tests/notebooks/panel_demo.ipynb)
"""
from __future__ import annotations

import shutil

import pytest

from tests.helpers import NOTEBOOKS



@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mlpipe": True}}}


@pytest.fixture
def demo(jp_root_dir, monkeypatch):
    """panel_demo.ipynb copied into the served root; returns its path relative to the root."""
    monkeypatch.delenv("MLPIPE_HOME", raising=False)
    (jp_root_dir / "work").mkdir()
    shutil.copy(NOTEBOOKS / "panel_demo.ipynb", jp_root_dir / "work" / "demo.ipynb")
    return "work/demo.ipynb"
