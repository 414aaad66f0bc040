"""MLPIPE_DAEMON, read by the launcher before anything is imported and by the daemon's client."""
from __future__ import annotations

import os


def daemon_enabled() -> bool:
    """MLPIPE_DAEMON=off (or 0, no, false) neither uses nor starts a run daemon."""
    return os.environ.get("MLPIPE_DAEMON", "").lower() not in ("off", "0", "no", "false")
