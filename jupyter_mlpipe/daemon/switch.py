"""MLPIPE_DAEMON and where daemons listen: read by the launcher before it imports the daemon's
client (which it then skips when no daemon can answer), and by that client."""
from __future__ import annotations

import os
import tempfile


def daemon_enabled() -> bool:
    """MLPIPE_DAEMON=off (or 0, no, false) neither uses nor starts a run daemon."""
    return os.environ.get("MLPIPE_DAEMON", "").lower() not in ("off", "0", "no", "false")


def daemon_folder() -> str:
    """This user's folder of daemon sockets, locks and logs (client.daemon_dir makes it)."""
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return os.path.join(base, f"mlpipe-daemon-{os.getuid()}")
