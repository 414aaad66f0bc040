"""Runs started by something other than a person at the shell (a schedule, a data change, a
sweep point, a REST call) say so in the history (RunOptions.trigger); this finds the last."""
from __future__ import annotations

from ..models import PipelineSpec
from ..store.files import Store
from ..store.history import History


def last_triggered(spec: PipelineSpec, trigger_prefix: str) -> dict | None:
    """The latest run of this notebook whose trigger starts with `trigger_prefix`."""
    history = History(Store.for_notebook(spec.path).home)
    try:
        return history.last_triggered(trigger_prefix)
    finally:
        history.close()
