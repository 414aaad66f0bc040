"""Schedules with real kernels: --every on time and reusing everything, missed times run once,
a data change runs just the affected steps, a touch runs nothing, SIGTERM leaves no kernel.

# load(data.txt) -> count ; other (reads nothing)
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest

from jupyter_mlpipe.automation.schedule import (
    add_schedule, describe, load_schedules, save_schedules)
from jupyter_mlpipe.automation.scheduler import Scheduler
from jupyter_mlpipe.store.files import Store
from jupyter_mlpipe.store.history import History

from tests.helpers import wait_for

MARK = ("from pathlib import Path\n\ndef mark(name):\n"
        "    with open(Path('log.txt'), 'a') as f:\n        f.write(name + '\\n')")
STEPS = [
    MARK,
    "%%step load --reads data.txt --out text\nmark('load')\ntext = open('data.txt').read()",
    "%%step count --in text --out n\nmark('count')\nn = len(text)",
    "%%step other --out k\nmark('other')\nk = 1",
]


def executed(folder: Path) -> Counter:
    log = folder / "log.txt"
    return Counter(log.read_text().split()) if log.exists() else Counter()


def triggered_runs(nb: Path) -> list[dict]:
    h = History(Store.for_notebook(nb).home)
    try:
        return [r for r in h.runs(str(nb.resolve()), 50) if r.get("trigger")][::-1]
    finally:
        h.close()


def finished_runs(nb: Path, n: int) -> list[dict] | None:
    """The triggered runs once the first `n` have ended (a run seen while it still runs would
    say "running"), else None."""
    runs = triggered_runs(nb)
    if len(runs) < n or any(r["state"] in ("running", "pending") for r in runs[:n]):
        return None
    return runs


def is_kernel(p: psutil.Process) -> bool:
    """A kernel started plainly, or forked from a kernel template (it keeps the template's argv,
    and the template is its parent)."""
    try:
        line = " ".join(p.cmdline())
        return "ipykernel" in line or ("kernels.forkserver" in line
                                       and "kernels.forkserver" in " ".join(p.parent().cmdline()))
    except (psutil.Error, AttributeError):
        return False




@pytest.fixture
def project(make_nb):
    nb = make_nb(STEPS)
    (nb.parent / "data.txt").write_text("hello")
    return nb


@pytest.fixture
def scheduler(project):
    stop = threading.Event()
    lines: list[str] = []
    sched = Scheduler(project.parent, stop, jobs=2, poll=0.1, log=lines.append)
    thread = threading.Thread(target=sched.run)
    yield sched, thread, lines
    stop.set()
    thread.join(timeout=30)
    assert not thread.is_alive()


def test_every_runs_on_time_then_reuses_everything(project, scheduler):
    s = add_schedule(project.parent, project, every="1s")
    sched, thread, _ = scheduler
    t0 = time.time()
    thread.start()
    runs = wait_for(lambda: finished_runs(project, 2))
    assert runs[0]["started"] - t0 < 2.0  # due 1 s after it was added
    assert all(r["trigger"].startswith(f"schedule {s.id}: every 1s") for r in runs)
    assert runs[1]["kind"] == "schedule" and runs[1]["state"] == "succeeded"
    assert runs[1]["counts"] == {"reused": 3}  # nothing changed: nothing executed
    assert executed(project.parent) == Counter(load=1, count=1, other=1)
    row = describe(project.parent)[0]
    assert row["last_run"]["run_id"] in {r["run_id"] for r in triggered_runs(project)}
    assert row["next"] > row["last_run"]["started"]


def test_missed_times_run_once_and_a_failing_run_does_not_stop(project, make_nb, scheduler):
    bad = make_nb(["%%step boom\nraise RuntimeError('no')"], name="bad.ipynb")
    add_schedule(project.parent, bad, every="1h")
    add_schedule(project.parent, project, cron="0 * * * *")
    # both were added three hours ago: three missed times each
    save_schedules(project.parent, [s.__class__(**{**s.to_json(), "created": time.time() - 3 *
                                                   3600, "on_change": None})
                                    for s in load_schedules(project.parent)])
    sched, thread, lines = scheduler
    thread.start()
    wait_for(lambda: triggered_runs(project))
    time.sleep(1.0)
    assert len(triggered_runs(project)) == 1 and len(triggered_runs(bad)) == 1
    assert triggered_runs(bad)[0]["state"] == "failed"
    assert thread.is_alive()


def test_data_change_runs_only_affected_steps_and_touch_runs_nothing(project, scheduler):
    from jupyter_mlpipe import Pipeline

    assert Pipeline.from_notebook(project).run(jobs=2).ok
    s = add_schedule(project.parent, project, on_change=[])
    sched, thread, _ = scheduler
    thread.start()
    state = Store.for_notebook(project).home / "schedules" / f"{s.id}.json"
    wait_for(state.exists)  # the baseline digest
    time.sleep(1.0)  # the watcher is up
    os.utime(project.parent / "data.txt")  # a touch: same content
    time.sleep(1.5)
    assert triggered_runs(project) == []
    (project.parent / "data.txt").write_text("hello world")
    runs = wait_for(lambda: [r for r in triggered_runs(project) if r["finished"]])
    time.sleep(1.0)
    assert len(triggered_runs(project)) == 1
    assert "change of data.txt" in runs[0]["trigger"]
    assert executed(project.parent) == Counter(load=2, count=2, other=1)


def test_sigterm_stops_the_scheduler_and_leaves_no_kernel(make_nb):
    nb = make_nb(["%%step slow\nimport time\ntime.sleep(60)"])
    add_schedule(nb.parent, nb, every="1s")
    exe = Path(sys.executable).with_name("mlpipe")
    proc = subprocess.Popen([str(exe), "scheduler", "--dir", str(nb.parent)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    me = psutil.Process(proc.pid)
    kernels = wait_for(lambda: [p for p in me.children(recursive=True) if is_kernel(p)],
                       timeout=60)
    time.sleep(0.5)
    everything = me.children(recursive=True)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "stopped" in out
    gone, alive = psutil.wait_procs(everything + kernels, timeout=10)
    assert not alive, [p.pid for p in alive]
    run = triggered_runs(nb)[-1]
    assert run["state"] == "cancelled"
    assert json.loads((nb.parent / "mlpipe-schedules.json").read_text())["schedules"]
