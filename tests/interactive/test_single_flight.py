"""A `%%step` cell and a batch run computing the same step at once execute it once: the cell
holds the key's lock that batch runs hold (store/files.flight), and the one that waits reuses
the other's result.

# slow   (each execution appends a line to executions.txt)
"""
from __future__ import annotations

import subprocess
import threading
import time

import pytest

from tests.helpers import MLPIPE, run_until_running, write_notebook
from tests.helpers_convert import ipython_shell

BODY = ("import time\nwith open('executions.txt', 'a') as f:\n    f.write('ran\\n')\n"
        "time.sleep(4)\nx = 41 + 1")


@pytest.fixture
def notebook(tmp_path, monkeypatch):
    monkeypatch.delenv("MLPIPE_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    return write_notebook(tmp_path / "flight.ipynb", [f"%%step slow --out x\n{BODY}"])


def executions(folder) -> int:
    path = folder / "executions.txt"
    return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.mark.slow
def test_a_cell_run_while_a_batch_run_computes_the_step_waits_and_reuses(notebook, capsys):
    batch = run_until_running(notebook, "slow")
    ip = ipython_shell()
    ip.run_line_magic("mlpipe", f"notebook {notebook}")
    ip.run_cell_magic("step", "slow --out x", BODY)
    assert batch.wait(timeout=120) == 0, batch.stderr.read()
    assert ip.user_ns["x"] == 42
    assert executions(notebook.parent) == 1
    out = capsys.readouterr().out
    assert "waiting for it" in out and "reused slow" in out, out


@pytest.mark.slow
def test_a_batch_run_started_while_a_cell_computes_the_step_reuses_it(notebook, capsys):
    ip = ipython_shell()
    ip.run_line_magic("mlpipe", f"notebook {notebook}")
    cell = threading.Thread(target=ip.run_cell_magic, args=("step", "slow --out x", BODY))
    cell.start()
    deadline = time.time() + 30
    while executions(notebook.parent) == 0:  # the cell's body is running
        assert time.time() < deadline
        time.sleep(0.05)
    batch = subprocess.run([str(MLPIPE), "run", str(notebook)], capture_output=True, text=True,
                           timeout=120, check=False)
    cell.join(timeout=60)
    assert batch.returncode == 0, batch.stdout + batch.stderr
    assert executions(notebook.parent) == 1, batch.stdout
    assert "reused" in batch.stdout, batch.stdout
