"""--timeout, --retries and the [run] defaults, with real kernels; a killed kernel named.

# slow -> after; indep (timeouts)      flaky (retries, a counter file)
"""
from __future__ import annotations

import time

import pytest

from jupyter_mlpipe import Pipeline
from jupyter_mlpipe.kernels.exits import describe_exit, oom_kills
from tests.helpers import replace_cell

pytestmark = pytest.mark.slow

FLAKY = """%%step flaky --out x {opts}
from pathlib import Path
p = Path("count.txt")
n = int(p.read_text()) if p.exists() else 0
p.write_text(str(n + 1))
Path(f"pid{{n}}.txt").write_text(str(__import__("os").getpid()))  # which kernel ran try n
if n < {fails}:
    {fail}
x = n"""


def states(run):
    return {n: str(s.state) for n, s in run.steps.items()}


def test_timeout_interrupts_then_kills_downstream_skipped_independent_finish(make_nb):
    path = make_nb([
        "%%step slow --out x --timeout 2s\nimport time\ntime.sleep(120)\nx = 1",
        "%%step after --in x --out y\ny = x + 1",
        "%%step indep --out z\nz = 3",
        # ignores the interrupt: killed once the grace period has passed
        "%%step stubborn --out w --timeout 1\nimport signal, time\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(120)\nw = 1",
    ])
    t0 = time.monotonic()
    run = Pipeline.from_notebook(path).run(jobs=3)
    took = time.monotonic() - t0
    assert states(run) == {"slow": "failed", "after": "skipped", "indep": "succeeded",
                           "stubborn": "failed"}
    assert "timed out after 2s (interrupted)" in run.steps["slow"].error
    assert "timed out after 1s (interrupted, then killed" in run.steps["stubborn"].error
    assert run.steps["slow"].duration < 10
    assert took < 40  # not the 120 s the steps would sleep
    assert run.outputs("indep") == {"z": 3}


def test_run_timeout_default_from_mlpipe_toml_and_step_override(make_nb):
    path = make_nb([
        "%%step slow --out x\nimport time\ntime.sleep(120)\nx = 1",
        "%%step patient --out y --timeout 2m\nimport time\ntime.sleep(2)\ny = 2",
    ])
    (path.parent / "mlpipe.toml").write_text('[run]\ntimeout = "1s"\n')
    run = Pipeline.from_notebook(path).run(jobs=2)
    assert states(run) == {"slow": "failed", "patient": "succeeded"}
    assert "timed out after 1s" in run.steps["slow"].error


def test_retries_each_try_in_a_fresh_kernel_attempts_recorded(make_nb, mlpipe_cli):
    path = make_nb([FLAKY.format(opts="--retries 2", fails=2,
                                 fail="raise RuntimeError(f'try {n}')")])
    r = mlpipe_cli("run", path)
    assert r.returncode == 0, r.stderr
    assert (path.parent / "count.txt").read_text() == "3"
    pids = {(path.parent / f"pid{i}.txt").read_text() for i in range(3)}
    assert len(pids) == 3
    assert "attempt 2/3" in r.stdout and "attempt 3/3" in r.stdout
    assert Pipeline.from_notebook(path).run().outputs("flaky") == {"x": 2}  # stored, reused
    run_id = r.stdout.split("run ")[1].split()[0]
    shown = mlpipe_cli("show", run_id, "--notebook", path)
    assert "[3 attempts]" in shown.stdout
    assert "attempt 1 failed: step 'flaky' failed: RuntimeError: try 0" in shown.stdout
    assert "attempt 2 failed: step 'flaky' failed: RuntimeError: try 1" in shown.stdout


def test_retries_exhausted_fail_and_dead_kernels_are_retried(make_nb):
    path = make_nb([FLAKY.format(opts="--retries 1", fails=5, fail="raise ValueError('no')")])
    run = Pipeline.from_notebook(path).run(jobs=1)
    assert states(run) == {"flaky": "failed"}
    assert run.steps["flaky"].attempts == 2
    assert (path.parent / "count.txt").read_text() == "2"

    (path.parent / "count.txt").unlink()
    replace_cell(path, "%%step flaky", FLAKY.format(opts="--retries 1", fails=1,
                                                     fail="os._exit(3)").replace(
        "from pathlib", "import os\nfrom pathlib"))
    run = Pipeline.from_notebook(path).run(jobs=1)
    assert states(run) == {"flaky": "succeeded"}
    assert run.steps["flaky"].attempts == 2
    assert "kernel died" in run.steps["flaky"].attempt_errors[0]


def test_run_retries_default_and_errors_not_retried(make_nb):
    path = make_nb([
        FLAKY.format(opts="", fails=1, fail="raise RuntimeError('once')"),
        # a declared --writes file never written: another try would not write it either
        "%%step w --out v --writes never.txt\nfrom pathlib import Path\n"
        "c = Path('w.txt')\nc.write_text(c.read_text() + '1' if c.exists() else '1')\nv = 1",
    ])
    (path.parent / "mlpipe.toml").write_text("[run]\nretries = 3\n")
    run = Pipeline.from_notebook(path).run(jobs=2)
    assert states(run) == {"flaky": "succeeded", "w": "failed"}
    assert run.steps["flaky"].attempts == 2
    assert (path.parent / "w.txt").read_text() == "1"
    assert run.steps["w"].attempts == 1


@pytest.mark.parametrize("option, words", [
    ("--timeout 0", "must be more than zero"),
    ("--timeout abc", "is not a duration"),
    ("--timeout -5s", "is not a duration"),
    ("--retries -1", "not a number of retries"),
    ("--retries two", "not a number of retries"),
])
def test_bad_timeout_or_retries_exit_2_and_nothing_stored_lost(make_nb, mlpipe_cli, option,
                                                                 words):
    path = make_nb(["%%step a --out x\nx = 1", "%%step b --in x --out y\ny = x"])
    assert mlpipe_cli("run", path).returncode == 0
    replace_cell(path, "%%step b", f"%%step b --in x --out y {option}\ny = x")
    r = mlpipe_cli("run", path)
    assert r.returncode == 2
    assert words in r.stderr and "step 'b'" in r.stderr and "Traceback" not in r.stderr
    replace_cell(path, "%%step b", "%%step b --in x --out y\ny = x")
    assert "2 cached, 0 stale" in mlpipe_cli("status", path).stdout


def test_bad_run_table_in_mlpipe_toml_exit_2(make_nb, mlpipe_cli):
    path = make_nb(["%%step a --out x\nx = 1"])
    (path.parent / "mlpipe.toml").write_text('[run]\ntimeout = "soon"\n')
    r = mlpipe_cli("run", path)
    assert r.returncode == 2 and "[run] timeout 'soon' is not a duration" in r.stderr


def test_a_kernel_killed_by_sigkill_is_named_likely_out_of_memory(make_nb):
    path = make_nb(["%%step hog --out x\nimport os, signal\nos.kill(os.getpid(), signal.SIGKILL)"])
    run = Pipeline.from_notebook(path).run(jobs=1)
    err = run.steps["hog"].error
    assert "step 'hog'" in err and "likely out of memory" in err and "SIGKILL" in err


def test_an_oom_kill_counted_by_the_cgroup_is_named_for_sure(tmp_path):
    events = tmp_path / "memory.events"
    events.write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    before = oom_kills(events)
    events.write_text("low 0\nhigh 0\nmax 4\noom 2\noom_kill 2\n")
    assert "out-of-memory killer" in describe_exit(-9, before, oom_kills(events))
    assert describe_exit(1) == "kernel process exited with code 1"
