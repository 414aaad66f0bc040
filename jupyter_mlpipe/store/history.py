"""Run history, logged metrics and the file-digest cache: one SQLite database (WAL, safe for
concurrent runs). Every SQL statement of the package is here."""
from __future__ import annotations

import json
import os
import secrets
import sqlite3
import time
from pathlib import Path
from typing import Callable

from ..models import RunState, StepRun, StepState
from .liveness import Owner, is_alive, this_process
from .space import full_disk_error, is_full

ORPHAN_ERROR = ("interrupted: the process running it ended without recording an end (killed, "
                "or the Jupyter server stopped); finished steps are stored")


# Schema migrations, applied in order; PRAGMA user_version counts those applied. A database
# written before the list existed has user_version 0 and today's tables, so every step must
# also work on a database that already has what it adds.
def _create_tables(db: sqlite3.Connection) -> None:
    for statement in (
        "CREATE TABLE IF NOT EXISTS runs (run_id TEXT PRIMARY KEY, notebook TEXT, kind TEXT,"
        " started REAL, finished REAL, state TEXT, params TEXT, selected TEXT, jobs INTEGER,"
        " error TEXT)",
        "CREATE TABLE IF NOT EXISTS step_runs (run_id TEXT, step TEXT, state TEXT, key TEXT,"
        " started REAL, finished REAL, reused INTEGER, saved REAL, error TEXT, notebook TEXT,"
        " outputs TEXT, PRIMARY KEY (run_id, step))",
        "CREATE TABLE IF NOT EXISTS metrics (run_id TEXT, step TEXT, name TEXT, value REAL,"
        " at REAL, kind TEXT DEFAULT 'metric')",
        "CREATE TABLE IF NOT EXISTS file_digests (path TEXT PRIMARY KEY, size INTEGER,"
        " mtime_ns INTEGER, ctime_ns INTEGER, ino INTEGER, digest TEXT, recorded REAL)",
    ):
        db.execute(statement)


def _add_metric_iteration(db: sqlite3.Connection) -> None:
    """metrics.iteration: MLflow's `step` of log_metric (older code added it on first use)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(metrics)")}
    if "iteration" not in columns:
        db.execute("ALTER TABLE metrics ADD COLUMN iteration INTEGER")


def _add_run_trigger(db: sqlite3.Connection) -> None:
    """runs.trigger: what started a run (a schedule, a data change, a sweep point, REST)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
    if "trigger" not in columns:
        db.execute("ALTER TABLE runs ADD COLUMN trigger TEXT")


def _add_run_owner(db: sqlite3.Connection) -> None:
    """runs.owner_pid, runs.owner_started: the process running it, so that a run whose process
    died without recording its end (SIGKILL, a stopped server) reads as interrupted."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
    for column in ("owner_pid", "owner_started"):
        if column not in columns:
            db.execute(f"ALTER TABLE runs ADD COLUMN {column} INTEGER")


def _add_step_attempts(db: sqlite3.Connection) -> None:
    """step_runs.attempts, step_runs.attempt_errors: tries of a step (--retries) and why each
    earlier one failed (a JSON list)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(step_runs)")}
    if "attempts" not in columns:
        db.execute("ALTER TABLE step_runs ADD COLUMN attempts INTEGER DEFAULT 1")
    if "attempt_errors" not in columns:
        db.execute("ALTER TABLE step_runs ADD COLUMN attempt_errors TEXT")


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _create_tables,
    _add_metric_iteration,
    _add_run_trigger,
    _add_run_owner,
    _add_step_attempts,
]


def migrate(db: sqlite3.Connection) -> None:
    """Apply the migrations this database lacks, in one transaction (safe with concurrent
    openers: the second one waits, then finds nothing left to do)."""
    if db.execute("PRAGMA user_version").fetchone()[0] >= len(MIGRATIONS):
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        done = db.execute("PRAGMA user_version").fetchone()[0]
        for step in MIGRATIONS[done:]:
            step(db)
        if done < len(MIGRATIONS):
            db.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


class _Connection(sqlite3.Connection):
    """A connection whose statements say a full disk as such (space.py), with the path."""

    path: Path

    def execute(self, *args, **kwargs):  # type: ignore[override]
        try:
            return super().execute(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            if is_full(exc, self.path):
                raise full_disk_error(self.path, "opening or writing the run history") from None
            raise


class History:
    """The history database under a store home; opened on first use, closed by close()."""

    def __init__(self, home: str | os.PathLike):
        self.path = Path(home) / "history.sqlite"
        self._db: sqlite3.Connection | None = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                 check_same_thread=False, factory=_Connection)
            db.path = self.path
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.row_factory = sqlite3.Row
            migrate(db)
            self._db = db
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # ---- runs --------------------------------------------------------------------------
    def start_run(self, run_id: str, notebook: str, kind: str, params: dict,
                  selected: list[str] | None, jobs: int) -> None:
        owner = this_process()
        self.db.execute(
            "INSERT INTO runs (run_id, notebook, kind, started, state, params, selected, jobs,"
            " owner_pid, owner_started) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (run_id, notebook, kind, time.time(), str(RunState.RUNNING),
             json.dumps(params, default=repr), json.dumps(selected), jobs, owner.pid,
             owner.started))

    def mark_orphans(self) -> list[str]:
        """Runs still `running` whose process is gone become `interrupted`, their unfinished
        steps failed; returns their ids. Called before the history is read."""
        rows = self.db.execute("SELECT run_id, owner_pid, owner_started FROM runs WHERE state=?"
                               " AND owner_pid IS NOT NULL", (str(RunState.RUNNING),)).fetchall()
        gone = [r["run_id"] for r in rows
                if not is_alive(Owner(r["owner_pid"], r["owner_started"]))]
        now = time.time()
        for run_id in gone:
            self.db.execute(
                "UPDATE runs SET state=?, finished=?, error=? WHERE run_id=? AND state=?",
                (str(RunState.INTERRUPTED), now, ORPHAN_ERROR, run_id, str(RunState.RUNNING)))
            self.db.execute(
                "UPDATE step_runs SET state=?, finished=?, error=? WHERE run_id=? AND state IN"
                " (?, ?)", (str(StepState.FAILED), now, str(RunState.INTERRUPTED), run_id,
                            str(StepState.RUNNING), str(StepState.PENDING)))
        return gone

    def finish_run(self, run_id: str, state: RunState, error: str | None = None) -> None:
        self.db.execute("UPDATE runs SET finished=?, state=?, error=? WHERE run_id=?",
                        (time.time(), str(state), error, run_id))

    def set_trigger(self, run_id: str, trigger: str) -> None:
        self.db.execute("UPDATE runs SET trigger=? WHERE run_id=?", (trigger, run_id))

    def last_triggered(self, trigger_prefix: str) -> dict | None:
        """The latest run whose trigger starts with `trigger_prefix` (e.g. 'schedule ab12')."""
        row = self.db.execute(
            "SELECT run_id, started, finished, state, trigger FROM runs WHERE trigger LIKE ?"
            " ORDER BY started DESC LIMIT 1", (trigger_prefix.replace("%", "") + "%",)).fetchone()
        return dict(row) if row else None

    def triggered(self, trigger_prefix: str, limit: int = 10000) -> list[dict]:
        """Runs whose trigger starts with `trigger_prefix` (a sweep's points), oldest first."""
        rows = self.db.execute(
            "SELECT run_id, notebook, started, finished, state, error, trigger, params FROM runs"
            " WHERE trigger LIKE ? ORDER BY started LIMIT ?",
            (trigger_prefix.replace("%", "") + "%", limit)).fetchall()
        return [{**dict(r), "params": json.loads(r["params"] or "{}")} for r in rows]

    def record_step(self, run_id: str, step: StepRun) -> None:
        """Insert or update one StepRun."""
        self.db.execute(
            "INSERT OR REPLACE INTO step_runs (run_id, step, state, key, started, finished,"
            " reused, saved, error, notebook, outputs, attempts, attempt_errors)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (run_id, step.name, str(step.state), step.key, step.started, step.finished,
             int(step.reused), step.saved_seconds, step.error, step.notebook,
             json.dumps(step.outputs), step.attempts, json.dumps(step.attempt_errors)))

    def runs(self, notebook: str | None = None, limit: int = 20) -> list[dict]:
        self.mark_orphans()
        q = "SELECT * FROM runs"
        args: tuple = ()
        if notebook:
            q += " WHERE notebook=?"
            args = (notebook,)
        rows = self.db.execute(q + " ORDER BY started DESC LIMIT ?", args + (limit,)).fetchall()
        out = []
        for r in rows:
            d = dict(r)
            counts = self.db.execute(
                "SELECT state, COUNT(*) AS n FROM step_runs WHERE run_id=? GROUP BY state",
                (d["run_id"],)).fetchall()
            d["counts"] = {c["state"]: c["n"] for c in counts}
            d["params"] = json.loads(d["params"] or "{}")
            out.append(d)
        return out

    def last_durations(self, notebook: str) -> dict[str, float]:
        """Each step's duration in its latest successful execution for this notebook."""
        rows = self.db.execute(
            "SELECT s.step, s.finished - s.started AS took FROM step_runs s JOIN runs r"
            " ON s.run_id = r.run_id WHERE r.notebook=? AND s.state=? AND s.finished IS NOT"
            " NULL AND s.started IS NOT NULL ORDER BY s.finished", (notebook, "succeeded"))
        return {r["step"]: r["took"] for r in rows}

    def run(self, run_id: str) -> dict | None:
        self.mark_orphans()
        r = self.db.execute("SELECT * FROM runs WHERE run_id=?", (run_id,)).fetchone()
        if r is None:
            matches = self.db.execute("SELECT * FROM runs WHERE run_id LIKE ?",
                                      (run_id + "%",)).fetchall()
            if len(matches) != 1:
                return None
            r = matches[0]
        d = dict(r)
        d["params"] = json.loads(d["params"] or "{}")
        d["steps"] = [
            {**dict(s), "outputs": json.loads(s["outputs"] or "{}"),
             "attempts": s["attempts"] or 1,
             "attempt_errors": json.loads(s["attempt_errors"] or "[]")}
            for s in self.db.execute(
                "SELECT * FROM step_runs WHERE run_id=? ORDER BY started", (d["run_id"],))]
        d["metrics"] = [dict(m) for m in self.db.execute(
            "SELECT step, name, value, at, kind FROM metrics WHERE run_id=? ORDER BY at",
            (d["run_id"],))]
        return d

    # ---- metrics and parameters logged inside steps (tracking.py) ---------------------
    def log_metric(self, run_id: str, step: str, name: str, value: float,
                   iteration: int | None) -> None:
        self.db.execute(
            "INSERT INTO metrics (run_id, step, name, value, at, kind, iteration)"
            " VALUES (?,?,?,?,?,?,?)",
            (run_id, step, name, value, time.time(), "metric", iteration))

    def log_param(self, run_id: str, step: str, name: str, value: int | float | str) -> None:
        self.db.execute(
            "INSERT INTO metrics (run_id, step, name, value, at, kind) VALUES (?,?,?,?,?,?)",
            (run_id, step, name, value, time.time(), "param"))

    def logged(self, run_id: str, step: str) -> list[dict]:
        """What one step of one run logged, oldest first: name, value, kind, iteration."""
        return [dict(r) for r in self.db.execute(
            "SELECT name, value, kind, iteration FROM metrics WHERE run_id=? AND step=? "
            "ORDER BY at", (run_id, step))]

    def latest_step(self, notebook: str, step: str, key: str | None = None) -> dict | None:
        """`step`'s row in the latest run of `notebook` that stored or reused its outputs
        (under `key` when given)."""
        where, args = ("AND s.key=? ", (notebook, step, key)) if key else ("", (notebook, step))
        row = self.db.execute(
            "SELECT s.* FROM step_runs s JOIN runs r ON s.run_id = r.run_id WHERE r.notebook=?"
            " AND s.step=? " + where + "AND s.state IN ('succeeded', 'reused')"
            " ORDER BY s.finished DESC LIMIT 1", args).fetchone()
        return {**dict(row), "outputs": json.loads(row["outputs"] or "{}")} if row else None

    def computed_by(self, key: str, other_than: str) -> str | None:
        """The latest run, other than `other_than`, that executed a step with this key."""
        row = self.db.execute(
            "SELECT run_id FROM step_runs WHERE key=? AND state='succeeded' AND run_id!=? "
            "ORDER BY finished DESC LIMIT 1", (key, other_than)).fetchone()
        return row["run_id"] if row else None

    # ---- file digest cache (the stat fast path for --reads) ----------------------------
    def cached_digest(self, path: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM file_digests WHERE path=?", (path,)).fetchone()

    def store_digest(self, path: str, st: os.stat_result, digest: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO file_digests VALUES (?,?,?,?,?,?,?)",
                        (path, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, digest,
                         time.time()))
