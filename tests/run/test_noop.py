"""The no-op fast path (run/noop.py): a `run` or `status` that changes nothing is answered from
one state file by stat alone, importing almost nothing; any change after it is still seen.

Files changed less than RACY_SECONDS before a command began are not trusted by stat, so each
test waits that long after writing its files before the run that writes the state."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from jupyter_mlpipe.pipeline.load import load_pipeline
from jupyter_mlpipe.run import noop, noop_state
from jupyter_mlpipe.store.files import Store
from tests.helpers import MLPIPE, mlpipe, replace_cell, write_pipeline

HEAVY = ("papermill", "nbformat", "jupyter_client", "nbclient", "IPython", "zmq", "filelock",
         "sqlite3", "jsonschema")
FAST_PATH_MODULES = {"jupyter_mlpipe", "jupyter_mlpipe.daemon", "jupyter_mlpipe.daemon.launcher",
                     "jupyter_mlpipe.run", "jupyter_mlpipe.run.noop"}


def _settle() -> None:
    """Let what the test just wrote age past the racy window, as a user's files have."""
    time.sleep(noop.RACY_SECONDS + 0.2)


def imported(*args: str | Path, cwd: Path, env: dict | None = None) -> tuple[str, set[str]]:
    """stdout of `mlpipe ARGS` and the modules it imported (python -X importtime, with the
    console script's own interpreter, so it is the same process as a user's)."""
    python = MLPIPE.read_text().splitlines()[0].removeprefix("#!")
    r = subprocess.run([python, "-X", "importtime", str(MLPIPE), *map(str, args)], cwd=cwd,
                       capture_output=True, text=True, env={**os.environ, **(env or {})})
    assert r.returncode == 0, r.stdout + r.stderr
    mods = {line.split("|")[-1].strip() for line in r.stderr.splitlines()
            if line.startswith("import time:") and "|" in line}
    return r.stdout, mods - {"package"}


def heavy(mods: set[str]) -> list[str]:
    return sorted(m for m in mods if m.split(".")[0] in HEAVY)


STEPS = [
    "%%step load --out raw --reads data.csv\n"
    "raw = open('data.csv').read()\nopen('executed.log', 'a').write('load\\n')",
    "%%step total --in raw --out t\nimport helpers\n"
    "t = helpers.scale(len(raw)) * k + len(open('extra.txt').read()) + len(os.environ.get("
    "'NOOP_PROBE', ''))\n"
    "open('executed.log', 'a').write('total\\n')\nopen('total.txt', 'w').write(str(t))",
]


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A pipeline that reads a declared file, an undeclared one, a project module and an
    environment variable, run once and settled, then run again so the state is written."""
    monkeypatch.delenv("MLPIPE_HOME", raising=False)
    monkeypatch.delenv("NOOP_PROBE", raising=False)
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    (tmp_path / "extra.txt").write_text("xx")
    (tmp_path / "helpers.py").write_text("def scale(n):\n    return n * 10\n")
    nb = write_pipeline(tmp_path, STEPS, params="k = 1")
    _settle()
    first = mlpipe("run", nb.name, cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    _settle()
    again = mlpipe("run", nb.name, cwd=tmp_path)  # the full path: nothing to do, state written
    assert again.returncode == 0 and "2 reused" in again.stdout, again.stdout + again.stderr
    (tmp_path / "executed.log").write_text("")  # emptied, not removed: the folder stays as is
    return nb


def executed(folder: Path) -> list[str]:
    log = folder / "executed.log"
    return log.read_text().split() if log.exists() else []


@pytest.mark.slow
def test_a_noop_run_and_status_import_nothing_heavy(project):
    folder = project.parent
    out, mods = imported("run", project.name, cwd=folder)
    assert "nothing changed: 2 reused" in out
    assert heavy(mods) == []
    assert {m for m in mods if m.startswith("jupyter_mlpipe")} == FAST_PATH_MODULES
    out, mods = imported("status", project.name, cwd=folder)
    assert "2 cached, 0 stale" in out and heavy(mods) == []
    assert {m for m in mods if m.startswith("jupyter_mlpipe")} == FAST_PATH_MODULES
    assert executed(folder) == []
    # the full path of status (no state to answer from) stays light too
    out, mods = imported("status", project.name, cwd=folder, env={"MLPIPE_NO_FASTPATH": "1"})
    assert "2 cached, 0 stale" in out
    assert [m for m in heavy(mods) if m.split(".")[0] in
            ("papermill", "nbformat", "jupyter_client", "nbclient", "IPython")] == []


def _edit_data(folder: Path, nb: Path) -> None:
    with open(folder / "data.csv", "a") as f:
        f.write("3,4\n")


def _edit_undeclared(folder: Path, nb: Path) -> None:
    (folder / "extra.txt").write_text("xy")  # same size: only the stat's times tell


def _edit_module(folder: Path, nb: Path) -> None:
    (folder / "helpers.py").write_text("def scale(n):\n    return n * 11\n")


def _edit_notebook(folder: Path, nb: Path) -> None:
    replace_cell(nb, "k = 1", "k = 2")


def _clear_cache(folder: Path, nb: Path) -> None:
    for entry in (folder / ".mlpipe" / "entries").rglob("*.json"):
        entry.unlink()


def _restore_mtime(folder: Path, nb: Path) -> None:
    """Same size, old mtime put back: only ctime and the content say it changed."""
    path = folder / "extra.txt"
    st = path.stat()
    path.write_text("zz")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


CHANGES = {  # change -> steps that must execute again
    "declared read": (_edit_data, ["load", "total"], {}),
    "undeclared read": (_edit_undeclared, ["total"], {}),
    "mtime put back": (_restore_mtime, ["total"], {}),
    "project module": (_edit_module, ["total"], {}),
    "parameter in the notebook": (_edit_notebook, ["total"], {}),
    "cache cleared": (_clear_cache, ["load", "total"], {}),
    "environment variable the step read": (lambda f, nb: None, ["total"], {"NOOP_PROBE": "x"}),
}


@pytest.mark.slow
@pytest.mark.parametrize("change", list(CHANGES))
def test_a_change_after_a_noop_is_seen(project, change):
    folder = project.parent
    edit, rerun, env = CHANGES[change]
    assert "nothing changed" in mlpipe("run", project.name, cwd=folder).stdout  # fast path on
    edit(folder, project)
    status = mlpipe("status", project.name, cwd=folder, env=env)
    assert "stale" in status.stdout and "0 stale" not in status.stdout, status.stdout
    r = mlpipe("run", project.name, cwd=folder, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "nothing changed" not in r.stdout
    assert sorted(executed(folder)) == sorted(rerun)


@pytest.mark.slow
def test_a_parameter_override_is_not_answered_by_the_state_of_another(project):
    folder = project.parent
    r = mlpipe("run", project.name, "-p", "k", "5", cwd=folder)
    assert r.returncode == 0 and "nothing changed" not in r.stdout
    assert executed(folder) == ["total"]
    assert (folder / "total.txt").read_text() == str(80 * 5 + 2)


@pytest.mark.slow
def test_no_reuse_steps_always_execute(tmp_path, monkeypatch):
    monkeypatch.delenv("MLPIPE_HOME", raising=False)
    nb = write_pipeline(tmp_path, ["%%step tick --no-reuse --out t\nt = 1\n"
                                   "open('executed.log', 'a').write('tick\\n')"])
    _settle()
    for _ in range(3):
        r = mlpipe("run", nb.name, cwd=tmp_path)
        assert r.returncode == 0 and "nothing changed" not in r.stdout
        _settle()
    assert executed(tmp_path) == ["tick"] * 3


class _FutureStore(Store):
    """A store whose entries carry a manifest kind this version does not know (as a newer
    jupyter_mlpipe might record: folder listings)."""

    def get_entry(self, key):
        entry = super().get_entry(key)
        if entry is not None:
            entry["manifest"] = {**entry.get("manifest", {}), "listings": {"data": "abc"}}
        return entry


@pytest.mark.slow
def test_an_unknown_manifest_kind_writes_no_state(project):
    spec = load_pipeline(project)
    store = Store.for_notebook(project)
    keys = {}
    for name in ("load", "total"):
        latest = store.get_latest(project.name, name)
        keys[name] = latest["key"]
    since = time.time()
    assert noop_state.remember(spec, store, keys, "run", [], since)  # the real entries: written
    assert noop.check(["run", str(project)]) is not None
    future = _FutureStore(store.home, store.root)
    assert not noop_state.remember(spec, future, keys, "run", [], since)
    assert noop.check(["run", str(project)]) is None


@pytest.mark.parametrize("argv, parsed", [
    (["run", "nb.ipynb"], ("run", "nb.ipynb", [])),
    (["run", "nb.ipynb", "-j", "2", "--no-daemon", "--output", "all"], ("run", "nb.ipynb", [])),
    (["status", "nb.ipynb", "-p", "k", "3"], ("status", "nb.ipynb", [["k", "3"]])),
    (["run", "nb.ipynb", "--force"], None),
    (["run", "nb.ipynb", "--only", "a"], None),
    (["run", "nb.ipynb", "--sweep", "k=1,2"], None),
    (["run", "nb.ipynb", "-p", "k"], None),
    (["status", "nb.ipynb", "-j", "2"], None),
    (["runs", "nb.ipynb"], None),
    (["run"], None),
])
def test_only_plain_runs_and_statuses_take_the_fast_path(argv, parsed):
    assert noop.parse_argv(argv) == parsed



@pytest.mark.slow
def test_a_notebook_saved_just_before_a_run_is_answered_by_its_content_next_time(project):
    """The edit-then-run loop: the notebook's stat is too recent to trust when the run ends,
    so its content is recorded (as git does for a racily clean file). The run after it takes
    the fast path (no run recorded), and a later edit is seen even when the size and the
    mtime say nothing."""
    folder = project.parent
    runs = folder / ".mlpipe" / "runs"
    _edit_notebook(folder, project)  # k = 2, saved just now: no settling
    r = mlpipe("run", project.name, cwd=folder)
    assert r.returncode == 0 and executed(folder) == ["total"], r.stdout + r.stderr
    recorded = sorted(runs.iterdir())
    again = mlpipe("run", project.name, cwd=folder)
    assert "nothing changed: 2 reused" in again.stdout, again.stdout + again.stderr
    assert sorted(runs.iterdir()) == recorded and executed(folder) == ["total"]
    st = project.stat()
    replace_cell(project, "k = 2", "k = 3")  # same size; its old mtime put back below
    os.utime(project, ns=(st.st_atime_ns, st.st_mtime_ns))
    r = mlpipe("run", project.name, cwd=folder)
    assert r.returncode == 0 and "nothing changed" not in r.stdout, r.stdout + r.stderr
    assert executed(folder) == ["total", "total"]
    assert (folder / "total.txt").read_text() == str(80 * 3 + 2)  # scale(8 chars) * k + 2


@pytest.mark.slow
def test_a_notebook_edited_while_its_run_ran_is_not_taken_for_the_one_decided_on(
        tmp_path, monkeypatch):
    """An edit after the run parsed the notebook and before it ended: the next run must see
    it, although the content recorded at the end would match (the content is recorded only
    once a second parse gives the pipeline the run decided on). Nothing else in the notebook's
    folder changes (store and the step's files elsewhere), so only that rule stands here."""
    monkeypatch.setenv("MLPIPE_HOME", str(tmp_path / "store"))
    side = tmp_path / "side"
    side.mkdir()
    steps = ["%%step slow --out x\nimport time\n"
             f"open({str(side / 'started')!r}, 'w').write('')\n"
             f"time.sleep(2)\nx = 1\nopen({str(side / 'log')!r}, 'a').write(f'slow {{x}}\\n')"]
    nb = write_pipeline(tmp_path / "proj", steps)
    _settle()
    run = subprocess.Popen([str(MLPIPE), "run", nb.name], cwd=nb.parent,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while not (side / "started").exists():
        assert run.poll() is None and time.monotonic() < deadline, run.communicate()[0]
        time.sleep(0.05)
    replace_cell(nb, "%%step slow", steps[0].replace("x = 1", "x = 2"))
    out = run.communicate(timeout=120)[0]
    assert run.returncode == 0, out
    r = mlpipe("run", nb.name, cwd=nb.parent)
    assert r.returncode == 0 and "nothing changed" not in r.stdout, r.stdout + r.stderr
    assert (side / "log").read_text().split("\n")[:2] == ["slow 1", "slow 2"]
