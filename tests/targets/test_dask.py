"""Steps as tasks on a real distributed.LocalCluster (2 worker processes, 1 thread each)."""
from __future__ import annotations

import json

import pytest
from tests.helpers import write_pipeline

from jupyter_mlpipe.pipeline.load import load_pipeline
from jupyter_mlpipe.run.runner import run_pipeline

pytestmark = pytest.mark.slow
CLUSTER = '[targets.cluster]\ndask = "local"\nworkers = 2\n'


def test_fan_out_runs_on_both_workers_and_fans_in_locally(tmp_path):
    # seed -> part0..part3 (cluster) -> total (local)
    parts = [f"%%step part{i} --in seed --out p{i} --target cluster\n"
             f"import os, time\ntime.sleep(0.5)\np{i} = (seed + {i}, os.getppid())"
             for i in range(4)]
    nb = write_pipeline(tmp_path, [
        "%%step seed --out seed\nseed = n * 10", *parts,
        "%%step total --in p0 p1 p2 p3 --out total\ntotal = sum(p[0] for p in (p0, p1, p2, p3))",
    ], toml=CLUSTER)
    run = run_pipeline(load_pipeline(nb), jobs=2)
    assert run.ok, [s.error for s in run.failed]
    assert run.outputs("total")["total"] == 4 * 30 + 6
    workers = {run.outputs(f"part{i}")[f"p{i}"][1] for i in range(4)}
    assert len(workers) == 2  # kernels were children of two different worker processes
    meta = json.loads((tmp_path / ".mlpipe" / "runs" / run.run_id / "part0.ipynb").read_text())
    assert meta["metadata"]["mlpipe"]["worker"]["address"].startswith("tcp://")
    again = run_pipeline(load_pipeline(nb), jobs=2)  # all cached: no cluster is started
    assert {str(s.state) for s in again.steps.values()} == {"reused"}


def test_lost_worker_fails_the_step_then_retry_and_resume(tmp_path):
    marker = tmp_path / "killed-once"
    nb = write_pipeline(tmp_path, [
        "%%step first --out a\na = 1",
        "%%step fragile --in a --out b --target cluster\n"
        f"import os, pathlib, signal\nm = pathlib.Path({str(marker)!r})\n"
        "if not m.exists():\n    m.touch()\n    os.kill(os.getppid(), signal.SIGKILL)\n"
        "b = a + 1",
    ], toml=CLUSTER)
    run = run_pipeline(load_pipeline(nb), jobs=2)
    fragile = run.steps["fragile"]
    assert str(fragile.state) == "failed" and "Dask worker running it was lost" in fragile.error
    again = run_pipeline(load_pipeline(nb), jobs=2)
    assert again.ok and str(again.steps["first"].state) == "reused"
    assert again.outputs("fragile")["b"] == 2
    marker.unlink()
    (tmp_path / "mlpipe.toml").write_text(CLUSTER + "retries = 1\n")
    third = run_pipeline(load_pipeline(nb), jobs=2, force=True)
    assert third.ok and third.outputs("fragile")["b"] == 2


def test_step_error_on_a_worker_shows_its_traceback(tmp_path):
    nb = write_pipeline(tmp_path, ["%%step boom --out x --target cluster\nx = {}['missing']"],
                        toml=CLUSTER)
    run = run_pipeline(load_pipeline(nb), jobs=1)
    s = run.steps["boom"]
    assert str(s.state) == "failed" and "KeyError" in s.error and "missing" in s.traceback
