"""Metrics and parameters logged inside steps, so runs can be compared, not just cached.

`log_metric`/`log_param` write to the run history (SQLite), mirrored to MLflow when it is
installed and MLFLOW_TRACKING_URI is set; plus the queries behind `mlpipe runs [--compare]`."""
from __future__ import annotations

import json
import math
import numbers
import os
import warnings
from typing import Any

from .errors import MlpipeError
from .in_kernel import context  # filled in place by in_kernel.begin()
from .store.history import History

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


# ---- queries --------------------------------------------------------------------------------
def _source_run(history: History, run_id: str, step: dict) -> str:
    """For a reused step, the run that computed the stored result (its metrics count)."""
    if not step.get("reused") or not step.get("key"):
        return run_id
    return history.computed_by(step["key"], other_than=run_id) or run_id


def run_record(history: History, run_id: str) -> dict | None:
    """A run with its steps, logged params and the last value of each metric (reused steps
    bring the metrics of the run that computed them)."""
    run = history.run(run_id)
    if run is None:
        return None
    metrics: dict[str, dict] = {}
    params: dict[str, Any] = dict(run["params"])
    for s in run["steps"]:
        src = _source_run(history, run["run_id"], s)
        for r in history.logged(src, s["step"]):
            if r["kind"] == "param":
                params[r["name"]] = r["value"]
            else:
                metrics[r["name"]] = {"value": r["value"], "step": s["step"],
                                      "reused": src != run["run_id"], "iteration": r["iteration"]}
    run["logged_params"] = params
    run["last_metrics"] = metrics
    run["reused"] = sum(1 for s in run["steps"] if s["reused"])
    run["duration"] = (run["finished"] - run["started"]) if run["finished"] else None
    return run


def compare(history: History, a: str, b: str) -> dict:
    """Differences between two runs: parameters, metrics, and steps whose keys differ."""
    ra, rb = run_record(history, a), run_record(history, b)
    for rid, r in ((a, ra), (b, rb)):
        if r is None:
            raise MlpipeError(f"no run '{rid}' in {history.path.parent}; `mlpipe runs` lists them")
    pa, pb = ra["logged_params"], rb["logged_params"]
    params = {k: (pa.get(k), pb.get(k)) for k in sorted(set(pa) | set(pb))
              if pa.get(k) != pb.get(k)}
    ma, mb = ra["last_metrics"], rb["last_metrics"]
    metrics = {}
    for k in sorted(set(ma) | set(mb)):
        va = ma.get(k, {}).get("value")
        vb = mb.get(k, {}).get("value")
        if va != vb:
            metrics[k] = (va, vb)
    sa = {s["step"]: s for s in ra["steps"]}
    sb = {s["step"]: s for s in rb["steps"]}
    steps = {}
    for n in list(dict.fromkeys(list(sa) + list(sb))):
        ka, kb = sa.get(n, {}).get("key"), sb.get(n, {}).get("key")
        steps[n] = "only in " + (a if n in sa else b) if (n in sa) != (n in sb) else (
            "same" if ka == kb else "changed")
    return {"a": ra, "b": rb, "params": params, "metrics": metrics, "steps": steps}


def fmt_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}" if math.isfinite(v) else str(v)
    return "-" if v is None else str(v)
