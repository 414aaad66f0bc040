"""The `mlpipe` command as a user types it: exit codes, messages, status reasons."""
from __future__ import annotations

import shutil

import pytest

from tests.helpers import MLPIPE, kernel_processes, replace_cell, run_until_running

STEPS = [
    "%%step load --out raw\nraw = list(range(5))",
    "%%step total --in raw --out t\nt = sum(raw) * k",
]


def test_run_status_runs_show(make_nb, mlpipe_cli, tmp_path):
    path = make_nb(STEPS, params="k = 1")
    r = mlpipe_cli("run", path, "--jobs", "2")
    assert r.returncode == 0, r.stderr
    assert "load" in r.stdout and "succeeded" in r.stdout
    r = mlpipe_cli("status", path)
    assert r.returncode == 0 and "2 cached, 0 stale" in r.stdout
    r = mlpipe_cli("status", path, "-p", "k", "3")
    assert "parameter 'k' changed (1 -> 3)" in r.stdout
    r = mlpipe_cli("run", path, "-p", "k", "3")
    assert r.returncode == 0 and "1 reused, 1 succeeded" in r.stdout
    r = mlpipe_cli("runs", path)
    assert r.stdout.count("succeeded") >= 2
    run_id = r.stdout.splitlines()[1].split()[0]
    r = mlpipe_cli("show", run_id, "--notebook", path)
    assert r.returncode == 0 and "total" in r.stdout and "k=3" in r.stdout


def test_failing_run_exits_nonzero_with_traceback_and_resume_hint(make_nb, mlpipe_cli):
    path = make_nb(STEPS + ["%%step broken --in t\nraise RuntimeError('bad data in ' + str(t))"],
                   params="k = 1")
    r = mlpipe_cli("run", path)
    assert r.returncode == 1
    assert "step 'broken' failed" in r.stderr
    assert "RuntimeError: bad data in 10" in r.stderr
    assert "executed notebook:" in r.stderr and "broken.ipynb" in r.stderr
    assert "2 step(s) are stored" in r.stderr and "mlpipe run" in r.stderr


def test_definition_errors_are_one_paragraph(make_nb, mlpipe_cli):
    path = make_nb(["%%step load --outt raw\nraw = 1"])
    r = mlpipe_cli("run", path)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert "cell 2: bad %%step line" in r.stderr and "unrecognized arguments: --outt" in r.stderr
    cyc = make_nb(["%%step a --in y --out x\nx = y", "%%step b --in x --out y\ny = x"],
                  name="cyc.ipynb")
    r = mlpipe_cli("status", cyc)
    assert r.returncode == 2 and "cycle" in r.stderr and "Traceback" not in r.stderr


def test_unknown_step_and_parameter(make_nb, mlpipe_cli):
    path = make_nb(STEPS, params="k = 1")
    r = mlpipe_cli("run", path, "--only", "nope")
    assert r.returncode == 2 and "no step named 'nope'" in r.stderr and "load, total" in r.stderr
    r = mlpipe_cli("run", path, "-p", "kk", "2")
    assert r.returncode == 2 and "unknown parameter(s) kk" in r.stderr


def test_graph_dot_and_svg(make_nb, mlpipe_cli, tmp_path):
    path = make_nb(STEPS, params="k = 1")
    r = mlpipe_cli("graph", path)
    assert r.returncode == 0 and "load -> total [label=raw]" in r.stdout
    r = mlpipe_cli("graph", path, "-o", tmp_path / "g.svg")
    if shutil.which("dot"):
        assert r.returncode == 0 and (tmp_path / "g.svg").read_text().lstrip().startswith("<")
    else:
        assert r.returncode == 1 and "apt-get install graphviz" in r.stderr


def _on_disk(home) -> tuple[set[str], set[str]]:
    """(entry keys, artifact digests) as files under the store, not as the store counts them."""
    return ({p.stem for p in (home / "entries").glob("*/*.json")},
            {p.name for p in (home / "objects").glob("*/*")})


def _current(path) -> tuple[set[str], set[str]]:
    """(keys, output digests) of the results the notebook as it is now would reuse."""
    from jupyter_mlpipe import Pipeline

    pipe = Pipeline.from_notebook(path)
    keys = {s.key for s in pipe.status()}
    digests = {d for k in keys for d in pipe.store.get_entry(k)["outputs"].values()}
    return keys, digests


def test_cache_commands(make_nb, mlpipe_cli, tmp_path):
    path = make_nb(STEPS, params="k = 1")
    home = tmp_path / ".mlpipe"
    assert mlpipe_cli("run", path).returncode == 0
    first_keys, first_objects = _on_disk(home)
    assert (first_keys, first_objects) == _current(path) and len(first_keys) == 2
    r = mlpipe_cli("cache", "ls", "--notebook", path)
    assert "2 entries" in r.stdout and "load" in r.stdout
    replace_cell(path, "%%step total", "%%step total --in raw --out t\nt = sum(raw) * k * 2")
    assert mlpipe_cli("run", path).returncode == 0
    keys, objects = _current(path)
    assert _on_disk(home) == (first_keys | keys, first_objects | objects)
    r = mlpipe_cli("cache", "gc", "--notebook", path, "--older-than", "0")
    assert "removed 1 entries" in r.stdout
    assert _on_disk(home) == (keys, objects)  # the old total's entry and its value are gone
    r = mlpipe_cli("status", path)
    assert "2 cached" in r.stdout
    r = mlpipe_cli("cache", "clear", "--notebook", path)
    assert r.returncode == 0
    assert _on_disk(home) == (set(), set())
    r = mlpipe_cli("status", path)
    assert "0 cached, 2 stale" in r.stdout  # clear forgets the status records too: never run


@pytest.mark.parametrize("args", [["run"], ["status"]])
def test_missing_notebook(mlpipe_cli, tmp_path, args):
    r = mlpipe_cli(*args, tmp_path / "nope.ipynb")
    assert r.returncode == 2 and "does not exist" in r.stderr


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_killed_run_stops_kernels_keeps_finished_steps(make_nb, tmp_path, sig):
    import signal
    import subprocess
    import time

    path = make_nb(["%%step quick --out q\nq = 41",
                    "%%step slow --in q --out s\nimport time\ntime.sleep(60)\ns = q + 1"])
    proc = run_until_running(path, "slow", "--jobs", "1")
    t0 = time.time()
    proc.send_signal(getattr(signal, sig))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert time.time() - t0 < 15
    assert "interrupted" in err and "to resume" in err
    runs = subprocess.run([str(MLPIPE), "runs", str(path)], capture_output=True, text=True).stdout
    assert "interrupted" in runs
    status = subprocess.run([str(MLPIPE), "status", str(path)], capture_output=True, text=True).stdout
    assert "quick  cached" in status and "slow   stale" in status
    time.sleep(1.0)
    assert kernel_processes(tmp_path) == [], "kernels of the stopped run are still alive"



def test_status_with_a_missing_reads_file_says_so(make_nb, mlpipe_cli, tmp_path):
    (tmp_path / "data.csv").write_text("a\n1\n")
    path = make_nb(["%%step load --reads data.csv --out raw\nraw = open('data.csv').read()",
                    "%%step use --in raw --out n\nn = len(raw)"])
    assert mlpipe_cli("run", path).returncode == 0
    (tmp_path / "data.csv").unlink()
    r = mlpipe_cli("status", path)
    assert r.returncode == 0
    assert "--reads data.csv: no such file or folder" in r.stdout
    assert "upstream 'load' is stale" in r.stdout
    r = mlpipe_cli("run", path)
    assert r.returncode == 1 and "--reads data.csv: no such file" in r.stderr
