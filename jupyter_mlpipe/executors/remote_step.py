"""A step on a Dask worker that shares no disk with us: it reads and writes the shared store.

The step notebook names the store and its result file relative to the kernel's folder, a
temporary folder of the worker's own; the worker uploads what the step stored (data only: the
entry is written by the runner, through store/results.py) and returns the executed notebook and
the result file's text, which `write_returned` puts where the runner reads them.
Trust: the worker's kernel checks each input it fetches against its signature (store/remote.py)
and signs its outputs, with the worker's key; so every worker needs the team key (its
MLPIPE_SECRET_FILE pointing at it), and a worker without a key refuses the step rather than
make one nobody trusts. The key never travels with a task.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from ..errors import StepExecutionError
from ..store import signing
from ..store.files import Store
from ..store.remote import RemoteStore
from ..targets import Target
from .base import StepJob

WORKER_HOME = ".mlpipe"


def worker_job(job: StepJob) -> StepJob:
    """The job as the worker's kernel sees it: store and result under its own folder."""
    return dataclasses.replace(job, store_home=Path(WORKER_HOME), run_dir=Path("."))


def worker_env(target: Target) -> dict[str, str]:
    """Variables set first in a step's kernel on a worker: a step that asks for no GPU sees
    none (as kernel_environment.hidden_gpus does for local kernels), unless its env says."""
    if target.gpus or "GPU" in target.resources or "CUDA_VISIBLE_DEVICES" in target.env:
        return {}
    return {"CUDA_VISIBLE_DEVICES": ""}


def require_key(step: str) -> None:
    """On a worker: refuse the step unless a signing key is there (see the module docstring)."""
    path = signing.secret_path()
    if not path.is_file():
        raise StepExecutionError(
            step, "NoSigningKey",
            f"this Dask worker has no signing key ({path}). It checks the inputs it fetches from "
            "the shared store against your team key and signs its outputs with it: start the "
            "workers with MLPIPE_SECRET_FILE pointing at the team key file (e.g. "
            "`MLPIPE_SECRET_FILE=/secrets/mlpipe-team dask worker ADDRESS`).")
    signing.keys()  # an unreadable key fails here, with its own message


def run_with_shared_store(run_on_worker: Callable[..., None], nb_json: str, kernel_name: str,
                          params: dict, step: str, url: str, options: dict,
                          timeout: float | None = None,
                          log_topic: str | None = None) -> tuple[str, str]:
    """Executed on a Dask worker: run the step in a temporary folder (with `run_on_worker`,
    dask.py's plain task), upload its outputs; returns the notebook's and result's text."""
    require_key(step)
    work = Path(tempfile.mkdtemp(prefix=f"mlpipe-{step}-"))
    # the step's kernel inherits these, so in_kernel.load fetches inputs from the shared store
    os.environ.update(MLPIPE_STORE=url, MLPIPE_STORE_OPTIONS=json.dumps(options))
    try:
        out = work / f"{step}.ipynb"
        run_on_worker(nb_json, str(out), str(work), kernel_name, params, step, timeout,
                      log_topic)
        result_text = (work / f"{step}.result.json").read_text()
        result = json.loads(result_text)
        RemoteStore(url, options).push_data(result["outputs"], result["writes"],
                                            Store(work / WORKER_HOME))
        return out.read_text(), result_text
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_returned(job: StepJob, returned: tuple[str, str]) -> None:
    """Put the notebook and result a worker returned where read_result looks."""
    nb_text, result_text = returned
    job.run_dir.mkdir(parents=True, exist_ok=True)
    job.notebook_path.write_text(nb_text)
    job.result_path.write_text(result_text)
