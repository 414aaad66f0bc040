"""A run whose process died without recording its end (SIGKILL, a stopped Jupyter server) reads
as `interrupted` at the next look, from the CLI and over REST; a live one stays `running`."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from jupyter_mlpipe.store.files import Store
from jupyter_mlpipe.store.history import History

SLOW = ["%%step quick --out a\na = 1",
        "%%step slow --in a --out b\nimport time\ntime.sleep(600)\nb = a"]


def _wait_for_step(home: Path, step: str, state: str, timeout: float = 120) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if (home / "history.sqlite").exists():
            h = History(home)
            try:
                rows = h.db.execute("SELECT state FROM step_runs WHERE step=?", (step,)).fetchall()
            finally:
                h.close()
            if any(r[0] == state for r in rows):
                return
        time.sleep(0.3)
    raise AssertionError(f"step {step} never {state}")


def test_a_run_killed_with_sigkill_reads_as_interrupted(make_nb, mlpipe_cli):
    path = make_nb(SLOW)
    exe = Path(sys.executable).with_name("mlpipe")
    proc = subprocess.Popen([str(exe), "run", str(path)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    home = path.parent / ".mlpipe"
    try:
        _wait_for_step(home, "slow", "running")
        r = mlpipe_cli("runs", path)
        assert "running" in r.stdout and "interrupted" not in r.stdout  # alive: left alone
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the run and its kernels, no chance to record
        proc.wait()
    r = mlpipe_cli("runs", path)
    assert r.returncode == 0, r.stderr
    assert "interrupted" in r.stdout and "running" not in r.stdout
    run_id = r.stdout.splitlines()[1].split()[0]
    r = mlpipe_cli("show", run_id, "--notebook", path)
    assert "interrupted" in r.stdout
    h = History(home)
    steps = {s["step"]: s for s in h.run(run_id)["steps"]}
    h.close()
    assert steps["quick"]["state"] == "succeeded"
    assert steps["slow"]["state"] == "failed" and steps["slow"]["finished"]


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


async def test_rest_lists_a_run_of_a_dead_server_as_interrupted(jp_fetch, demo, jp_root_dir):
    nb = (jp_root_dir / demo).resolve()
    h = History(Store.for_notebook(nb).home)
    h.start_run("20260101-000000-dead00", str(nb), "rest", {}, None, 1)
    h.start_run("20260101-000001-alive0", str(nb), "rest", {}, None, 1)  # this process: alive
    h.db.execute("UPDATE runs SET owner_pid=? WHERE run_id=?",
                 (_dead_pid(), "20260101-000000-dead00"))
    h.close()
    r = await jp_fetch("mlpipe", "api", "runs", params={"path": demo})
    states = {run["run_id"]: run["state"] for run in json.loads(r.body)["runs"]}
    assert states == {"20260101-000000-dead00": "interrupted",
                      "20260101-000001-alive0": "running"}
    r = await jp_fetch("mlpipe", "api", "runs", "20260101-000000-dead00", params={"path": demo})
    run = json.loads(r.body)
    assert run["state"] == "interrupted" and "ended without recording an end" in run["error"]


def test_a_pid_reused_by_another_process_is_not_the_owner():
    from jupyter_mlpipe.store.liveness import Owner, is_alive, this_process

    me = this_process()
    assert is_alive(me)
    if me.started is not None:
        assert not is_alive(Owner(me.pid, me.started + 1))
    assert not is_alive(Owner(_dead_pid(), None))
