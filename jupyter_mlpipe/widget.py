"""`pipe.widget()`: the pipeline graph as an ipywidgets HTML/SVG widget whose node colours follow
a run live (pass `widget.listener` to `pipe.run`, or call `widget.run(...)`)."""
from __future__ import annotations

import html
import threading
import time
from typing import Any

import ipywidgets

from .graph import Graph

COLORS = {"cached": "#b7e4c7", "reused": "#52b788", "succeeded": "#52b788", "stale": "#ffe8a3",
          "running": "#90caf9", "failed": "#ef9a9a", "skipped": "#e0e0e0", "pending": "#ffffff"}
NODE_H, GAP_X, GAP_Y, PAD = 34, 56, 18, 8


def layout(graph: Graph) -> dict[str, tuple[float, float, float]]:
    """Layered left-to-right layout: column = longest path from a source, rows in notebook
    order. Returns step -> (x, y, width). No Graphviz needed."""
    depth: dict[str, int] = {}
    for n in graph.order:  # topological, so upstream depths are known
        depth[n] = 1 + max((depth[u] for u in graph.upstream[n]), default=-1)
    width = {n: max(72.0, 7.5 * len(n) + 28) for n in graph.names}
    columns: dict[int, list[str]] = {}
    for n in graph.names:
        columns.setdefault(depth[n], []).append(n)
    col_w = {c: max(width[n] for n in names) for c, names in columns.items()}
    tallest = max((len(v) for v in columns.values()), default=0)
    total_h = tallest * NODE_H + (tallest - 1) * GAP_Y
    pos: dict[str, tuple[float, float, float]] = {}
    x = float(PAD)
    for c in sorted(columns):
        names = columns[c]
        h = len(names) * NODE_H + (len(names) - 1) * GAP_Y
        y = PAD + (total_h - h) / 2
        for n in names:
            pos[n] = (x + (col_w[c] - width[n]) / 2, y, width[n])
            y += NODE_H + GAP_Y
        x += col_w[c] + GAP_X
    return pos


def to_svg(graph: Graph, states: dict[str, str], details: dict[str, str] | None = None) -> str:
    """The SVG of `graph`, each node filled by its state and carrying data-step/data-status."""
    pos = layout(graph)
    w = max((x + wd for x, _, wd in pos.values()), default=0) + PAD
    h = max((y + NODE_H for _, y, _ in pos.values()), default=0) + PAD
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="mlpipe-graph" width="{w:.0f}" '
           f'height="{h:.0f}" viewBox="0 0 {w:.0f} {h:.0f}" font-family="sans-serif" '
           'font-size="12"><defs><marker id="mlpipe-arrow" viewBox="0 0 10 10" refX="9" '
           'refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0 0L10 5L0 10z" '
           'fill="#888"/></marker></defs>']
    for n in graph.names:
        for u in graph.upstream[n]:
            x1, y1, w1 = pos[u]
            x2, y2, _ = pos[n]
            sx, sy, ex, ey = x1 + w1, y1 + NODE_H / 2, x2, y2 + NODE_H / 2
            mx = (sx + ex) / 2
            out.append(f'<path d="M{sx:.1f},{sy:.1f} C{mx:.1f},{sy:.1f} {mx:.1f},{ey:.1f} '
                       f'{ex:.1f},{ey:.1f}" fill="none" stroke="#888" '
                       'marker-end="url(#mlpipe-arrow)"/>')
    for n in graph.names:
        x, y, wd = pos[n]
        state = states.get(n, "pending")
        tip = html.escape(f"{n}: {(details or {}).get(n) or state}")
        out.append(f'<g data-step="{html.escape(n)}" data-status="{state}" '
                   f'transform="translate({x:.1f},{y:.1f})"><title>{tip}</title>'
                   f'<rect width="{wd:.1f}" height="{NODE_H}" rx="7" '
                   f'fill="{COLORS.get(state, "#fff")}" stroke="#666"/>'
                   f'<text x="{wd / 2:.1f}" y="{NODE_H / 2 + 4}" text-anchor="middle">'
                   f'{html.escape(n)}</text></g>')
    out.append("</svg>")
    return "".join(out)


class PipelineWidget(ipywidgets.HTML):
    """Live graph of a Pipeline: statuses on creation, then each step's state during a run."""

    def __init__(self, pipeline: Any, **kwargs: Any):
        super().__init__(**kwargs)
        self.pipeline = pipeline
        self.states: dict[str, str] = {}
        self.details: dict[str, str] = {}
        self.caption = ""
        self._lock = threading.Lock()
        self.refresh()

    def refresh(self) -> None:
        """Colour nodes by cached/stale, as `mlpipe status` would."""
        statuses = self.pipeline.status()
        self.states = {s.name: str(s.state) for s in statuses}
        self.details = {s.name: s.describe() for s in statuses}
        self.caption = ("cached: green · stale: yellow · running: blue · failed: red · "
                        "skipped: grey")
        self._draw()

    def listener(self, run: Any, step: Any) -> None:
        """Pass to `pipe.run(listener=...)`: recolours the step that changed."""
        with self._lock:
            self.states[step.name] = str(step.state)
            self.details[step.name] = step.error or str(step.state)
            done = sum(1 for s in run.steps.values() if str(s.state) in
                       ("succeeded", "reused", "failed", "skipped"))
            self.caption = (f"run {run.run_id}: {done}/{len(run.steps)} steps done, "
                            f"{time.time() - run.started:.1f} s")
            self._draw()

    def run(self, **kwargs: Any):
        """`pipe.run(**kwargs)` with this widget following it; returns the RunResult."""
        if not kwargs.get("only"):
            self.states = dict.fromkeys(self.states, "pending")
        result = self.pipeline.run(listener=self.listener, **kwargs)
        self.caption = result.summary()
        self._draw()
        return result

    def _draw(self) -> None:
        self.value = (to_svg(self.pipeline.graph, self.states, self.details)
                      + f'<div class="mlpipe-caption" style="font-size:11px;color:#555">'
                      f"{html.escape(self.caption)}</div>")
