"""Runs as people compare them: a run with its logged parameters and last metrics, and the
differences between two runs (`mlpipe runs --compare`, the panel's run view, sweeps)."""
from __future__ import annotations

from typing import Any

from ..errors import MlpipeError
from .history import History


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
    if ra is None or rb is None:
        missing = a if ra is None else b
        raise MlpipeError(f"no run '{missing}' in {history.path.parent}; `mlpipe runs` lists them")
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
