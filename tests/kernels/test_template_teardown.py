"""A kernel template dies with the run that launched it, whatever way the run ends (its end,
Ctrl-C, SIGTERM, SIGKILL) and whatever the template is doing then (starting, importing the
prelude's slow modules), on a loaded machine.

# slow -> (never reached)   the prelude imports two modules that take seconds each
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from tests.helpers import MLPIPE, write_notebook

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def load():
    """Two busy processes: the machine is as loaded as when templates were seen to linger."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
               for _ in range(os.cpu_count() or 2)]
    yield
    for p in burners:
        p.kill()
        p.wait()


def templates(folder) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if "kernels.forkserver" in " ".join(p.info["cmdline"] or []) and \
                    p.cwd() == str(folder) and p.status() != psutil.STATUS_ZOMBIE:
                found.append(p)
        except psutil.Error:
            continue
    return found


def wait_until(condition, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def slow_project(folder):
    for name in ("slow_a", "slow_b"):
        (folder / f"{name}.py").write_text(
            f"import os, time\nopen('{name}-' + str(os.getpid()), 'w').close()\ntime.sleep(6)\n")
    return write_notebook(folder / "t.ipynb", ["import slow_a\nimport slow_b",
                                               "%%step s --out x\nx = 1"])


@pytest.mark.parametrize("how,when", [
    (signal.SIGKILL, "importing"),
    (signal.SIGKILL, "starting"),
    (signal.SIGTERM, "importing"),
    (signal.SIGINT, "importing"),
])
def test_the_template_dies_with_its_run(tmp_path, load, how, when):
    nb = slow_project(tmp_path)
    run = subprocess.Popen([str(MLPIPE), "run", str(nb)], cwd=tmp_path,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: templates(tmp_path), 60), "no template started"
        if when == "importing":  # its import of slow_a has begun
            assert wait_until(lambda: list(tmp_path.glob("slow_a-*")), 60)
            time.sleep(0.5)
        signalled = time.monotonic()
        run.send_signal(how)
        run.wait(timeout=60)
        # stopping a busy template is not a 5 s wait for it to finish importing
        assert time.monotonic() - signalled < 3.0, "the run took long to stop its template"
        assert wait_until(lambda: not templates(tmp_path), 2.0), \
            f"template still alive 2 s after the run ended by {how!r} while {when}"
    finally:
        if run.poll() is None:
            run.kill()
        for t in templates(tmp_path):
            t.kill()


def test_a_run_that_ends_while_the_template_imports_takes_it_down(tmp_path, load, mlpipe_cli):
    """The step fails before any kernel is needed from the template: the run ends, and its
    template, still importing, must not stay behind."""
    nb = slow_project(tmp_path)
    (tmp_path / "mlpipe.toml").write_text('[targets.local]\nkernel = "no-such-kernel"\n')
    r = mlpipe_cli("run", nb, cwd=tmp_path)
    assert r.returncode != 0
    assert wait_until(lambda: not templates(tmp_path), 2.0), r.stdout + r.stderr
