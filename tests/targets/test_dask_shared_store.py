"""Dask workers that share no disk with the project: with a shared store (moto's S3 server),
workers started in a folder of their own, through a scheduler address, read inputs from and write
outputs to the store; a fresh clone then reuses every step."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.helpers import free_port, write_pipeline

from jupyter_mlpipe.pipeline.load import load_pipeline
from jupyter_mlpipe.run.runner import run_pipeline

pytest.importorskip("s3fs")
pytest.importorskip("moto")
pytestmark = pytest.mark.slow
TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))
from tests.s3_server import S3Server  # noqa: E402


@pytest.fixture
def scheduler(tmp_path, monkeypatch):
    """A moto S3 server, a `dask scheduler` and one `dask worker`, cwd in their own folder."""
    from jupyter_mlpipe.store import remote

    # open_remote keeps one store per url and options, and the endpoint comes from the
    # environment: a second test in this process would reach the first test's (stopped) server
    remote._OPEN.clear()
    s3 = S3Server(free_port()).start()
    s3.make_bucket("team")
    for k, v in {**s3.env, "MLPIPE_STORE": "s3://team/dask"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("MLPIPE_HOME", raising=False)
    elsewhere = tmp_path / "worker-machine"
    elsewhere.mkdir()
    port = free_port()
    dask = str(Path(sys.executable).with_name("dask"))
    env = {**os.environ, "MLPIPE_STORE": ""}  # the worker is told the store by each task
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], cwd=elsewhere, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    time.sleep(2)
    procs.append(subprocess.Popen([dask, "worker", f"tcp://127.0.0.1:{port}", "--nthreads", "1",
                                   "--no-dashboard", "--local-directory", str(elsewhere)],
                                  cwd=elsewhere, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL))
    time.sleep(3)
    yield f"tcp://127.0.0.1:{port}", elsewhere
    for p in reversed(procs):
        p.kill()
        p.wait(10)
    s3.stop()


def test_workers_without_the_project_folder_run_steps_through_the_store(tmp_path, scheduler):
    address, elsewhere = scheduler
    counter = tmp_path / "count.txt"
    tick = "open({!r}, 'a').write('{{}} ' + os.getcwd() + '\\n')".format(str(counter))
    steps = ["%%step load --out data\n" + tick.format("load") + "\ndata = list(range(10))",
             "%%step train --in data --out score --writes model.txt --target cluster\n"
             + tick.format("train") + "\nopen('model.txt', 'w').write('m')\nscore = sum(data)"]
    toml = f'[targets.cluster]\ndask = "{address}"\n'
    project = tmp_path / "project"
    nb = write_pipeline(project, steps, toml=toml)
    run = run_pipeline(load_pipeline(nb), jobs=1)
    assert run.ok, [s.error for s in run.failed]
    lines = counter.read_text().splitlines()
    train_cwd = Path(lines[1].split(" ", 1)[1])
    assert not train_cwd.is_relative_to(project)  # the worker ran it in a folder of its own
    assert (project / ".mlpipe" / "runs" / run.run_id / "train.ipynb").is_file()
    clone = tmp_path / "clone"
    shutil.copytree(project, clone, ignore=shutil.ignore_patterns(".mlpipe"))
    again = run_pipeline(load_pipeline(clone / "pipe.ipynb"), jobs=1)
    assert {str(s.state) for s in again.steps.values()} == {"reused"}
    assert again.outputs("train")["score"] == 45
    assert (clone / "model.txt").read_text() == "m"
    assert len(counter.read_text().splitlines()) == 2


def test_a_step_on_a_worker_without_the_project_folder_has_a_live_log(tmp_path, scheduler):
    """The worker's kernel cannot write the project's .mlpipe/runs/RUN/STEP.log: its printed
    output comes back as Dask events while it runs (the pipeline view polls that file)."""
    from tests.executors.test_remote_live_log import _log_while_running

    address, _ = scheduler
    _log_while_running(tmp_path / "project", f'[targets.cluster]\ndask = "{address}"\n',
                       "cluster")
