"""Step results (store/results.py) and the history database (store/history.py): the entry
schema and its version, reuse, and schema migrations of an existing history."""
from __future__ import annotations

import sqlite3
import time

from jupyter_mlpipe.models import RunState, StepState, StepRun
from jupyter_mlpipe.store.files import Store
from jupyter_mlpipe.store.history import MIGRATIONS, History
from jupyter_mlpipe.store.results import ENTRY_VERSION, Computed, Results


def results_for(tmp_path) -> Results:
    (tmp_path / "work").mkdir()
    return Results(Store(tmp_path / "s"), tmp_path / "work" / "nb.ipynb", tmp_path / "work")


def test_record_then_reuse_restores_files_and_outputs(tmp_path):
    results = results_for(tmp_path)
    digest = results.store.put_value([1, 2], "a", "x")
    (tmp_path / "work" / "out.txt").write_text("hello")
    writes = {"out.txt": results.store.put_path(tmp_path / "work" / "out.txt", results.root)}
    step = StepRun("a", key="k1", started=time.time() - 2, finished=time.time())
    results.record(step, {"body": "b"}, Computed({"x": digest}, writes, 1.5, 1.75), "run-1")
    assert step.state is StepState.SUCCEEDED and step.body_seconds == 1.5
    entry = results.get("k1")
    assert entry["entry_version"] == ENTRY_VERSION and entry["exec_seconds"] == 1.75
    assert entry["notebook"] == "nb.ipynb" and entry["run_id"] == "run-1"
    assert results.store.get_latest("nb.ipynb", "a")["components"] == {"body": "b"}

    (tmp_path / "work" / "out.txt").unlink()
    again = StepRun("a", started=time.time())
    assert results.reuse(again, {"body": "b"}, entry) == {"x": digest}
    assert again.state is StepState.REUSED and again.reused and again.key == "k1"
    assert again.saved_seconds == entry["duration"]
    assert again.reasons[0].startswith("computed ")
    assert (tmp_path / "work" / "out.txt").read_text() == "hello"


def test_entries_without_the_current_version_are_absent(tmp_path):
    results = results_for(tmp_path)
    digest = results.store.put_value(1)
    base = {"key": "old", "step": "a", "outputs": {"x": digest}, "computed_at": 0}
    results.store.put_entry(base)  # as written before ENTRY_VERSION existed
    results.store.put_entry({**base, "key": "other", "entry_version": ENTRY_VERSION + 1})
    assert results.store.get_entry("old") is not None
    assert results.get("old") is None and results.get("other") is None


# the history schema as the code wrote it before migrations (user_version 0)
OLD_SCHEMA = """
CREATE TABLE runs (run_id TEXT PRIMARY KEY, notebook TEXT, kind TEXT, started REAL,
  finished REAL, state TEXT, params TEXT, selected TEXT, jobs INTEGER, error TEXT);
CREATE TABLE step_runs (run_id TEXT, step TEXT, state TEXT, key TEXT, started REAL,
  finished REAL, reused INTEGER, saved REAL, error TEXT, notebook TEXT, outputs TEXT,
  PRIMARY KEY (run_id, step));
CREATE TABLE metrics (run_id TEXT, step TEXT, name TEXT, value REAL, at REAL,
  kind TEXT DEFAULT 'metric');
CREATE TABLE file_digests (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER,
  ctime_ns INTEGER, ino INTEGER, digest TEXT, recorded REAL);
INSERT INTO runs VALUES ('r1', '/nb.ipynb', 'batch', 1.0, 2.0, 'succeeded', '{"n": 1}', 'null',
  2, NULL);
INSERT INTO step_runs VALUES ('r1', 'a', 'succeeded', 'k', 1.0, 2.0, 0, NULL, NULL, NULL, '{}');
INSERT INTO metrics VALUES ('r1', 'a', 'loss', 0.5, 1.5, 'metric');
"""


def old_history(home, with_iteration: bool) -> None:
    home.mkdir()
    db = sqlite3.connect(home / "history.sqlite")
    db.executescript(OLD_SCHEMA)
    if with_iteration:  # what tracking.py's ALTER TABLE added on first use
        db.execute("ALTER TABLE metrics ADD COLUMN iteration INTEGER")
    db.commit()
    db.close()


def test_a_history_from_before_migrations_opens_and_migrates(tmp_path):
    for with_iteration in (False, True):
        home = tmp_path / f"h{with_iteration}"
        old_history(home, with_iteration)
        history = History(home)
        assert history.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        run = history.run("r1")
        assert run["state"] == "succeeded" and run["params"] == {"n": 1}
        assert [s["step"] for s in run["steps"]] == ["a"]
        assert history.logged("r1", "a") == [
            {"name": "loss", "value": 0.5, "kind": "metric", "iteration": None}]
        history.log_metric("r1", "a", "loss", 0.25, 3)
        assert history.logged("r1", "a")[-1]["iteration"] == 3
        history.close()
        History(home).close()  # opening a migrated database again changes nothing


def test_history_records_runs_and_finds_who_computed_a_key(tmp_path):
    history = History(tmp_path)
    for run_id in ("r1", "r2"):
        history.start_run(run_id, "/nb.ipynb", "batch", {}, None, 1)
    history.record_step("r1", StepRun("a", StepState.SUCCEEDED, key="k", started=1, finished=2))
    history.record_step("r2", StepRun("a", StepState.REUSED, key="k", started=3, finished=4,
                                      reused=True))
    history.finish_run("r1", RunState.SUCCEEDED)
    history.log_param("r1", "a", "lr", 0.1)
    assert history.run("r1")["state"] == "succeeded"
    assert history.run("r2")["state"] == "running"
    assert history.computed_by("k", other_than="r2") == "r1"
    assert history.computed_by("k", other_than="r1") is None
    assert history.logged("r1", "a")[0]["kind"] == "param"
    history.close()
