"""A fork copies only the calling thread. The kernel template and the run daemon count the
process's real threads (/proc/self/task: native ones too, which threading does not see) and do not
fork while another runs; the template imports with native thread pools kept off, and each forked
kernel gets its pools back at the size its environment asks for."""
from __future__ import annotations

import _thread
import json
import os
import threading
import time

import pytest

from tests.helpers import write_notebook

# A thread that threading.active_count() does not see, as a BLAS pool started by an import.
SPINNER = "import _thread, time\n_thread.start_new_thread(time.sleep, (600,))\n"


def test_fork_refusal_counts_threads_python_does_not_see():
    from jupyter_mlpipe.kernels.threads import fork_refusal, thread_count

    python_threads, before = threading.active_count(), thread_count()
    done = threading.Event()
    _thread.start_new_thread(done.wait, ())
    try:
        time.sleep(0.1)
        assert threading.active_count() == python_threads  # threading does not see it
        assert thread_count() == before + 1
        refusal = fork_refusal("the run daemon")
        assert refusal and f"the run daemon runs {before + 1} threads" in refusal
    finally:
        done.set()


@pytest.mark.slow
def test_an_import_that_starts_a_thread_makes_the_template_refuse_to_fork(tmp_path, mlpipe_cli):
    (tmp_path / "spinner.py").write_text(SPINNER)
    nb = write_notebook(tmp_path / "t.ipynb", ["import spinner",
                                               "%%step a --out pid\nimport os\npid = os.getpid()"])
    r = mlpipe_cli("run", nb, cwd=tmp_path)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out  # the step still runs, in a kernel started the normal way
    assert "the kernel template runs 2 threads" in out and "`import spinner` started" in out, out
    assert "Kernels start the normal way" in out, out


@pytest.mark.slow
def test_numpy_in_the_prelude_is_forked_with_its_blas_pool_back(tmp_path, mlpipe_cli):
    pytest.importorskip("numpy")
    pytest.importorskip("threadpoolctl")
    nb = write_notebook(tmp_path / "t.ipynb", [
        "import numpy",
        ("%%step a --out blas\nimport threadpoolctl\n"
         "blas = [p['num_threads'] for p in threadpoolctl.threadpool_info()"
         " if p['user_api'] == 'blas']\nprint('BLAS', blas)")])
    env = {k: None for k in os.environ if k.endswith("_NUM_THREADS")}
    r = mlpipe_cli("run", nb, cwd=tmp_path, env=env)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "forked kernel start failed" not in out and "threads" not in out, out
    executed = json.loads((tmp_path / ".mlpipe" / "runs").glob("*/a.ipynb").__next__()
                          .read_text())
    printed = "".join("".join(o.get("text", "")) for c in executed["cells"]
                      for o in c.get("outputs", []))
    assert f"BLAS [{len(os.sched_getaffinity(0))}" in printed, printed


def test_the_template_shortens_blas_spinning_unless_the_environment_says_otherwise(monkeypatch):
    """OpenBLAS reads OPENBLAS_THREAD_TIMEOUT as it loads, in the template: a short spin there
    keeps each forked kernel's restored workers from burning ~0.1 s of CPU each; a value the
    user set stays."""
    from jupyter_mlpipe.kernels import threads

    monkeypatch.setattr(threads.os, "environ", {"PATH": "/bin"})
    added = threads.quiet_pools()
    assert threads.os.environ["OPENBLAS_THREAD_TIMEOUT"] == added["OPENBLAS_THREAD_TIMEOUT"]
    assert 4 <= int(added["OPENBLAS_THREAD_TIMEOUT"]) < 28  # OpenBLAS's range; 28: its default
    monkeypatch.setattr(threads.os, "environ", {"OPENBLAS_THREAD_TIMEOUT": "28"})
    assert "OPENBLAS_THREAD_TIMEOUT" not in threads.quiet_pools()
    assert threads.os.environ["OPENBLAS_THREAD_TIMEOUT"] == "28"
