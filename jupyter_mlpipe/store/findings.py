"""What the last `mlpipe verify` found per step, kept beside the store (`verify/findings.json`)
so the panel can mark steps whose re-executed outputs differed. Stored results are not touched:
a finding is tied to the key it checked and means nothing once the step's key changes."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from .. import atomic


def findings_path(home: Path) -> Path:
    return Path(home) / "verify" / "findings.json"


def read_findings(home: Path, notebook: str) -> dict[str, dict[str, Any]]:
    """step -> {key, verdict, differing, at} for the notebook (file name); {} if none."""
    try:
        data = json.loads(findings_path(home).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    found = data.get(notebook) if isinstance(data, dict) else None
    return found if isinstance(found, dict) else {}


def record_findings(home: Path, notebook: str, checks: dict[str, dict[str, Any]]) -> None:
    """Merge step -> {key, verdict, differing} into the notebook's findings."""
    path = findings_path(home)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        data = data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        data = {}
    now = time.time()
    old = data.get(notebook)
    mine: dict[str, Any] = old if isinstance(old, dict) else {}
    mine.update({step: {**c, "at": now} for step, c in checks.items()})
    data[notebook] = mine
    atomic.write_text(path, json.dumps(data, indent=1))
