"""--timeout on remote targets: a real Kernel Gateway and a real Dask LocalCluster stop a step
that runs past its limit; the step fails saying it timed out, the local branch finishes.

# slow (remote, --timeout 2s) | quick (local)
"""
from __future__ import annotations

import time

import pytest
from tests.helpers import write_pipeline

from jupyter_mlpipe.pipeline.load import load_pipeline
from jupyter_mlpipe.run.runner import run_pipeline

pytestmark = pytest.mark.slow

STEPS = ["%%step slow --out x --target remote --timeout 2s\nimport time\ntime.sleep(120)\nx = 1",
         "%%step quick --out y\ny = 2"]


def check(nb) -> None:
    t0 = time.monotonic()
    run = run_pipeline(load_pipeline(nb), jobs=2)
    assert time.monotonic() - t0 < 60  # not the 120 s the step would sleep
    assert str(run.steps["slow"].state) == "failed"
    assert "timed out after 2s" in run.steps["slow"].error
    assert run.outputs("quick") == {"y": 2}


def test_timeout_on_a_gateway_kernel(tmp_path, gateway):
    check(write_pipeline(tmp_path, STEPS, toml=(
        f'[targets.remote]\ngateway = "{gateway["url"]}"\n'
        f'token_env = "{gateway["token_env"]}"\n')))


def test_timeout_on_a_dask_worker(tmp_path):
    check(write_pipeline(tmp_path, STEPS, toml='[targets.remote]\ndask = "local"\nworkers = 1\n'))
