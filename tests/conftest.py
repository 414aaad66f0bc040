"""Shared fixtures: build small notebooks from cell sources, in a fresh folder each test;
pytest-jupyter's server fixtures (jp_fetch, jp_serverapp, ...)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import psutil
import pytest

pytest_plugins = ["pytest_jupyter.jupyter_server"]

ROOT = Path(__file__).resolve().parent.parent
# No run daemon unless a test starts its own (test_daemon.py): not even the one a Jupyter server
# of a session-scoped fixture would start, nor the developer's.
os.environ["MLPIPE_DAEMON"] = "off"


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


def replace_cell(path: Path, startswith: str, new_source: str) -> None:
    nb = nbformat.read(path, as_version=4)
    for c in nb.cells:
        if c.source.startswith(startswith):
            c.source = new_source
            break
    else:
        raise AssertionError(f"no cell starts with {startswith!r}")
    nbformat.write(nb, path)


@pytest.fixture
def mlpipe_cli():
    """Run the real `mlpipe` console script of this environment."""
    import subprocess
    import sys

    exe = Path(sys.executable).with_name("mlpipe")

    def run(*args, cwd=None, env=None):
        return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True,
                              cwd=cwd, env={**os.environ, **(env or {})}, timeout=600)

    return run


MLPIPE = Path(sys.executable).with_name("mlpipe")


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
