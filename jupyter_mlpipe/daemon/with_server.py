"""A run daemon that lives as long as a Jupyter server: a server extension of its own (listed
beside the REST API's in jupyter_mlpipe's extension points), so the REST API imports nothing of
the daemon."""
from __future__ import annotations

import os

from . import client as daemon_client


def _load_jupyter_server_extension(serverapp) -> None:
    start_run_daemon(serverapp.log)


def start_run_daemon(log, server_pid: int | None = None) -> None:
    """While this server lives, `mlpipe run` in its terminals skips start-up (daemon.py):
    start a run daemon that exits with the server, unless one is up or MLPIPE_DAEMON=off."""
    if not daemon_client.enabled():
        return
    try:
        if daemon_client.ask("status") is None:
            daemon_client.start(idle=0, watch_pid=server_pid or os.getpid(), wait=False)
            log.info("jupyter_mlpipe: started a run daemon for `mlpipe run`")
    except (OSError, RuntimeError) as exc:
        log.warning("jupyter_mlpipe: no run daemon (%s); `mlpipe run` starts up as usual", exc)
