"""Metrics and parameters logged inside steps, so runs can be compared, not just cached.

`log_metric`/`log_param` write to the run history (SQLite), mirrored to MLflow when it is
installed and MLFLOW_TRACKING_URI is set.
The queries behind `mlpipe runs [--compare]` are store/records.py."""
from __future__ import annotations

import json
import numbers
import os
import warnings
from typing import Any

from .in_kernel import context  # filled in place by in_kernel.begin()
from ..store.history import History

_histories: dict[str, History] = {}
_mlflow_runs: dict[tuple[str, str], Any] = {}  # (run id, step) -> (client, mlflow run id)
_warned = False


def _where() -> dict[str, str] | None:
    global _warned
    if context:
        return context
    if not _warned:
        warnings.warn("jupyter_mlpipe: log_metric/log_param outside a step is not recorded "
                      "(run it inside a %%step cell or a pipeline run)", stacklevel=3)
        _warned = True
    return None


def _history(home: str) -> History:
    if home not in _histories:
        _histories[home] = History(home)
    return _histories[home]


def log_metric(name: str, value: float, step: int | None = None) -> None:
    """Record a metric of the running step; `step` is an iteration number, as in MLflow."""
    where = _where()
    if where is None:
        return
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"log_metric('{name}', ...): the value must be a number, "
                        f"not {type(value).__name__}")
    _history(where["home"]).log_metric(where["run_id"], where["step"], name, float(value), step)
    _mirror(where, "metric", name, float(value), step)


def log_param(name: str, value: Any) -> None:
    """Record a parameter of the running step (shown and compared by `mlpipe runs`)."""
    where = _where()
    if where is None:
        return
    stored = value if isinstance(value, (int, float, str)) and not isinstance(value, bool) \
        else json.dumps(value, default=repr)
    _history(where["home"]).log_param(where["run_id"], where["step"], name, stored)
    _mirror(where, "param", name, value, None)


# ---- MLflow mirror ---------------------------------------------------------------------------
def _mlflow_run(where: dict[str, str]):
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        return None
    key = (where["run_id"], where["step"])
    if key not in _mlflow_runs:
        try:
            from mlflow.tracking import MlflowClient  # optional and heavy: only when mirroring
        except ImportError:
            _mlflow_runs[key] = None
            return None
        client = MlflowClient()
        exp = client.get_experiment_by_name("jupyter_mlpipe")
        exp_id = exp.experiment_id if exp else client.create_experiment("jupyter_mlpipe")
        run = client.create_run(exp_id, run_name=f"{where['run_id']}/{where['step']}",
                                tags={"mlpipe.run_id": where["run_id"],
                                      "mlpipe.step": where["step"]})
        _mlflow_runs[key] = (client, run.info.run_id)
    return _mlflow_runs[key]


def _mirror(where: dict[str, str], kind: str, name: str, value: Any, step: int | None) -> None:
    """Best effort: the run history has the value already; MLflow trouble only warns."""
    try:
        target = _mlflow_run(where)
        if target is None:
            return
        client, run_id = target
        if kind == "metric":
            client.log_metric(run_id, name, value, step=step or 0)
        else:
            client.log_param(run_id, name, value)
    except Exception as exc:  # noqa: BLE001
        warnings.warn(f"jupyter_mlpipe: could not mirror {kind} '{name}' to MLflow: {exc}",
                      stacklevel=3)


def finish() -> None:
    """End the MLflow runs of this kernel's step (called when the step's outputs are saved)."""
    for target in _mlflow_runs.values():
        if target is not None:
            client, run_id = target
            try:
                client.set_terminated(run_id)
            except Exception as exc:  # noqa: BLE001 - the mirror must not fail the step
                warnings.warn(f"jupyter_mlpipe: could not end the MLflow run: {exc}",
                              stacklevel=2)
    _mlflow_runs.clear()
