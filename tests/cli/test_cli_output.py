"""What `mlpipe` prints around a run: step output, progress, history look-ups, usage errors."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PRINTING = [
    "%%step load --out raw\nraw = list(range(5))\nfor i in range(15):\n    print('line', i)",
    "%%step total --in raw --out t\nt = sum(raw) * k\nprint('total is', t)",
]


def test_step_output_and_progress_reach_the_terminal(make_nb, mlpipe_cli):
    path = make_nb(PRINTING, params="k = 1")
    r = mlpipe_cli("run", path, "--jobs", "1")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "    | total is 10" in lines
    assert "    | line 14" in lines and "    | line 4" not in lines  # the last 10 lines
    assert any("5 earlier lines; --output all shows them" in line for line in lines)
    assert any("succeeded [2/2]" in line for line in lines)
    assert any("[0/2]" in line for line in lines)
    run_dir = path.parent / ".mlpipe" / "runs"
    assert f"executed notebooks: {run_dir}" in r.stdout
    # a second run knows how long each step took: an ETA
    r = mlpipe_cli("run", path, "--force", "--output", "all")
    assert r.returncode == 0 and "ETA" in r.stdout and "    | line 0" in r.stdout
    r = mlpipe_cli("run", path, "--force", "--output", "none")
    assert r.returncode == 0 and "    |" not in r.stdout


def test_version_and_did_you_mean(mlpipe_cli):
    r = mlpipe_cli("--version")
    assert r.returncode == 0 and r.stdout.startswith("mlpipe ")
    r = mlpipe_cli("stauts", "x.ipynb")
    assert r.returncode == 2 and "did you mean 'status'?" in r.stderr
    r = mlpipe_cli("run", "x.ipynb", "--forse")
    assert r.returncode == 2 and "did you mean '--force'?" in r.stderr
    r = mlpipe_cli("cache", "lss")
    assert r.returncode == 2 and "did you mean 'ls'?" in r.stderr


def test_runs_and_show_create_nothing_and_show_finds_the_run(make_nb, mlpipe_cli, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = mlpipe_cli("runs", cwd=elsewhere)
    assert r.returncode == 0 and "no runs recorded yet" in r.stdout
    r = mlpipe_cli("show", "20990101-000000-abcdef", cwd=elsewhere)
    assert r.returncode == 1 and "searched:" in r.stderr and str(elsewhere) in r.stderr
    assert list(elsewhere.iterdir()) == []  # no .mlpipe made
    path = make_nb(PRINTING, params="k = 1")
    assert mlpipe_cli("run", path).returncode == 0
    run_id = mlpipe_cli("runs", path).stdout.splitlines()[1].split()[0]
    r = mlpipe_cli("show", run_id, cwd=path.parent)  # the current folder's store
    assert r.returncode == 0 and "total" in r.stdout
    r = mlpipe_cli("show", run_id, "--notebook", path, cwd=elsewhere)
    assert r.returncode == 0 and "total" in r.stdout
    r = mlpipe_cli("show", run_id, cwd=elsewhere, env={"MLPIPE_HOME": str(path.parent / ".mlpipe")})
    assert r.returncode == 0 and "total" in r.stdout
    assert list(elsewhere.iterdir()) == []


def test_runs_into_a_closed_pipe_exits_quietly(make_nb, mlpipe_cli):
    path = make_nb(["%%step a --out x\nx = 1"])
    for _ in range(3):
        assert mlpipe_cli("run", path, "--force").returncode == 0
    exe = Path(sys.executable).with_name("mlpipe")
    r = subprocess.run(f"'{exe}' runs '{path}' | head -1", shell=True, capture_output=True,
                       text=True, timeout=120, check=False)
    assert r.stdout.startswith("RUN") and "Traceback" not in r.stderr
    assert "BrokenPipeError" not in r.stderr


def test_undeclared_read_warns_once_in_one_line(make_nb, mlpipe_cli):
    path = make_nb(["%%step load --out raw\nraw = 1", "%%step other --out q\nq = 2",
                    "%%step train --in q --out m\nm = raw + q"])
    r = mlpipe_cli("status", path, env={"PYTHONWARNINGS": "default"})
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("reads 'raw'") == 1 and "UserWarning" not in r.stderr
    assert "warning: step 'train' (cell 4) reads 'raw'" in r.stderr  # as JupyterLab numbers it


def test_unpicklable_output_is_one_paragraph(make_nb, mlpipe_cli):
    path = make_nb(["%%step gen --out g\ng = (i for i in range(3))"])
    r = mlpipe_cli("run", path)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr and "in_kernel.py" not in r.stderr
    assert r.stderr.count("cannot be pickled") == 1
    assert "output 'g'" in r.stderr and "drop 'g' from --out" in r.stderr


def test_nbclients_kernel_died_log_line_is_dropped():
    # A failed run kills its spare kernels while they may still run the warm-up cells
    # (executor.close(now=True)); nbclient logs this line for each. A kernel that dies under
    # a step is reported as that step's own error instead.
    import logging

    import papermill.engines  # noqa: F401 - first, as preload() does: it loads our engine

    from jupyter_mlpipe.executors import engine

    def record(msg):
        return logging.LogRecord("papermill", logging.ERROR, __file__, 1, msg, None, None)

    assert not engine.logger.filter(record("Kernel died while waiting for execute reply."))
    assert engine.logger.filter(record("Executing notebook with kernel: python3"))
