"""A step on another target (a Kernel Gateway kernel, a Dask worker) has a live log as a local
step does: what it prints is in .mlpipe/runs/RUN/STEP.log (what the pipeline view polls) while
it still runs, not only once it ended. Before, the file was written on the worker, or not at all.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from jupyter_mlpipe.pipeline.load import load_pipeline
from jupyter_mlpipe.run.runner import run_pipeline
from tests.helpers import write_pipeline

pytestmark = pytest.mark.slow


def _wait_for(cond, timeout: float, what: str):
    end = time.time() + timeout
    while time.time() < end:
        got = cond()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _log_while_running(tmp_path: Path, toml: str, target: str) -> None:
    go = tmp_path / "go"
    step = (f"%%step talk --out done --target {target}\nimport os, sys, time\n"
            "print('epoch 1 loss 0.5', flush=True)\n"
            "print('a warning', file=sys.stderr, flush=True)\n"
            f"while not os.path.exists({str(go)!r}):\n    time.sleep(0.1)\n"
            "print('epoch 2 loss 0.25')\ndone = True")
    nb = write_pipeline(tmp_path, [step], toml=toml)
    result: dict = {}
    runner = threading.Thread(target=lambda: result.update(
        run=run_pipeline(load_pipeline(nb), jobs=1)))
    runner.start()
    try:
        def log_text() -> str:
            logs = list((tmp_path / ".mlpipe" / "runs").glob("*/talk.log"))
            return logs[0].read_text() if logs else ""

        # the step is still waiting for `go`: its first lines are in the log already
        text = _wait_for(lambda: "epoch 1" in log_text() and "a warning" in log_text()
                         and log_text(), 180, "the first lines in the live log")
        assert "epoch 2" not in text and runner.is_alive()
    finally:
        go.write_text("")
        runner.join(180)
    assert result["run"].ok, [s.error for s in result["run"].failed]
    lines = log_text().splitlines()
    assert lines.count("epoch 1 loss 0.5") == 1 and lines[-1] == "epoch 2 loss 0.25", lines


def test_a_gateway_step_log_streams_while_it_runs(tmp_path, gateway):
    from tests.targets.test_gateway import toml

    _log_while_running(tmp_path, toml(gateway), "remote")


def test_a_dask_step_log_streams_while_it_runs(tmp_path):
    pytest.importorskip("distributed")
    _log_while_running(tmp_path, '[targets.cluster]\ndask = "local"\nworkers = 1\n', "cluster")
