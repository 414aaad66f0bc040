"""The Jupyter server extension: REST routes under /mlpipe/api/ over the Pipeline API."""
from __future__ import annotations

from pathlib import Path


def _load_jupyter_server_extension(serverapp) -> None:
    from .handlers import routes
    from .history_routes import history_routes
    from .runs import RunManager

    web_app = serverapp.web_app
    root = getattr(serverapp.contents_manager, "root_dir", None) or serverapp.root_dir
    web_app.settings["mlpipe_root"] = str(Path(root).expanduser().resolve())
    web_app.settings["mlpipe_runs"] = RunManager(web_app.settings["mlpipe_root"])
    web_app.add_handlers(".*$", routes(web_app.settings["base_url"])
                         + history_routes(web_app.settings["base_url"]))
    serverapp.log.info("jupyter_mlpipe: REST API at %smlpipe/api/", web_app.settings["base_url"])


load_jupyter_server_extension = _load_jupyter_server_extension  # older notebook servers
