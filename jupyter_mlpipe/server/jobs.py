"""REST routes for runs started on someone's behalf: published pipelines, sweeps, schedules;
and the optional in-server scheduler (`c.MlpipeSchedules.run_schedules = True`)."""
from __future__ import annotations

import atexit
import threading
from pathlib import Path
from typing import Any

import tornado.web
from jupyter_server.auth.decorator import authorized
from jupyter_server.utils import url_path_join
from traitlets import Bool, Float
from traitlets.config import Configurable

from ..pipeline.graph_view import json_safe
from ..pipeline.load import load_pipeline
from ..pipeline.parameters import as_json_sent, check_overrides
from ..automation.publish import frozen_spec, list_pipelines, resolve_pipeline
from ..automation.schedule import describe
from ..automation.scheduler import Scheduler
from ..automation.sweep import SweepResult, new_sweep_id, run_sweep, sweep_from_history
from ..run.runner import RunOptions
from ..store.files import Store
from .handlers import MlpipeHandler, _mapped
from .paths import relative


class MlpipeSchedules(Configurable):
    """Whether the Jupyter server runs the schedules of its root folder itself."""

    run_schedules = Bool(False, config=True, help="Run the schedules in the root folder's "
                         "mlpipe-schedules.json while the server runs (like `mlpipe scheduler`)")
    poll_seconds = Float(1.0, config=True, help="How often due times are checked")

    def start(self, root: str, log) -> threading.Event | None:
        """Start the scheduler thread if enabled; set the returned event to stop it."""
        if not self.run_schedules:
            return None
        stop = threading.Event()
        scheduler = Scheduler(root, stop, poll=self.poll_seconds,
                              log=lambda line: log.info("jupyter_mlpipe scheduler: %s", line))
        thread = threading.Thread(target=scheduler.run, name="mlpipe-scheduler", daemon=True)
        thread.start()
        atexit.register(_stop_scheduler, stop, thread)  # a running pipeline stops its kernels
        return stop


def _stop_scheduler(stop: threading.Event, thread: threading.Thread) -> None:
    stop.set()
    thread.join(timeout=10)


class PipelinesHandler(MlpipeHandler):
    @tornado.web.authenticated
    @authorized
    @_mapped
    async def get(self):
        """GET /mlpipe/api/pipelines: every published version, its parameters and state."""
        rows = await self.blocking(list_pipelines)
        for r in rows:
            r["path"] = relative(self.root, r.pop("notebook"))
        self.finish({"pipelines": json_safe(rows)})


class PipelineRunsHandler(MlpipeHandler):
    @tornado.web.authenticated
    @authorized(action="execute")
    @_mapped
    async def post(self, name: str):
        """POST /mlpipe/api/pipelines/NAME/runs {params?, version?, jobs?} -> 202 {run_id}."""
        body = self.body("/pipelines/{name}/runs")
        params = body.get("params") or {}
        ref = f"{name}@{body['version']}" if body.get("version") else name
        record = await self.blocking(resolve_pipeline, ref)
        spec = await self.blocking(frozen_spec, record)
        path = relative(self.root, spec.path) or spec.path.name
        job = await self.runs.start(spec.path, path, params=params, jobs=body.get("jobs"),
                                    spec=spec,
                                    trigger=f"published {record['name']}@{record['version']}")
        self.set_status(202)
        self.set_header("Location", url_path_join(self.base_url, "mlpipe/api/runs",
                                                  str(job.run_id)))
        self.finish({**job.to_json(), "pipeline": record["name"], "version": record["version"]})


class SweepsHandler(MlpipeHandler):
    @tornado.web.authenticated
    @authorized(action="execute")
    @_mapped
    async def post(self):
        """POST /mlpipe/api/sweeps {path, sweep: {NAME: [V...]}, params?, jobs?} -> 202."""
        body = self.body("/sweeps")
        nb = self.notebook(body.get("path") or "")
        grid, params = body["sweep"], body.get("params") or {}
        sweeps: dict[str, Any] = self.settings.setdefault("mlpipe_sweeps", {})
        sweep_id = new_sweep_id()  # one id: in the answer, each point's trigger, the CLI's
        live: dict[str, Any] = {"path": body["path"], "state": "running", "points": {},
                                "sweep_id": sweep_id}
        spec = await self.blocking(load_pipeline, nb)
        check_overrides(spec.parameters, {**params, **grid})  # a 400 now, not a failed sweep
        params = as_json_sent(spec.parameters, params)
        grid = {k: [as_json_sent(spec.parameters, {k: v})[k] for v in vs]
                for k, vs in grid.items()}

        def work() -> None:
            try:
                result: SweepResult = run_sweep(
                    spec, grid, RunOptions(params=params, jobs=body.get("jobs")),
                    on_point=lambda i, p: live["points"].__setitem__(i, p.run_id),
                    sweep_id=sweep_id)
                live.update({**result.to_json(), "sweep_id": sweep_id,
                             "state": "succeeded" if result.ok else "failed"})
            except Exception as exc:  # noqa: BLE001 - reported to the poller
                live.update(state="failed", error=str(exc))

        sweeps[sweep_id] = live
        threading.Thread(target=work, name="mlpipe-sweep", daemon=True).start()
        self.set_status(202)
        self.finish(json_safe(live))


class SweepHandler(MlpipeHandler):
    @tornado.web.authenticated
    @authorized
    @_mapped
    async def get(self, sweep_id: str):
        """GET /mlpipe/api/sweeps/ID[?path=NB]: state, and once done one entry per point with
        metrics. A sweep this server did not start (`mlpipe run --sweep`) is found in the run
        history of the notebook `path`."""
        live = self.settings.get("mlpipe_sweeps", {}).get(sweep_id)
        if live is None and self.get_query_argument("path", None) is not None:
            home = Store.for_notebook(self.notebook()).home
            live = await self.blocking(sweep_from_history, home, sweep_id)
        if live is None:
            raise tornado.web.HTTPError(
                404, f"no sweep {sweep_id} on this server"
                + ("" if self.get_query_argument("path", None) is not None else
                   "; for one started elsewhere (mlpipe run --sweep), add ?path=NOTEBOOK"))
        self.finish(json_safe(live))


class SchedulesHandler(MlpipeHandler):
    @tornado.web.authenticated
    @authorized
    @_mapped
    async def get(self):
        """GET /mlpipe/api/schedules[?path=NB]: the root folder's schedules (of one notebook
        when `path` is given), next time and last run."""
        rows = await self.blocking(describe, self.root)
        if self.get_query_argument("path", None) is not None:
            nb = self.notebook()
            rows = [r for r in rows if (Path(self.root) / r["notebook"]).resolve() == nb]
        self.finish({"schedules": json_safe(rows),
                     "running_here": bool(self.settings.get("mlpipe_scheduler"))})


def job_routes(base_url: str) -> list[tuple[str, type]]:
    api = url_path_join(base_url, "mlpipe", "api")
    name = r"(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)"
    return [
        (url_path_join(api, "pipelines"), PipelinesHandler),
        (url_path_join(api, "pipelines", name, "runs"), PipelineRunsHandler),
        (url_path_join(api, "sweeps"), SweepsHandler),
        (url_path_join(api, "sweeps", r"(?P<sweep_id>[A-Za-z0-9_-]+)"), SweepHandler),
        (url_path_join(api, "schedules"), SchedulesHandler),
    ]
