"""`pipe.widget()`: the pipeline graph as an anywidget drawn by the panel's own renderer
(labextension/src/graph.ts, bundled into static/widget.js), whose node colours follow a run
live (pass `widget.listener` to `pipe.run`, or call `widget.run(...)`), and follow the `%%step`
cells this kernel runs (a Run All): each step shows running, then reused, succeeded or failed,
without saving the notebook."""
from __future__ import annotations

import threading
import time
import weakref
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from ..pipeline.graph_view import graph_json

STATIC = Path(__file__).parent.parent / "static"
FINISHED = ("succeeded", "reused", "failed", "skipped", "cancelled")
LEGEND = ("cached: green · stale: yellow (dashed: may re-run) · running: blue · failed: red · "
          "skipped: grey")


def _bundle(name: str) -> str:
    path = STATIC / name
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: the notebook widget's bundle is built with the labextension "
            "(cd labextension && jlpm install && jlpm build; `pip install .` does it)")
    return path.read_text()


_shown: weakref.WeakSet = weakref.WeakSet()  # this kernel's widgets, told of each %%step cell


def step_cell(notebook: str, step: str, state: str, run_id: str) -> None:
    """A `%%step` cell of `notebook` is running or ended (`state`): widgets of it recolour."""
    for w in list(_shown):
        if str(w.pipeline.path) == notebook and step in w.states:
            with w._lock:
                w.states = {**w.states, step: state}
                w.caption = f"interactive run {run_id}: {step} {state}"


class PipelineWidget(anywidget.AnyWidget):
    """Live graph of a Pipeline: statuses on creation, then each step's state during a run."""

    graph = traitlets.Dict().tag(sync=True)  # graph_view.graph_json: steps, edges, ...
    states = traitlets.Dict().tag(sync=True)  # step -> its state in the run being followed
    caption = traitlets.Unicode("").tag(sync=True)
    _esm = ""  # the bundle, read when a widget is made (a clear error if it was not built)
    _css = ""

    def __init__(self, pipeline: Any, broken: dict[str, str] | None = None, **kwargs: Any):
        """`broken`: steps whose cell cannot be read -> why (pipeline/readable.py): drawn
        `invalid`, their messages in the caption."""
        super().__init__(_esm=_bundle("widget.js"), _css=_bundle("widget.css"), **kwargs)
        self.pipeline = pipeline
        self.broken = dict(broken or {})
        self._lock = threading.Lock()
        self.refresh()
        _shown.add(self)

    def refresh(self) -> None:
        """Colour nodes by cached/stale (will or may re-run), as `mlpipe status` would."""
        self.graph = graph_json(self.pipeline, self.broken)
        self.states = {s["name"]: s["status"] for s in self.graph["steps"]}
        self.caption = "\n".join(self.graph["errors"]) or LEGEND

    def listener(self, run: Any, step: Any) -> None:
        """Pass to `pipe.run(listener=...)`: recolours the step that changed."""
        with self._lock:
            self.states = {**self.states, step.name: str(step.state)}
            done = sum(1 for s in run.steps.values() if str(s.state) in FINISHED)
            self.caption = (f"run {run.run_id}: {done}/{len(run.steps)} steps done, "
                            f"{time.time() - run.started:.1f} s")

    def run(self, **kwargs: Any):
        """`pipe.run(**kwargs)` with this widget following it; returns the RunResult."""
        if not kwargs.get("only"):
            self.states = dict.fromkeys(self.states, "pending")
        result = self.pipeline.run(listener=self.listener, **kwargs)
        self.caption = result.summary()
        return result
