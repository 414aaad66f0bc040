"""REST routes the panel's run view reads: one run's record (steps, parameters, metrics), two runs
compared, metrics across runs, and a failed step's traceback from its executed notebook."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import tornado.web
from jupyter_server.auth.decorator import authorized
from jupyter_server.utils import url_path_join

from ..errors import MlpipeError
from ..pipeline.graph_view import json_safe
from ..store.files import Store
from ..store.history import History
from ..store.records import compare, run_record
from .handlers import MlpipeHandler, _mapped
from .paths import relative
from .runs import relative_text

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
FAILING_LINE = re.compile(r"^-+>\s*(\d+)\s?(.*)$")  # IPython marks the failing line "----> 3 x"
METRIC_RUNS = 30
TABLE_RUNS = 100


def _step_json(s: dict[str, Any], root: str) -> dict[str, Any]:
    """A history step row as the panel reads it (same names as a live run's steps)."""
    return {"name": s["step"], "state": s["state"], "started": s["started"],
            "finished": s["finished"], "reused": bool(s["reused"]),
            "duration": (s["finished"] - s["started"]) if s["finished"] and s["started"]
            else None, "error": relative_text(s["error"], root),
            "has_notebook": bool(s.get("notebook")), "attempts": s.get("attempts") or 1,
            "attempt_errors": [relative_text(e, root) for e in s.get("attempt_errors") or []]}


def record_json(history: History, run_id: str, nb: Path, root: str) -> dict[str, Any] | None:
    """tracking.run_record of a run of `nb`, with its steps renamed for the client."""
    run = run_record(history, run_id)
    if run is None or Path(run["notebook"] or "") != nb:
        return None
    return json_safe({
        "run_id": run["run_id"], "state": run["state"], "started": run["started"],
        "finished": run["finished"], "duration": run["duration"],
        "error": relative_text(run["error"], root), "params": run["params"],
        "logged_params": run["logged_params"], "metrics": run["last_metrics"],
        "steps": [_step_json(s, root) for s in run["steps"]], "live": False})


def _with_history(nb: Path, fn, *args):
    history = History(Store.for_notebook(nb).home)
    try:
        return fn(history, *args)
    finally:
        history.close()


def _record(history: History, run_id: str, nb: Path, root: str):
    return record_json(history, run_id, nb, root)


def _compare(history: History, a: str, b: str, nb: Path, root: str) -> dict[str, Any]:
    diff = compare(history, a, b)
    if any(Path(r["notebook"] or "") != nb for r in (diff["a"], diff["b"])):
        raise tornado.web.HTTPError(404, f"runs {a} and {b} are not both runs of this notebook")
    return json_safe({
        "a": record_json(history, diff["a"]["run_id"], nb, root),
        "b": record_json(history, diff["b"]["run_id"], nb, root),
        "params": {k: list(v) for k, v in diff["params"].items()},
        "metrics": {k: list(v) for k, v in diff["metrics"].items()},
        "steps": diff["steps"]})


def _metric_series(history: History, nb: Path, limit: int) -> list[dict[str, Any]]:
    """Each run's last metric values, oldest run first (the x axis of the chart)."""
    out = []
    for row in reversed(history.runs(str(nb), limit)):
        run = run_record(history, row["run_id"])
        metrics = {k: m["value"] for k, m in run["last_metrics"].items()
                   if isinstance(m["value"], (int, float))}
        out.append({"run_id": row["run_id"], "started": row["started"], "state": row["state"],
                    "metrics": metrics})
    return out


def _run_table(history: History, nb: Path, limit: int) -> dict[str, Any]:
    """One row per run, newest first: state, trigger, times, parameters (the run's, then those
    its steps logged) and the last value of each metric; the column names in first-seen order."""
    rows, params, metrics = [], {}, {}
    for row in history.runs(str(nb), limit):
        run = run_record(history, row["run_id"])
        values = {k: m["value"] for k, m in run["last_metrics"].items()}
        rows.append({"run_id": row["run_id"], "state": row["state"],
                     "trigger": row.get("trigger") or row.get("kind") or None,
                     "started": row["started"], "finished": row["finished"],
                     "duration": run["duration"], "counts": row["counts"],
                     "params": run["params"], "logged_params": run["logged_params"],
                     "metrics": values})
        params.update(dict.fromkeys(run["logged_params"]))
        metrics.update(dict.fromkeys(values))
    return json_safe({"runs": rows, "params": list(params), "metrics": list(metrics)})


def failure_of(executed: dict[str, Any]) -> dict[str, Any] | None:
    """The first error output of an executed notebook: exception, traceback, failing line."""
    for index, cell in enumerate(executed.get("cells", [])):
        for out in cell.get("outputs", []) or []:
            if out.get("output_type") != "error":
                continue
            tb = [ANSI.sub("", line) for line in out.get("traceback", [])]
            marked = [m for text in tb for line in text.splitlines()
                      if (m := FAILING_LINE.match(line.strip()))]
            source = "".join(cell.get("source", ""))
            line_no = int(marked[-1].group(1)) if marked else None
            return {"ename": out.get("ename", ""), "evalue": out.get("evalue", ""),
                    "traceback": "\n".join(tb), "cell_index": index, "line": line_no,
                    "line_text": marked[-1].group(2).strip() if marked else None,
                    "source": source}
    return None


def _failure(history: History, run_id: str, step: str, nb: Path) -> dict[str, Any]:
    run = history.run(run_id)
    if run is None or Path(run["notebook"] or "") != nb:
        raise tornado.web.HTTPError(404, f"no run {run_id} of this notebook")
    rows = [s for s in run["steps"] if s["step"] == step]
    path = Path(rows[0]["notebook"]).resolve() if rows and rows[0]["notebook"] else None
    if path is None or not path.is_relative_to(Store.for_notebook(nb).runs.resolve()) \
            or not path.is_file():
        raise tornado.web.HTTPError(404, f"step '{step}' of run {run_id} has no executed "
                                         "notebook")
    found = failure_of(json.loads(path.read_text(encoding="utf-8")))
    if found is None:
        raise tornado.web.HTTPError(404, f"step '{step}' of run {run_id} shows no error")
    return {"step": step, "run_id": run_id, **found}


class RunRecordHandler(MlpipeHandler):
    @tornado.web.authenticated
    @authorized
    @_mapped
    async def get(self, run_id: str):
        """GET /mlpipe/api/runs/ID/record?path=NB: steps, parameters and metrics of a run."""
        nb = self.notebook()
        run = await self.blocking(_with_history, nb, _record, run_id, nb, self.root)
        if run is None:
            raise tornado.web.HTTPError(404, f"no run {run_id} of "
                                             f"{self.get_query_argument('path')}")
        run["path"] = relative(self.root, nb)
        self.finish(run)


class CompareHandler(MlpipeHandler):
    @tornado.web.authenticated
    @authorized
    @_mapped
    async def get(self):
        """GET /mlpipe/api/compare?path=NB&a=RUN&b=RUN: what differs (`mlpipe runs --compare`)."""
        nb = self.notebook()
        a, b = self.get_query_argument("a"), self.get_query_argument("b")
        try:
            diff = await self.blocking(_with_history, nb, _compare, a, b, nb, self.root)
        except MlpipeError as exc:
            raise tornado.web.HTTPError(404, str(exc)) from None
        self.finish(diff)


class MetricsHandler(MlpipeHandler):
    @tornado.web.authenticated
    @authorized
    @_mapped
    async def get(self):
        """GET /mlpipe/api/metrics?path=NB[&limit=N]: each run's metrics, oldest first."""
        nb = self.notebook()
        limit = self.int_argument("limit", METRIC_RUNS)
        series = await self.blocking(_with_history, nb, _metric_series, nb, limit)
        self.finish({"runs": json_safe(series)})


class RunTableHandler(MlpipeHandler):
    @tornado.web.authenticated
    @authorized
    @_mapped
    async def get(self):
        """GET /mlpipe/api/run-table?path=NB[&limit=N]: runs with parameters and metrics."""
        nb = self.notebook()
        limit = self.int_argument("limit", TABLE_RUNS)
        self.finish(await self.blocking(_with_history, nb, _run_table, nb, limit))


class StepFailureHandler(MlpipeHandler):
    @tornado.web.authenticated
    @authorized
    @_mapped
    async def get(self, run_id: str, step: str):
        """GET /mlpipe/api/runs/ID/steps/STEP/failure?path=NB: the step's traceback."""
        nb = self.notebook()
        self.finish(await self.blocking(_with_history, nb, _failure, run_id, step, nb))


def history_routes(base_url: str) -> list[tuple[str, type]]:
    api = url_path_join(base_url, "mlpipe", "api")
    rid, step = r"(?P<run_id>[A-Za-z0-9_-]+)", r"(?P<step>[A-Za-z0-9_-]+)"
    return [
        (url_path_join(api, "runs", rid, "record"), RunRecordHandler),
        (url_path_join(api, "compare"), CompareHandler),
        (url_path_join(api, "metrics"), MetricsHandler),
        (url_path_join(api, "run-table"), RunTableHandler),
        (url_path_join(api, "runs", rid, "steps", step, "failure"), StepFailureHandler),
    ]
