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
    err = tmp_path / "stderr.txt"
    run = subprocess.Popen([str(MLPIPE), "run", str(nb)], cwd=tmp_path,
                           stdout=subprocess.DEVNULL, stderr=err.open("w"))
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
        # the stop is the user's: no kernel start "failed", none started the normal way
        assert "forked kernel start failed" not in err.read_text()
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


def test_a_kernel_start_waiting_on_a_template_that_is_closed_stops_quietly(tmp_path, caplog):
    """close() while a kernel start waits for the template's imports (a run stopped early):
    the start gives up at once, saying the run is stopping; no "pipe broke", no fallback to
    a kernel started the normal way, and the same for a start that comes after close()."""
    import threading

    from jupyter_mlpipe.executors.kernels import LocalKernel
    from jupyter_mlpipe.kernels.template import KernelTemplate

    (tmp_path / "slow_a.py").write_text("import time\ntime.sleep(8)\n")
    template = KernelTemplate.launch(["import slow_a"], sys.executable, dict(os.environ),
                                     str(tmp_path))
    errors: list[Exception] = []

    def start():
        try:
            LocalKernel("python3", str(tmp_path), dict(os.environ), template).shutdown()
        except Exception as exc:  # noqa: BLE001 - what the slot thread would get
            errors.append(exc)

    first = threading.Thread(target=start)
    first.start()
    time.sleep(1.5)  # it waits in wait_ready: the template still imports slow_a
    closed_at = time.monotonic()
    template.close()
    first.join(10)
    later = threading.Thread(target=start)
    later.start()
    later.join(10)
    assert not first.is_alive() and not later.is_alive()
    assert time.monotonic() - closed_at < 3.0
    assert len(errors) == 2 and all("stopping" in str(e) for e in errors), errors
    assert "forked kernel start failed" not in caplog.text
