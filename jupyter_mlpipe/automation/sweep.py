"""Parameter sweeps: the Cartesian grid of swept values, run so that each distinct step key is
computed once, with one recorded run per point and a table of their metrics.

Points run in waves. A step's key depends on the swept parameters it (or its upstream) reads;
a point joins a wave only if no other point of that wave needs one of the same not-yet-computed
keys, so two concurrent runs never compute the same result. The first wave is one point: it
computes the steps that read no swept parameter, which every later point reuses.
"""
from __future__ import annotations

import ast
import concurrent.futures as cf
import dataclasses
import itertools
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..pipeline.analysis import prelude_closure
from ..errors import MlpipeError
from ..pipeline.graph import Graph
from ..models import PipelineSpec, RunState
from ..run.result import RunResult
from ..run.runner import RunOptions, default_jobs, run_pipeline
from ..store.files import Store
from ..store.history import History
from ..store.records import run_record


def parse_value(text: str) -> Any:
    """-p and --sweep values: Python literals where they parse (3, 0.1, True), else strings."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_sweep(items: list[str]) -> dict[str, list[Any]]:
    """["n=1,2", "lr=0.1,0.01"] -> {"n": [1, 2], "lr": [0.1, 0.01]}."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        name, eq, values = item.partition("=")
        name = name.strip()
        if not eq or not name or not values.strip():
            raise MlpipeError(f"--sweep {item!r}: write NAME=V1,V2,... (e.g. --sweep n=10,100)")
        if name in grid:
            raise MlpipeError(f"--sweep {name} is given twice; list all its values once")
        grid[name] = [parse_value(v.strip()) for v in values.split(",")]
    return grid


def grid_points(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    names = list(grid)
    return [dict(zip(names, combo)) for combo in itertools.product(*(grid[n] for n in names))]


def swept_reads(spec: PipelineSpec, swept: set[str]) -> dict[str, frozenset[str]]:
    """For each step, the swept parameters its key depends on: read by it, by the prelude it
    needs, or by any step upstream of it."""
    graph = Graph(spec)
    direct: dict[str, set[str]] = {}
    for step in spec.steps:
        closure = prelude_closure(spec.prelude_above(step), set(step.free_names))
        used = set(step.free_names) | {n for st in closure for n in st.uses}
        direct[step.name] = used & swept
    return {n: frozenset(direct[n].union(*(direct[u] for u in graph.ancestors(n))))
            for n in graph.order}


def plan_waves(points: list[dict[str, Any]],
               reads: dict[str, frozenset[str]]) -> list[list[int]]:
    """Point indices grouped in waves; within a wave no two points share an uncomputed key."""
    done: set[tuple] = set()
    pending = list(range(len(points)))
    waves: list[list[int]] = []
    while pending:
        claimed: set[tuple] = set()
        wave, rest = [], []
        for i in pending:
            needs = {(step, tuple(sorted((n, repr(points[i][n])) for n in names)))
                     for step, names in reads.items()} - done
            if needs & claimed:
                rest.append(i)
            else:
                wave.append(i)
                claimed |= needs
        waves.append(wave)
        done |= claimed
        pending = rest
    return waves


@dataclass(frozen=True, slots=True)
class SweepPoint:
    """One point of a sweep: its parameters, its run, and the metrics its steps logged."""

    params: dict[str, Any]
    run_id: str | None
    state: str
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True, slots=True)
class SweepResult:
    """All points of a sweep, in grid order."""

    sweep_id: str
    swept: tuple[str, ...]
    points: tuple[SweepPoint, ...]

    @property
    def ok(self) -> bool:
        return all(p.state == str(RunState.SUCCEEDED) for p in self.points)

    def sorted_by(self, metric: str | None, descending: bool = False) -> list[SweepPoint]:
        if not metric:
            return list(self.points)
        have = [p for p in self.points if metric in p.metrics]
        have.sort(key=lambda p: p.metrics[metric], reverse=descending)
        return have + [p for p in self.points if metric not in p.metrics]

    def to_json(self) -> dict[str, Any]:
        return {"sweep_id": self.sweep_id, "swept": list(self.swept), "ok": self.ok,
                "points": [{"params": p.params, "run_id": p.run_id, "state": p.state,
                            "metrics": p.metrics, "error": p.error} for p in self.points]}


PointListener = Callable[[int, SweepPoint], None]


def _metrics(spec: PipelineSpec, run_id: str) -> dict[str, float]:
    history = History(Store.for_notebook(spec.path).home)
    try:
        record = run_record(history, run_id) or {}
    finally:
        history.close()
    return {k: m["value"] for k, m in (record.get("last_metrics") or {}).items()}


def _run_point(spec: PipelineSpec, options: RunOptions) -> SweepPoint:
    params = options.params or {}
    try:
        run: RunResult = run_pipeline(spec, options)
    except MlpipeError as exc:
        return SweepPoint(params, None, str(RunState.FAILED), {}, str(exc))
    error = "; ".join(f"{s.name}: {(s.error or '').splitlines()[0] if s.error else ''}"
                      for s in run.failed) or None
    return SweepPoint(params, run.run_id, str(run.state), _metrics(spec, run.run_id), error)


def new_sweep_id() -> str:
    """A sweep's id: in each point's trigger ("sweep ID point 2/6"), so `mlpipe runs`, the
    REST API and the panel all find a sweep by the one id its starter printed or returned."""
    return secrets.token_hex(4)


def point_trigger(sweep_id: str, i: int, n: int) -> str:
    return f"sweep {sweep_id} point {i + 1}/{n}"


def sweep_from_history(home: Path, sweep_id: str) -> dict[str, Any] | None:
    """A sweep as GET /sweeps/ID answers it, rebuilt from the run history (one started by
    the CLI or another server); None if no run has its id."""
    history = History(home)
    try:
        runs = history.triggered(f"sweep {sweep_id} point ")
        if not runs:
            return None
        points: dict[int, dict[str, Any]] = {}
        total = 0
        for r in runs:
            at = re.fullmatch(rf"sweep {re.escape(sweep_id)} point (\d+)/(\d+)", r["trigger"])
            if not at:
                continue
            i, total = int(at.group(1)) - 1, int(at.group(2))
            record = run_record(history, r["run_id"]) or {}
            points[i] = {"params": r["params"], "run_id": r["run_id"], "state": r["state"],
                         "metrics": {k: m["value"]
                                     for k, m in (record.get("last_metrics") or {}).items()},
                         "error": r.get("error")}
    finally:
        history.close()
    done = len(points) == total and all(p["state"] not in ("running", "pending")
                                        for p in points.values())
    swept = sorted({k for p in points.values() for k, v in p["params"].items()
                    if len({json.dumps(q["params"].get(k), sort_keys=True, default=str)
                            for q in points.values()}) > 1})
    if not done:
        return {"sweep_id": sweep_id, "state": "running", "total": total,
                "points": {str(i): p["run_id"] for i, p in sorted(points.items())}}
    ok = all(p["state"] == str(RunState.SUCCEEDED) for p in points.values())
    return {"sweep_id": sweep_id, "state": "succeeded" if ok else "failed", "ok": ok,
            "swept": swept, "total": total, "points": [points[i] for i in sorted(points)]}


def run_sweep(spec: PipelineSpec, grid: dict[str, list[Any]], options: RunOptions | None = None,
              on_point: PointListener | None = None,
              sweep_id: str | None = None) -> SweepResult:
    """Run every point of `grid`, with the options' fixed `params` beside it and its `jobs`
    shared among the points running at once; a failed point does not stop the others.
    `sweep_id`: the id its starter already showed (new_sweep_id() if None)."""
    options = options or RunOptions()
    params, jobs = options.params, options.jobs
    unknown = sorted(set(grid) - set(spec.parameters))
    if unknown:
        raise MlpipeError(f"--sweep {', '.join(unknown)}: not a parameter of {spec.path.name} "
                          f"(its parameters cell defines {', '.join(spec.parameters) or 'none'})")
    if not grid:
        raise MlpipeError("a sweep needs at least one parameter with values")
    points = [{**(params or {}), **p} for p in grid_points(grid)]
    sweep_id = sweep_id or new_sweep_id()
    jobs = jobs or default_jobs()
    results: dict[int, SweepPoint] = {}
    cancel = options.cancel or threading.Event()
    for wave in plan_waves(points, swept_reads(spec, set(grid))):
        if cancel.is_set():
            break
        at_once = max(1, min(len(wave), jobs))
        per_point = max(1, jobs // at_once)
        with cf.ThreadPoolExecutor(at_once, thread_name_prefix="mlpipe-sweep") as pool:
            futures = {pool.submit(_run_point, spec, dataclasses.replace(
                options, params=points[i], jobs=per_point, kind="sweep", cancel=cancel,
                trigger=point_trigger(sweep_id, i, len(points)))): i for i in wave}
            try:
                for fut in cf.as_completed(futures):
                    i = futures[fut]
                    results[i] = fut.result()
                    if on_point is not None:
                        on_point(i, results[i])
            except KeyboardInterrupt:  # Ctrl-C/SIGTERM: every point stops its kernels
                cancel.set()
                raise
    for i, p in enumerate(points):
        results.setdefault(i, SweepPoint(p, None, str(RunState.CANCELLED), {}, "not run"))
    return SweepResult(sweep_id, tuple(grid), tuple(results[i] for i in range(len(points))))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "-" if value is None else str(value)


def format_table(result: SweepResult, sort: str | None = None,
                 descending: bool = False) -> str:
    """One row per point: swept parameters, state, run id and every logged metric."""
    metrics = sorted({m for p in result.points for m in p.metrics})
    header = [*result.swept, "state", "run", *metrics]
    rows = [[_cell(p.params.get(n)) for n in result.swept] + [p.state, p.run_id or "-"]
            + [_cell(p.metrics.get(m)) for m in metrics]
            for p in result.sorted_by(sort, descending)]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip()
             for line in [header, *rows]]
    done = sum(1 for p in result.points if p.state == str(RunState.SUCCEEDED))
    lines.append(f"sweep {result.sweep_id}: {done}/{len(result.points)} points succeeded")
    return "\n".join(lines)
