"""Thin REST handlers under /mlpipe/api/: parse the request, call the Pipeline API, and map
MlpipeError subclasses to HTTP status codes in one place (`_mapped`)."""
from __future__ import annotations

import asyncio
import functools
import json
import time
from pathlib import Path
from typing import Any

import tornado.web
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from ..errors import (InvalidNameError, MlpipeError, StepDefinitionError, TargetError,
                      UnknownStepError)
from ..pipeline.graph_view import json_safe
from ..store.files import Store
from ..store.history import History
from ..store.space import DiskFullError
from .bodies import RequestError, json_body
from .graph_route import graph_json
from .paths import NotebookPathError, relative, resolve_notebook
from .runs import RunConflictError, RunManager, relative_text

MAX_PATH_CHARS = 4096  # longer than any real path (PATH_MAX); refused before touching the disk
MAX_LIMIT = 10_000


STATUS_FOR: list[tuple[type[MlpipeError], int]] = [
    (RequestError, 400),
    (InvalidNameError, 400),
    (UnknownStepError, 404),
    (RunConflictError, 409),
    (StepDefinitionError, 400),
    (TargetError, 400),
    (DiskFullError, 507),  # Insufficient Storage: the message names the disk and what to free
]


def status_for(exc: MlpipeError) -> int:
    if isinstance(exc, NotebookPathError):
        return exc.status
    return next((code for cls, code in STATUS_FOR if isinstance(exc, cls)), 500)


def _mapped(method):
    """The one place that turns an MlpipeError into an HTTP error with the message as JSON."""

    @functools.wraps(method)
    async def wrapper(self, *args, **kwargs):
        try:
            return await method(self, *args, **kwargs)
        except MlpipeError as exc:
            raise tornado.web.HTTPError(status_for(exc), str(exc)) from None

    return wrapper


class MlpipeHandler(APIHandler):
    """Shared helpers: the served root, the run manager, notebook path confinement."""

    auth_resource = "mlpipe"  # for jupyter_server's Authorizer: GET is read, a run is execute

    @property
    def root(self) -> str:
        return self.settings["mlpipe_root"]

    @property
    def runs(self) -> RunManager:
        return self.settings["mlpipe_runs"]

    def notebook(self, rel: Any = None) -> Path:
        """The notebook named by `rel` (or ?path=), confined to the served root."""
        allow_hidden = getattr(self.contents_manager, "allow_hidden", False)
        if rel is None:
            rel = self.get_query_argument("path", None)
        if rel is not None and not isinstance(rel, str):
            raise RequestError(f"'path' must be a string (the notebook path relative to the "
                               f"server root), not {type(rel).__name__}")
        if rel and len(rel) > MAX_PATH_CHARS:
            raise RequestError(f"'path' is {len(rel):,} characters long; a notebook path has "
                               f"at most {MAX_PATH_CHARS}")
        try:
            return resolve_notebook(self.root, rel, allow_hidden)
        except (OSError, ValueError) as exc:  # a name too long for the disk, a NUL byte
            raise RequestError(f"'path' cannot name a notebook here: {exc}") from None

    def int_argument(self, name: str, default: int, maximum: int = MAX_LIMIT) -> int:
        """?NAME=N as an integer from 1 to `maximum`; anything else is a 400."""
        text = self.get_query_argument(name, str(default))
        if not (text.isascii() and text.isdigit() and len(text) <= len(str(maximum))) \
                or not 1 <= int(text) <= maximum:
            raise RequestError(f"'{name}' must be a whole number from 1 to {maximum}, "
                               f"not {text[:40]!r}")
        return int(text)

    def body(self, route: str) -> dict[str, Any]:
        """The request's JSON object, checked against `route`'s schema in openapi.yaml."""
        return json_body(self.request.body, route)

    async def blocking(self, fn, *args):
        """Run file hashing / SQLite work off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


class GraphHandler(MlpipeHandler):
    @tornado.web.authenticated
    @authorized
    @_mapped
    async def get(self):
        """GET /mlpipe/api/graph?path=NB: the DAG with each step cached/stale and why."""
        nb = self.notebook()
        data = await self.blocking(graph_json, nb, self.get_query_argument("path"))
        active = self.runs.active_for(nb)
        data["active_run"] = active.run_id if active else None
        self.finish(data)


class RunsHandler(MlpipeHandler):
    @tornado.web.authenticated
    @authorized
    @_mapped
    async def get(self):
        """GET /mlpipe/api/runs?path=NB[&limit=N]: recent runs of a notebook, newest first."""
        nb = self.notebook()
        limit = self.int_argument("limit", 20)
        rows = await self.blocking(_history_runs, nb, limit)
        for r in rows:
            r["path"] = relative(self.root, r.pop("notebook") or "")
            job = self.runs.get(r["run_id"])
            r["live"] = bool(job and not job.done)
        self.finish({"runs": rows})

    @tornado.web.authenticated
    @authorized(action="execute")
    @_mapped
    async def post(self):
        """POST /mlpipe/api/runs {path, only?, upto?, params?, force?, jobs?} -> 202 {run_id}."""
        body = self.body("/runs")
        nb = self.notebook(body.get("path") or "")
        only, params, jobs = _run_options(body)
        job = await self.runs.start(nb, body["path"], only=only or None, params=params,
                                    force=bool(body.get("force")), jobs=jobs)
        self.set_status(202)
        self.set_header("Location", url_path_join(self.base_url, "mlpipe/api/runs",
                                                  str(job.run_id)))
        self.finish(job.to_json())


def _run_options(body: dict[str, Any]) -> tuple[list[str] | None, dict[str, Any], int | None]:
    """`only` (with `upto` added), `params` and `jobs` of a POST runs body (checked by
    bodies.json_body against openapi.yaml)."""
    only, upto = body.get("only"), body.get("upto")
    if isinstance(only, str):
        only = [only]
    if upto:
        only = list(only or []) + [upto]
    return only, body.get("params") or {}, body.get("jobs")


def _history_runs(nb: Path, limit: int) -> list[dict]:
    history = History(Store.for_notebook(nb).home)
    try:
        rows = history.runs(str(nb), limit)
    finally:
        history.close()
    for r in rows:
        r["duration"] = (r["finished"] or time.time()) - r["started"] if r["started"] else None
    return rows


def _history_run(nb: Path, run_id: str) -> dict | None:
    history = History(Store.for_notebook(nb).home)
    try:
        return history.run(run_id)
    finally:
        history.close()


class RunHandler(MlpipeHandler):
    @tornado.web.authenticated
    @authorized
    @_mapped
    async def get(self, run_id: str):
        """GET /mlpipe/api/runs/ID[?path=NB]: progress of a live run, or one from history."""
        job = self.runs.get(run_id)
        if job is not None and not job.done:
            return self.finish(job.to_json())
        nb = self.notebook()
        run = await self.blocking(_history_run, nb, run_id)
        if run is None or Path(run["notebook"] or "") != nb:
            raise tornado.web.HTTPError(
                404, f"no run {run_id} of {self.get_query_argument('path')}")
        run["path"] = relative(self.root, run.pop("notebook"))
        for s in run["steps"]:
            s["name"] = s.pop("step")
            s["error"] = relative_text(s["error"], self.root)
            s["has_notebook"] = bool(s.pop("notebook", None))
            s["duration"] = (s["finished"] - s["started"]) if s["finished"] and s["started"] \
                else None
        run["live"] = False
        self.finish(json_safe(run))

    @tornado.web.authenticated
    @authorized(action="execute")
    @_mapped
    async def delete(self, run_id: str):
        """DELETE /mlpipe/api/runs/ID: cancel a live run (kernels stopped, finished steps kept)."""
        job = self.runs.get(run_id)
        if job is None or job.done:
            raise tornado.web.HTTPError(404, f"run {run_id} is not running on this server")
        job.cancel.set()
        self.set_status(202)
        self.finish(job.to_json())


class RunEventsHandler(MlpipeHandler):
    @tornado.web.authenticated
    @authorized
    @_mapped
    async def get(self, run_id: str):
        """GET /mlpipe/api/runs/ID/events: server-sent events, one per step change, then 'run'."""
        job = self.runs.get(run_id)
        if job is None:
            raise tornado.web.HTTPError(404, f"run {run_id} is not running on this server; "
                                             "GET /mlpipe/api/runs/ID?path=NB for its record")
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        sent = 0
        self.write(f"event: snapshot\ndata: {json.dumps(job.to_json())}\n\n")
        await self.flush()
        while True:
            waiter = self.runs.changed()
            events = job.events[sent:]
            for ev in events:
                self.write(f"event: {ev['type']}\ndata: {json.dumps(ev)}\n\n")
            sent += len(events)
            if events:
                await self.flush()
            if job.done and sent == len(job.events) and any(
                    e["type"] == "run" for e in job.events):
                break
            try:
                await asyncio.wait_for(waiter.wait(), 15)
            except asyncio.TimeoutError:
                self.write(": keep-alive\n\n")
                await self.flush()
        self.finish()


class StepNotebookHandler(MlpipeHandler):
    @tornado.web.authenticated
    @authorized
    @_mapped
    async def get(self, run_id: str, step: str):
        """GET /mlpipe/api/runs/ID/steps/STEP/notebook?path=NB[&format=html]: the executed
        step notebook (JSON, or HTML rendered by nbconvert)."""
        nb = self.notebook()
        run = await self.blocking(_history_run, nb, run_id)
        if run is None or Path(run["notebook"] or "") != nb:
            raise tornado.web.HTTPError(
                404, f"no run {run_id} of {self.get_query_argument('path')}")
        rows = [s for s in run["steps"] if s["step"] == step]
        if not rows:
            raise UnknownStepError(f"step '{step}' was not part of run {run_id}; its steps are: "
                                   + ", ".join(s["step"] for s in run["steps"]))
        runs_dir = Store.for_notebook(nb).runs.resolve()
        path = Path(rows[0]["notebook"] or "").resolve() if rows[0]["notebook"] else None
        if path is None or not path.is_relative_to(runs_dir) or not path.is_file():
            raise tornado.web.HTTPError(404, f"step '{step}' of run {run_id} has no executed "
                                             f"notebook (it {rows[0]['state']})")
        if self.get_query_argument("format", "json") == "html":
            html = await self.blocking(_to_html, path)
            self.set_header("Content-Type", "text/html; charset=utf-8")
            return self.finish(html)
        self.set_header("Content-Type", "application/x-ipynb+json")
        self.finish(path.read_bytes())


def _to_html(path: Path) -> str:
    import nbconvert  # heavy (about 1 s): only when HTML is asked for
    import nbformat

    body, _ = nbconvert.HTMLExporter().from_notebook_node(nbformat.read(path, as_version=4))
    return body


def routes(base_url: str) -> list[tuple[str, type]]:
    api = url_path_join(base_url, "mlpipe", "api")
    rid = r"(?P<run_id>[A-Za-z0-9_-]+)"
    return [
        (url_path_join(api, "graph"), GraphHandler),
        (url_path_join(api, "runs"), RunsHandler),
        (url_path_join(api, "runs", rid), RunHandler),
        (url_path_join(api, "runs", rid, "events"), RunEventsHandler),
        (url_path_join(api, "runs", rid, "steps", r"(?P<step>[A-Za-z0-9_-]+)", "notebook"),
         StepNotebookHandler),
    ]
