"""POST /mlpipe/api/debug: the panel's "Debug in notebook" (run/debug.py writes the notebook
beside the pipeline notebook; the panel opens the path it answers)."""
from __future__ import annotations

import tornado.web
from jupyter_server.auth.decorator import authorized
from jupyter_server.utils import url_path_join

from ..errors import NotStoredError
from ..pipeline.load import load_pipeline
from ..run.debug import write_debug_notebook
from .handlers import MlpipeHandler, RequestError, _mapped
from .paths import relative


class DebugHandler(MlpipeHandler):
    @tornado.web.authenticated
    @authorized(action="write")
    @_mapped
    async def post(self):
        """POST /mlpipe/api/debug {path, step} -> 201 {path}: the debug notebook of STEP."""
        body = self.get_json_body() or {}
        if not isinstance(body, dict) or not isinstance(body.get("step"), str):
            raise RequestError("the body must be a JSON object with 'path' (the notebook) and "
                               "'step' (a step name)")
        nb = self.notebook(body.get("path") or "")
        try:
            written = await self.blocking(lambda: write_debug_notebook(load_pipeline(nb),
                                                                       body["step"]))
        except NotStoredError as exc:  # the step's inputs are not stored: run upstream first
            raise tornado.web.HTTPError(409, str(exc)) from None
        self.set_status(201)
        self.finish({"path": relative(self.root, written)})


def debug_routes(base_url: str) -> list[tuple[str, type]]:
    return [(url_path_join(base_url, "mlpipe", "api", "debug"), DebugHandler)]
