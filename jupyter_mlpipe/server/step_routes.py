"""REST routes the pipeline view reads when a node is clicked: a step's outputs (previews made
when the step saved them, never the values themselves), what it printed and drew in its executed
notebook, its logged metrics; and a running step's log, read from an offset as it grows."""
from __future__ import annotations

import codecs
import json
from pathlib import Path
from typing import Any

import tornado.web
from jupyter_server.auth.decorator import authorized
from jupyter_server.utils import url_path_join

from ..pipeline.graph_view import json_safe
from ..store.files import Store
from ..store.history import History
from ..store.previews import read_preview
from .handlers import MlpipeHandler, _mapped
from .history_routes import ANSI

BODY_TAG = "mlpipe-step-body"  # executors/base.py STEP_TAG: the step's own cell
MAX_NOTEBOOK_BYTES = 50_000_000  # an executed notebook bigger than this is not read for outputs
MAX_TEXT = 20_000  # characters of printed output sent for one step
MAX_IMAGES = 4
MAX_IMAGE_CHARS = 1_500_000  # base64 characters of one figure
LOG_CHUNK = 65_536  # bytes of a log sent per request
SHOWN_MIME = ("image/png", "image/jpeg", "image/svg+xml")


def printed_output(executed: dict[str, Any]) -> tuple[int | None, list[dict[str, Any]]]:
    """The index of the step's body cell in its executed notebook, and what that cell printed
    and drew, bounded (text cut at MAX_TEXT characters, at most MAX_IMAGES figures)."""
    cells = executed.get("cells", [])
    index = next((i for i, c in enumerate(cells)
                  if BODY_TAG in c.get("metadata", {}).get("tags", [])), None)
    if index is None:
        return None, []
    items: list[dict[str, Any]] = []
    budget, images = MAX_TEXT, 0
    for out in cells[index].get("outputs", []) or []:
        kind = out.get("output_type")
        data = out.get("data", {}) if kind in ("display_data", "execute_result") else {}
        mime = next((m for m in SHOWN_MIME if m in data), None)
        if mime and images < MAX_IMAGES:
            image = "".join(data[mime]) if isinstance(data[mime], list) else str(data[mime])
            if len(image) <= MAX_IMAGE_CHARS:
                items.append({"type": "image", "mime": mime, "data": image})
                images += 1
                continue
        if kind == "stream":
            text = "".join(out.get("text", ""))
        elif kind == "error":
            text = f"{out.get('ename', '')}: {out.get('evalue', '')}"
        elif "text/plain" in data:
            text = "".join(data["text/plain"])
        else:
            continue
        text = ANSI.sub("", text)
        if budget <= 0:
            break
        cut = text[:budget]
        budget -= len(cut)
        items.append({"type": "stream" if kind == "stream" else "text",
                      "name": out.get("name", kind), "text": cut + ("…" if cut != text else "")})
    return index, items


def _executed(history: History, run_id: str, step: str, runs_dir: Path) -> Path | None:
    """The executed notebook of `step` in `run_id`, if it is a file under the store's runs/."""
    run = history.run(run_id)
    rows = [s for s in (run or {}).get("steps", []) if s["step"] == step]
    path = Path(rows[0]["notebook"]).resolve() if rows and rows[0]["notebook"] else None
    if path is None or not path.is_relative_to(runs_dir) or not path.is_file():
        return None
    return path


def step_outputs(nb: Path, step: str, run_id: str | None,
                 key: str | None = None) -> dict[str, Any]:
    """What the view shows for a clicked node: its stored outputs' previews, the run that
    executed it, that run's printed output and figures, and the metrics it logged. With `key`
    (the step's key now), the latest run that stored that result, else the latest at all
    (`current` says which)."""
    store = Store.for_notebook(nb)
    history = History(store.home)
    try:
        if run_id:
            run = history.run(run_id)
            if run is None or Path(run["notebook"] or "") != nb:
                raise tornado.web.HTTPError(404, f"no run {run_id} of this notebook")
            rows = [s for s in run["steps"] if s["step"] == step]
            row = {**rows[0], "run_id": run["run_id"]} if rows else None
        else:
            row = (key and history.latest_step(str(nb), step, key)) or \
                history.latest_step(str(nb), step)
        if row is None:
            raise tornado.web.HTTPError(404, f"step '{step}' has no stored outputs yet: run it "
                                             "(Run pipeline, or Run up to this step) first")
        executed_run = row["run_id"]
        if row["reused"] and row["key"]:  # the run that computed the reused result
            executed_run = history.computed_by(row["key"], other_than=row["run_id"]) \
                or row["run_id"]
        path = _executed(history, executed_run, step, store.runs.resolve())
        logged = history.logged(executed_run, step)
    finally:
        history.close()
    body_cell, printed = None, []
    if path is not None and path.stat().st_size <= MAX_NOTEBOOK_BYTES:
        body_cell, printed = printed_output(json.loads(path.read_text(encoding="utf-8")))
    return json_safe({
        "step": step, "run_id": row["run_id"], "state": row["state"],
        "reused": bool(row["reused"]), "executed_run": executed_run,
        "current": None if not key else row["key"] == key,
        "has_notebook": path is not None, "body_cell": body_cell,
        "started": row["started"], "finished": row["finished"],
        "outputs": [{"name": var, "digest": digest, "preview": read_preview(store.home, digest)}
                    for var, digest in (row["outputs"] or {}).items()],
        "printed": printed,
        "metrics": [m for m in logged if m["kind"] == "metric"],
        "params": {m["name"]: m["value"] for m in logged if m["kind"] == "param"}})


def read_log(path: Path, offset: int) -> dict[str, Any]:
    """Up to LOG_CHUNK bytes of a step log from `offset`, cut at a whole character."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return {"text": "", "offset": 0, "size": 0, "exists": False}
    offset = min(offset, size)
    with open(path, "rb") as f:
        f.seek(offset)
        chunk = f.read(LOG_CHUNK)
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    text = decoder.decode(chunk, final=False)
    pending = len(decoder.getstate()[0])  # a character split by the chunk's end: next time
    return {"text": ANSI.sub("", text), "offset": offset + len(chunk) - pending, "size": size,
            "exists": True}


class StepOutputsHandler(MlpipeHandler):
    @tornado.web.authenticated
    @authorized
    @_mapped
    async def get(self, step: str):
        """GET /mlpipe/api/steps/STEP/outputs?path=NB[&run=RUN][&key=KEY]: previews of the
        step's stored outputs (from RUN, or its latest run that stored or reused them, under
        KEY, the step's key now, when one did)."""
        nb = self.notebook()
        run_id = self.get_query_argument("run", None)
        if run_id is not None and not (run_id.replace("-", "").replace("_", "").isalnum()
                                       and len(run_id) <= 64):
            raise tornado.web.HTTPError(400, f"'run' is not a run id: {run_id[:40]!r}")
        key = self.get_query_argument("key", None)
        if key is not None and not (key.isalnum() and len(key) <= 128):
            raise tornado.web.HTTPError(400, f"'key' is not a step key: {key[:40]!r}")
        self.finish(await self.blocking(step_outputs, nb, step, run_id or None, key or None))


class StepLogHandler(MlpipeHandler):
    @tornado.web.authenticated
    @authorized
    @_mapped
    async def get(self, run_id: str, step: str):
        """GET /mlpipe/api/runs/ID/steps/STEP/log?path=NB[&offset=N]: what the step printed
        so far, from byte N; `offset` in the answer is where the next call starts."""
        nb = self.notebook()
        offset = self.int_argument("offset", 1, maximum=10**12) if \
            self.get_query_argument("offset", "0") != "0" else 0
        store = Store.for_notebook(nb)

        def read() -> dict[str, Any]:
            history = History(store.home)
            try:
                run = history.run(run_id)
            finally:
                history.close()
            if run is None or Path(run["notebook"] or "") != nb:
                raise tornado.web.HTTPError(404, f"no run {run_id} of this notebook")
            return read_log(store.runs / run["run_id"] / f"{step}.log", offset)

        data = await self.blocking(read)
        job = self.runs.get(run_id)
        data["live"] = bool(job and not job.done)
        self.finish(data)


def step_routes(base_url: str) -> list[tuple[str, type]]:
    api = url_path_join(base_url, "mlpipe", "api")
    rid, step = r"(?P<run_id>[A-Za-z0-9_-]+)", r"(?P<step>[A-Za-z0-9_-]+)"
    return [
        (url_path_join(api, "steps", step, "outputs"), StepOutputsHandler),
        (url_path_join(api, "runs", rid, "steps", step, "log"), StepLogHandler),
    ]
