"""`pipe.widget()`: the pipeline graph as an anywidget drawn by the panel's own renderer
(labextension/src/graph.ts, bundled into static/widget.js), whose node colours follow a run
live (pass `widget.listener` to `pipe.run`, or call `widget.run(...)`)."""
from __future__ import annotations

import threading
import time
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


class PipelineWidget(anywidget.AnyWidget):
    """Live graph of a Pipeline: statuses on creation, then each step's state during a run."""

    graph = traitlets.Dict().tag(sync=True)  # graph_view.graph_json: steps, edges, ...
    states = traitlets.Dict().tag(sync=True)  # step -> its state in the run being followed
    caption = traitlets.Unicode("").tag(sync=True)
    _esm = ""  # the bundle, read when a widget is made (a clear error if it was not built)
    _css = ""

    def __init__(self, pipeline: Any, **kwargs: Any):
        super().__init__(_esm=_bundle("widget.js"), _css=_bundle("widget.css"), **kwargs)
        self.pipeline = pipeline
        self._lock = threading.Lock()
        self.refresh()

    def refresh(self) -> None:
        """Colour nodes by cached/stale (will or may re-run), as `mlpipe status` would."""
        self.graph = graph_json(self.pipeline)
        self.states = {s["name"]: s["status"] for s in self.graph["steps"]}
        self.caption = LEGEND

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
