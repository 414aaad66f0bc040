"""Runs whose kernels are forked from a template: isolation, cleanup, GPU env, spawn, fallback."""
from __future__ import annotations

import json
import logging
import signal
import sys
import time
from pathlib import Path

import pytest

from jupyter_mlpipe import Pipeline
from jupyter_mlpipe.pipeline.load import load_pipeline
from jupyter_mlpipe.run.runner import run_pipeline
from tests.helpers import (kernel_processes, mlpipe, run_on_fake_gpus, run_until_running,
                           write_notebook)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="forked kernels are Linux only")
TEMPLATE = "jupyter_mlpipe.kernels.forkserver"
PARENT = ("import psutil\n"
          "parent = ' '.join(psutil.Process(os.getppid()).cmdline())")
PRELUDE = "import os\nimport json\nimport random\nimport numpy as np"





def test_steps_share_nothing_with_the_template_or_each_other(make_nb, tmp_path):
    # `first` leaves every kind of state behind; `second` runs after it (jobs 1) and checks
    first = ("%%step first --out a\n" + PARENT + "\n"
             "json.LEFT_BEHIND = 1\nos.environ['MLPIPE_LEAK'] = '1'\n"
             "kept = open('kept.txt', 'w')\nos.chdir('/')\n"
             "a = (parent, random.random(), float(np.random.rand()))")
    second = ("%%step second --in a --out b\n" + PARENT + "\n"
              "assert not hasattr(json, 'LEFT_BEHIND')\n"
              "assert 'MLPIPE_LEAK' not in os.environ\n"
              f"assert os.getcwd() == {str(tmp_path)!r}, os.getcwd()\n"
              "files = [f.path for f in psutil.Process().open_files()]\n"
              "assert not any(f.endswith('kept.txt') for f in files), files\n"
              "b = (parent, random.random(), float(np.random.rand()))")
    path = make_nb([PRELUDE, first, second])
    r = mlpipe("run", path, "--jobs", "1")
    assert r.returncode == 0, r.stderr
    outs = Pipeline.from_notebook(path).run(jobs=1)  # all reused: reads the stored outputs
    assert {str(s.state) for s in outs.steps.values()} == {"reused"}
    a, b = outs.outputs("first")["a"], outs.outputs("second")["b"]
    assert TEMPLATE in a[0] and TEMPLATE in b[0], "the kernels were not forked"
    assert a[1] != b[1] and a[2] != b[2], "forked kernels share their random state"


def test_killed_run_leaves_no_kernel_or_template(make_nb, tmp_path):
    path = make_nb([PRELUDE, "%%step slow --out s\nimport time\ntime.sleep(60)\ns = 1"])
    for sig in (signal.SIGINT, signal.SIGTERM):
        proc = run_until_running(path, "slow", "--jobs", "1", "--force")
        assert kernel_processes(tmp_path), "no forked kernel found while the step runs"
        proc.send_signal(sig)
        proc.communicate(timeout=30)
        assert proc.returncode == 130
        time.sleep(1.0)
        assert kernel_processes(tmp_path) == [], f"left behind after {sig.name}"


def test_gpu_step_sees_its_own_device_in_a_forked_kernel(tmp_path):
    fake = [("0", "Fake GPU A"), ("1", "Fake GPU B")]
    steps = [f"%%step g{i} --out d{i} --target accel\n" + PARENT + "\n"
             f"d{i} = (os.environ['CUDA_VISIBLE_DEVICES'], parent)" for i in range(3)]
    nb = write_notebook(tmp_path / "pipe.ipynb", [PRELUDE, *steps])
    (tmp_path / "mlpipe.toml").write_text("[targets.accel]\n")

    run = run_on_fake_gpus(nb, fake)
    assert run.ok, [s.error for s in run.failed]
    for i in range(3):
        device, parent = run.outputs(f"g{i}")[f"d{i}"]
        assert TEMPLATE in parent, "the GPU kernel was not forked"
        executed = json.loads(Path(run.steps[f"g{i}"].notebook).read_text())
        assert executed["metadata"]["mlpipe"]["device"]["CUDA_VISIBLE_DEVICES"] == device


def test_spawn_mode_starts_plain_kernels(make_nb, tmp_path):
    (tmp_path / "mlpipe.toml").write_text('[targets.local]\nkernel_start = "spawn"\n')
    path = make_nb([PRELUDE, "%%step s --out p\n" + PARENT + "\np = parent"])
    run = run_pipeline(load_pipeline(path), jobs=1)
    assert run.ok, [s.error for s in run.failed]
    assert TEMPLATE not in run.outputs("s")["p"]


def test_bad_kernel_start_is_a_config_error(make_nb, tmp_path):
    (tmp_path / "mlpipe.toml").write_text('[targets.local]\nkernel_start = "clone"\n')
    path = make_nb([PRELUDE, "%%step s --out p\np = 1"])
    r = mlpipe("run", path)
    assert r.returncode != 0 and "kernel_start must be one of" in r.stderr


def test_a_template_that_cannot_fork_falls_back_and_says_so_once(make_nb, tmp_path, caplog):
    # importing this module starts a thread in the template, so it refuses to fork
    (tmp_path / "threaded_mod.py").write_text(
        "import threading, time\n"
        "threading.Thread(target=time.sleep, args=(600,), daemon=True).start()\n")
    steps = [f"%%step s{i} --out p{i}\n" + PARENT + f"\np{i} = parent" for i in range(3)]
    path = make_nb([PRELUDE + "\nimport threaded_mod", *steps])
    with caplog.at_level(logging.WARNING, logger="jupyter_mlpipe"):
        run = run_pipeline(load_pipeline(path), jobs=2)
    assert run.ok, [s.error for s in run.failed]
    assert all(TEMPLATE not in run.outputs(f"s{i}")[f"p{i}"] for i in range(3))
    said = [r for r in caplog.records if "forked kernel start failed" in r.getMessage()]
    assert len(said) == 1, [r.getMessage() for r in caplog.records]


def test_a_forked_kernel_reads_the_users_ipython_kernel_config(tmp_path):
    """A forked kernel skips reading its (empty) command line, not the user's config files:
    exec_lines of ipython_kernel_config.py still run before the step."""
    profile = tmp_path / "ipython" / "profile_default"
    profile.mkdir(parents=True)
    (profile / "ipython_kernel_config.py").write_text(
        "c.InteractiveShellApp.exec_lines = ['FROM_CONFIG = 42']\n")
    nb = write_notebook(tmp_path / "t.ipynb", ["%%step s --out v\nv = globals().get('FROM_CONFIG')\nassert v == 42, v"])
    r = mlpipe("run", nb, "--no-daemon", env={"IPYTHONDIR": str(tmp_path / "ipython")})
    assert r.returncode == 0, r.stderr + r.stdout
