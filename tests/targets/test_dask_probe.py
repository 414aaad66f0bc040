"""The probe of a Dask target with its own scheduler, on a fresh project (no .mlpipe/ yet)."""
from __future__ import annotations

import pytest

from jupyter_mlpipe.executors.dask import probe_scheduler
from jupyter_mlpipe.targets.config import Target

distributed = pytest.importorskip("distributed")


def test_a_fresh_project_passes_the_probe_and_gets_its_store(tmp_path):
    home = tmp_path / "project" / ".mlpipe"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        target = Target("cluster", dask=cluster.scheduler_address)
        env = probe_scheduler(target, "python3", home)
    assert home.is_dir() and env["python"]
