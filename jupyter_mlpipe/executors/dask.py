"""Steps as tasks on a Dask distributed cluster; a worker runs each step notebook in a fresh kernel.

Without a shared store ([store] url), artifacts go through the local store, so every worker must
see it at the same path (true for `dask = "local"`; on a real cluster, a shared filesystem). With
one, a worker runs the step in a temporary folder of its own: inputs come from the shared store,
outputs go to it, and the executed notebook and result come back with the task (remote_step.py).
`dask` is any distributed scheduler address: dask-jobqueue (Slurm, PBS) and dask-kubernetes
clusters are used through theirs. `resources = { GPU = 1 }` becomes Dask worker resources on each task.
distributed (and dask) are imported in the functions: they are optional (the `targets` extra)
and heavy, and this module is loaded to probe a target before we know they are installed.
papermill and nbformat are too: a warm re-run loads this class only to probe (about 1.2 s).
"""
from __future__ import annotations

import concurrent.futures as cf
import logging
import os
import threading
import uuid
import warnings
from pathlib import Path
from typing import Any

from ..errors import StepExecutionError, TargetError
from ..models import PipelineSpec
from ..store import signing
from ..store.remote import StoreConfig, store_config
from ..targets import Target, base_env, gpu_devices, local_kernel_python
from .base import Executor, StepJob, read_result, require_modules
from .live_log import EventWriter, LogFile
from .notebooks import code_cell, step_notebook, warmup_notebook
from .papermill import error_from_papermill, forget_input, save_combined, timeout_error
from .remote_step import run_with_shared_store, worker_env, worker_job, write_returned


def run_on_worker(nb_json: str, out: str, cwd: str, kernel_name: str, params: dict,
                  step: str, timeout: float | None = None,
                  log_topic: str | None = None) -> None:
    """Executed on a Dask worker: papermill on a fresh kernel. Errors come back picklable.
    `timeout` (--timeout): seconds a cell may run; past it the kernel is shut down.
    `log_topic`: the step's printed output goes out as Dask events on it as it is printed
    (the executor writes them to the step's live log)."""
    import nbformat  # heavy: see the module docstring
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    try:
        log = EventWriter(log_topic) if log_topic else None
        papermill.execute_notebook(nbformat.reads(nb_json, as_version=4), out,
                                   parameters=params or None, kernel_name=kernel_name, cwd=cwd,
                                   progress_bar=False, log_output=False,
                                   request_save_on_cell_execute=False,
                                   shutdown_kernel="immediate", execution_timeout=timeout,
                                   stdout_file=log, stderr_file=log)
    except CellTimeoutError:
        raise timeout_error(step, timeout, out, "stopped: its kernel on the worker was shut "
                            "down") from None
    except PapermillExecutionError as exc:
        save_combined(None, Path(out))  # drops the input copy papermill records
        raise error_from_papermill(step, exc, out) from None
    except DeadKernelError as exc:
        raise StepExecutionError(step, "DeadKernelError", f"kernel process stopped ({exc})",
                                 notebook=out, kernel_died=True) from None
    try:
        from distributed import get_worker  # optional: see the module docstring

        worker = get_worker().address
    except (ImportError, ValueError):
        worker = "?"
    nb = nbformat.read(out, as_version=4)
    nb.metadata.setdefault("mlpipe", {})["worker"] = {
        "address": worker, "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES")}
    nbformat.write(forget_input(nb), out)


def _local_cluster(target: Target):
    import dask  # optional: see the module docstring
    from distributed import Client, LocalCluster

    # our retry policy (`retries`) is the one that applies: a lost worker fails the task at once
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "port 8787 in use": we show no dashboard anyway
        cluster = LocalCluster(n_workers=target.workers, threads_per_worker=1, processes=True,
                               resources=dict(target.resources) or None,
                               dashboard_address=None, silence_logs=logging.ERROR)
    return cluster, Client(cluster)


def _connect(target: Target):
    from distributed import Client  # optional: see the module docstring

    try:
        return Client(target.dask, timeout=target.timeout)
    except (OSError, TimeoutError) as exc:
        raise TargetError(
            f"target '{target.name}': Dask scheduler {target.dask} is unreachable ({exc}). Start "
            "it (`dask scheduler` plus `dask worker ADDRESS`), or fix `dask` in the targets file."
        ) from None


def probe_scheduler(target: Target, kernel_name: str, home: Path,
                    shared_store: bool = False) -> dict[str, Any]:
    """The scheduler answers, some worker has the resources asked for, workers see the store
    (unless results go through a shared store, which workers reach themselves)."""
    if target.dask == "local":
        env: dict[str, Any] = {"python": local_kernel_python(kernel_name)}
        if "GPU" in target.resources:
            env["gpu"] = sorted({name for _, name in gpu_devices()})
        return env
    client = _connect(target)
    try:
        workers = client.scheduler_info().get("workers", {})
        if not workers:
            raise TargetError(f"target '{target.name}': scheduler {target.dask} has no workers")
        fit = [w for w, info in workers.items()
               if all(info.get("resources", {}).get(k, 0) >= v
                      for k, v in target.resources.items())]
        if not fit:
            raise TargetError(
                f"target '{target.name}': no worker of {target.dask} offers resources "
                f"{dict(target.resources)}; start workers with e.g. `dask worker ADDRESS "
                f"--resources GPU=1`, or change `resources`.")
        if not shared_store:  # a fresh project has no store yet: make it, then ask
            home.mkdir(parents=True, exist_ok=True)
        sees = {} if shared_store else client.run(os.path.isdir, str(home), workers=fit)
        if not all(sees.values()):
            blind = ", ".join(w for w, ok in sees.items() if not ok)
            raise TargetError(f"target '{target.name}': worker(s) {blind} cannot see the store "
                              f"{home}; mount it at the same path, or set MLPIPE_HOME to a "
                              "shared folder.")
        versions = set(client.run(local_kernel_python, kernel_name, workers=fit).values())
        env = {"python": ",".join(sorted(versions))}
        if "GPU" in target.resources:
            models = client.run(gpu_devices, workers=fit).values()
            env["gpu"] = sorted({name for devs in models for _, name in devs})
        return env
    finally:
        client.close()


class DaskExecutor(Executor):
    """Submits each step as a task; the cluster decides where and how many at once."""

    def __init__(self, pipeline: PipelineSpec, params: dict[str, Any], jobs: int,
                 target: Target):
        self.pipeline, self.params, self.jobs = pipeline, params, max(1, jobs)
        self.target = target
        self.kernel_name = target.kernel_name(pipeline)
        self.cluster = None
        self.client = None
        self._lock = threading.Lock()
        self._pending: set = set()
        config = store_config(pipeline.root)
        self.shared: StoreConfig | None = config if config.url else None
        if self.shared:
            signing.keys()  # made now if new: "local" workers share our key file, and look

    @staticmethod
    def probe(pipeline: PipelineSpec, target: Target, home: Path) -> dict[str, Any]:
        require_modules(target, "distributed")
        shared = bool(store_config(pipeline.root).url)
        return {**base_env(pipeline, target),
                **probe_scheduler(target, target.kernel_name(pipeline), home, shared)}

    def _ensure(self):
        with self._lock:
            if self.client is None:
                if self.target.dask == "local":
                    self.cluster, self.client = _local_cluster(self.target)
                else:
                    self.client = _connect(self.target)
            return self.client

    def notebook(self, job: StepJob) -> Any:
        """Warm-up cells and the step's cells in one notebook, run by one fresh kernel."""
        nb = warmup_notebook(self.pipeline)
        nb.metadata["kernelspec"]["name"] = self.kernel_name
        env = {**worker_env(self.target), **self.target.env}
        nb.cells.insert(0, code_cell(
            "import os as _os\n"
            + (f"_os.environ.update({env!r})\n" if env else "")
            + f"print('jupyter_mlpipe: step {job.step.name} on Dask target "
            f"{self.target.name}, CUDA_VISIBLE_DEVICES=' + "
            "str(_os.environ.get('CUDA_VISIBLE_DEVICES')))", ["mlpipe-internal"]))
        step = step_notebook(worker_job(job) if self.shared else job, self.kernel_name,
                             self.pipeline, kernel_log=False)  # the log comes as events
        nb.metadata["mlpipe"] = {**step.metadata["mlpipe"], "target": self.target.name}
        nb.cells.extend(step.cells)
        return nb

    def submit(self, job: StepJob) -> cf.Future:
        import nbformat  # heavy: see the module docstring

        client = self._ensure()
        job.run_dir.mkdir(parents=True, exist_ok=True)
        nb = nbformat.writes(self.notebook(job))
        fut: cf.Future = cf.Future()
        fut.set_running_or_notify_cancel()
        key = f"mlpipe-{job.step.name}-{uuid.uuid4().hex[:8]}"
        resources = dict(self.target.resources) or None
        # the live log: subscribed before the task is sent, so no line is missed
        log = LogFile(job.run_dir / f"{job.step.name}.log")
        client.subscribe_topic(key, lambda event: log.write(str(event[1])))
        if self.shared:
            task = client.submit(run_with_shared_store, run_on_worker, nb, self.kernel_name, self.params,
                                 job.step.name, self.shared.url, self.shared.options,
                                 job.timeout, key, key=key, pure=False, resources=resources)
        else:
            task = client.submit(run_on_worker, nb, str(job.notebook_path),
                                 str(self.pipeline.root), self.kernel_name, self.params,
                                 job.step.name, job.timeout, key, key=key, pure=False,
                                 resources=resources)
        self._pending.add(task)
        task.add_done_callback(lambda t: self._done(t, job, fut, log))
        return fut

    def _done(self, task, job: StepJob, fut: cf.Future, log: LogFile | None = None) -> None:
        import nbformat  # heavy: see the module docstring

        self._pending.discard(task)
        if log is not None:
            try:
                task.client.unsubscribe_topic(task.key)
            except (ValueError, AttributeError, RuntimeError):
                pass  # the client closed already
            log.close()
        try:
            if task.status == "finished":
                if self.shared:
                    write_returned(job, task.result())
                nb = nbformat.read(job.notebook_path, as_version=4)
                fut.set_result(read_result(job, nb))
                return
            if task.status == "cancelled":
                raise StepExecutionError(job.step.name, "Cancelled", "the task was cancelled")
            exc = task.exception()
            raise _map_error(job, exc)
        except BaseException as exc:  # noqa: BLE001 - handed to the runner
            if not fut.done():
                fut.set_exception(exc)

    def close(self, now: bool = False) -> None:
        with self._lock:
            client, cluster = self.client, self.cluster
            self.client = self.cluster = None
        if client is not None:
            if now and self._pending:
                client.cancel(list(self._pending), force=True)
            client.close()
        if cluster is not None:
            cluster.close()


def _map_error(job: StepJob, exc: BaseException) -> BaseException:
    if isinstance(exc, StepExecutionError):
        return exc
    name = type(exc).__name__
    if name == "KilledWorker" or "CommClosed" in name:
        return StepExecutionError(
            job.step.name, "WorkerLost",
            f"the Dask worker running it was lost ({name}: {exc}); results stored so far are "
            "kept", notebook=str(job.notebook_path))
    return StepExecutionError(job.step.name, name, str(exc), notebook=str(job.notebook_path))

