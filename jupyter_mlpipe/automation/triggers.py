"""Runs started by something other than a person at the shell (a schedule, a data change, a
sweep point, a REST call): run the pipeline and record what triggered it in the history."""
from __future__ import annotations

from typing import Any

from ..models import PipelineSpec
from ..run.runner import RunResult, run_pipeline
from ..store.files import Store
from ..store.history import History, new_run_id


def record_trigger(spec: PipelineSpec, run_id: str, trigger: str) -> None:
    history = History(Store.for_notebook(spec.path).home)
    try:
        history.set_trigger(run_id, trigger)
    finally:
        history.close()


def run_triggered(spec: PipelineSpec, trigger: str, **options: Any) -> RunResult:
    """run_pipeline(spec, **options), its history row saying `trigger` (even if interrupted)."""
    run_id = options.pop("run_id", None) or new_run_id()
    try:
        return run_pipeline(spec, run_id=run_id, **options)
    finally:
        record_trigger(spec, run_id, trigger)


def last_triggered(spec: PipelineSpec, trigger_prefix: str) -> dict | None:
    """The latest run of this notebook whose trigger starts with `trigger_prefix`."""
    history = History(Store.for_notebook(spec.path).home)
    try:
        return history.last_triggered(trigger_prefix)
    finally:
        history.close()
