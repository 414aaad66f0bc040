"""The Jupyter server extension: REST routes under /mlpipe/api/ over the Pipeline API."""
from __future__ import annotations

from pathlib import Path


def all_routes(base_url: str) -> list[tuple]:
    """Every route the extension serves (server/openapi.yaml describes each)."""
    from .debug_route import debug_routes
    from .handlers import routes
    from .history_routes import history_routes
    from .jobs import job_routes
    from .step_routes import step_routes

    return (routes(base_url) + history_routes(base_url) + job_routes(base_url)
            + debug_routes(base_url) + step_routes(base_url))


def _load_jupyter_server_extension(serverapp) -> None:
    from .jobs import MlpipeSchedules
    from .runs import RunManager

    web_app = serverapp.web_app
    root = getattr(serverapp.contents_manager, "root_dir", None) or serverapp.root_dir
    web_app.settings["mlpipe_root"] = str(Path(root).expanduser().resolve())
    web_app.settings["mlpipe_runs"] = RunManager(web_app.settings["mlpipe_root"])
    base_url = web_app.settings["base_url"]
    web_app.add_handlers(".*$", all_routes(base_url))
    schedules = MlpipeSchedules(config=serverapp.config)
    web_app.settings["mlpipe_scheduler"] = schedules.start(web_app.settings["mlpipe_root"],
                                                           serverapp.log)
    serverapp.log.info("jupyter_mlpipe: REST API at %smlpipe/api/", web_app.settings["base_url"])


load_jupyter_server_extension = _load_jupyter_server_extension  # older notebook servers
