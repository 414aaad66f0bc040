"""Schedules of a project: what to run when (every N, a cron expression, or a data change),
kept in `mlpipe-schedules.json` in the project folder, and when each is next due.

The file sits beside the notebooks, not in `.mlpipe/`, so it travels with the project (git,
a copy of the folder): `.mlpipe/` is a cache that MLPIPE_HOME may move and `cache clear` may
empty. JSON because the standard library writes it (tomllib only reads). What happened (the
last run of each schedule, the last digest an on-change schedule saw) is machine state: it
lives in the run history and the store, not in this file.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from croniter import croniter

from .. import atomic
from ..errors import MlpipeError
from ..pipeline.load import load_pipeline
from ..models import PipelineSpec
from .triggers import last_triggered

SCHEDULE_FILE = "mlpipe-schedules.json"
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
EVERY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")


def parse_every(text: str) -> float:
    """'10m' -> 600.0; units s, m, h, d."""
    match = EVERY.match(text)
    if not match or float(match.group(1)) <= 0:
        raise MlpipeError(f"--every {text!r}: write a number and a unit, e.g. 30s, 10m, 2h, 1d")
    return float(match.group(1)) * UNITS[match.group(2)]


@dataclass(frozen=True, slots=True)
class Schedule:
    """One schedule: exactly one of every, cron, on_change says when its notebook runs."""

    id: str
    notebook: str  # relative to the project folder, '/'-separated
    every: str | None = None
    cron: str | None = None
    on_change: tuple[str, ...] | None = None  # () = the notebook's --reads paths
    params: dict[str, Any] = field(default_factory=dict)
    created: float = 0.0

    @property
    def when(self) -> str:
        if self.every:
            return f"every {self.every}"
        if self.cron:
            return f"cron {self.cron}"
        return "on change of " + (", ".join(self.on_change) if self.on_change else "its --reads")

    @property
    def trigger(self) -> str:
        """The prefix of the history's trigger for runs of this schedule."""
        return f"schedule {self.id}"

    def next_time(self, last: float | None) -> float | None:
        """When it is next due after its last run (or its creation); None for on-change."""
        base = last if last is not None else self.created
        if self.every:
            return base + parse_every(self.every)
        if self.cron:
            return croniter(self.cron, base).get_next(float)
        return None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["on_change"] = list(self.on_change) if self.on_change is not None else None
        return {k: v for k, v in data.items() if v is not None}


def schedule_file(folder: str | os.PathLike) -> Path:
    return Path(folder).resolve() / SCHEDULE_FILE


def load_schedules(folder: str | os.PathLike) -> list[Schedule]:
    path = schedule_file(folder)
    if not path.is_file():
        return []
    try:
        rows = json.loads(path.read_text(encoding="utf-8")).get("schedules", [])
        return [Schedule(**{**r, "on_change": tuple(r["on_change"]) if r.get("on_change")
                            is not None else None}) for r in rows]
    except (ValueError, TypeError, AttributeError) as exc:
        raise MlpipeError(f"{path} is not a valid schedules file ({exc}); fix or remove it")


def save_schedules(folder: str | os.PathLike, schedules: list[Schedule]) -> None:
    path = schedule_file(folder)
    atomic.write_text(path, json.dumps({"schedules": [s.to_json() for s in schedules]},
                                       indent=1))


def notebook_path(folder: str | os.PathLike, schedule: Schedule) -> Path:
    return Path(folder).resolve() / schedule.notebook


def add_schedule(folder: str | os.PathLike, notebook: str | os.PathLike, *,
                 every: str | None = None, cron: str | None = None,
                 on_change: list[str] | None = None,
                 params: dict[str, Any] | None = None) -> Schedule:
    """Check the notebook, the timing and the parameters, then store a new schedule."""
    if sum(x is not None for x in (every, cron, on_change)) != 1:
        raise MlpipeError("give exactly one of --every, --cron or --on-change")
    if every is not None:
        parse_every(every)
    if cron is not None and not croniter.is_valid(cron):
        raise MlpipeError(f"--cron {cron!r} is not a cron expression (e.g. '0 6 * * *': "
                          "minute hour day-of-month month day-of-week)")
    root = Path(folder).resolve()
    nb = Path(notebook).resolve()
    if not nb.is_relative_to(root):
        raise MlpipeError(f"{notebook} is outside the project folder {root}; run the command "
                          "from the project folder, or pass --dir")
    spec = load_pipeline(nb)
    unknown = sorted(set(params or {}) - set(spec.parameters))
    if unknown:
        raise MlpipeError(f"unknown parameter(s) {', '.join(unknown)}: {nb.name} defines "
                          + (", ".join(spec.parameters) or "none"))
    if on_change is not None and not on_change and not watched_paths(spec, ()):
        raise MlpipeError(f"--on-change without PATH watches the notebook's --reads paths, "
                          f"but no step of {nb.name} has --reads; name the paths to watch")
    schedules = load_schedules(root)
    new = Schedule(secrets.token_hex(3), nb.relative_to(root).as_posix(), every, cron,
                   tuple(on_change) if on_change is not None else None, dict(params or {}),
                   time.time())
    save_schedules(root, [*schedules, new])
    return new


def remove_schedule(folder: str | os.PathLike, schedule_id: str) -> Schedule:
    schedules = load_schedules(folder)
    match = [s for s in schedules if s.id == schedule_id or s.id.startswith(schedule_id)]
    if len(match) != 1:
        raise MlpipeError(f"no schedule '{schedule_id}' in {schedule_file(folder)} "
                          "(`mlpipe schedule ls` lists them)")
    save_schedules(folder, [s for s in schedules if s is not match[0]])
    return match[0]


def watched_paths(spec: PipelineSpec, on_change: tuple[str, ...]) -> list[str]:
    """The paths an on-change schedule watches, relative to the notebook's folder."""
    if on_change:
        return list(on_change)
    return sorted({p for s in spec.steps for p in s.reads})


def describe(folder: str | os.PathLike) -> list[dict[str, Any]]:
    """Each schedule with its next time and last run (for `schedule ls` and the REST API)."""
    rows = []
    for s in load_schedules(folder):
        row: dict[str, Any] = {**s.to_json(), "when": s.when, "next": None, "last_run": None}
        try:
            spec = load_pipeline(notebook_path(folder, s))
        except MlpipeError as exc:
            row["error"] = str(exc)
            rows.append(row)
            continue
        last = last_triggered(spec, s.trigger)
        row["last_run"] = last
        row["next"] = s.next_time(last["started"] if last else None)
        rows.append(row)
    return rows
