"""`mlpipe daemon start|stop|status`: the run daemon of this Python and jupyter_mlpipe, handed to
the CLI by the launcher (the CLI sits below the daemon and imports none of it)."""
from __future__ import annotations

import json

from ..errors import MlpipeError
from . import client as daemon_client


def cmd_daemon(a) -> int:
    """Start, stop or describe the run daemon of this Python and jupyter_mlpipe."""
    if a.action == "start":
        if not daemon_client.enabled():
            raise MlpipeError("MLPIPE_DAEMON=off is set: unset it to use a run daemon")
        up = daemon_client.ask("status")
        status = up or daemon_client.start(a.idle)
        print(f"run daemon {'already ' if up else ''}up (pid {status['pid']}); `mlpipe run` "
              f"uses it. Stop it with `mlpipe daemon stop`.")
        return 0
    status = daemon_client.ask(a.action)
    if a.action == "stop":
        for pid in daemon_client.stop_outdated(daemon_client.socket_path()):
            print(f"run daemon of an older jupyter_mlpipe or package set (pid {pid}) stopping")
    if status is None:
        print("no run daemon is up for this Python and jupyter_mlpipe "
              "(`mlpipe daemon start` starts one)")
        return 0 if a.action == "stop" else 3
    if a.action == "stop":
        print(f"run daemon (pid {status['pid']}) stopping")
        return 0
    if a.json:
        print(json.dumps(status))
        return 0
    idle = status["idle_timeout"]
    ready = sum(t["ready"] for t in status["templates"])
    print(f"run daemon up (pid {status['pid']}), {status['served']} run(s) served, "
          f"{status['runs']} running, {ready} warm kernel template(s); "
          f"exits after {idle / 60:.0f} min without a run" if idle else
          f"run daemon up (pid {status['pid']}), {status['served']} run(s) served, "
          f"{status['runs']} running, {ready} warm kernel template(s); lives with its server")
    return 0
