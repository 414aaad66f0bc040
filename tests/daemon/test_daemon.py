"""The resident run daemon, through the real `mlpipe` console script: a run it takes behaves as
a run in the client's own process (folder, environment, terminal, exit code, Ctrl-C, a killed
client), and its warm kernel templates never serve a module older than the file on disk."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from jupyter_mlpipe.daemon import client as daemon_client
from tests.helpers import MLPIPE, mlpipe, wait_for, write_notebook

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork: Linux")


@pytest.fixture
def daemon(monkeypatch):
    """A daemon of its own (a private runtime folder: never the user's), stopped after."""
    runtime = tempfile.mkdtemp(prefix="mlpd")  # short: a socket path has ~100 bytes at most
    monkeypatch.setenv("XDG_RUNTIME_DIR", runtime)
    monkeypatch.setenv("MLPIPE_DAEMON", "on")
    started = subprocess.run([str(MLPIPE), "daemon", "start", "--idle", "120"],
                             capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr
    status = daemon_status()
    yield status["pid"]
    subprocess.run([str(MLPIPE), "daemon", "stop"], capture_output=True, timeout=60)
    try:
        psutil.Process(status["pid"]).wait(timeout=20)
    except psutil.NoSuchProcess:
        pass
    except psutil.TimeoutExpired:
        os.kill(status["pid"], signal.SIGKILL)
    shutil.rmtree(runtime, ignore_errors=True)




def daemon_status() -> dict:
    """The daemon's status, asked by `mlpipe` (its fingerprint is the console script's)."""
    r = subprocess.run([str(MLPIPE), "daemon", "status", "--json"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout)


def served() -> int:
    return daemon_status()["served"]


def forked_kernels(daemon_pid: int) -> list[int]:
    """Live kernels under the daemon: children of its templates (a forked kernel keeps its
    template's command line, so it is told apart by its parent)."""
    found = []
    for p in psutil.Process(daemon_pid).children(recursive=True):
        try:
            parent = p.parent()
            if parent is not None and parent.pid != daemon_pid and \
                    "forkserver" in " ".join(parent.cmdline()) and \
                    p.status() != psutil.STATUS_ZOMBIE:
                found.append(p.pid)
        except psutil.Error:
            continue
    return found




def test_a_run_in_the_daemon_is_the_clients_run(daemon, tmp_path):
    nb = write_notebook(tmp_path / "p.ipynb", [
        "import os",
        "%%step probe --out seen\nseen = (os.environ['PROBE'], os.getcwd())\n"
        "open('seen.json', 'w').write(__import__('json').dumps(seen))\n"
        "print('hello from the step')",
    ])
    r = mlpipe("run", nb.name, "--output", "all", cwd=tmp_path, env={"PROBE": "only-here"})
    assert r.returncode == 0, r.stderr
    assert "probe" in r.stdout and "hello from the step" in r.stdout
    assert json.loads((tmp_path / "seen.json").read_text()) == ["only-here", str(tmp_path)]
    assert served() == 1  # it went through the daemon

    off = mlpipe("run", nb.name, cwd=tmp_path, env={"MLPIPE_DAEMON": "off", "PROBE": "only-here"})
    assert off.returncode == 0 and "reused" in off.stdout
    assert served() == 1  # off: the client ran it itself
    again = mlpipe("run", nb.name, "--no-daemon", cwd=tmp_path, env={"PROBE": "only-here"})
    assert again.returncode == 0 and "reused" in again.stdout
    assert served() == 1


def test_exit_codes_and_errors_reach_the_client(daemon, tmp_path):
    nb = write_notebook(tmp_path / "p.ipynb", ["%%step bad --out x\nx = 1 / 0"])
    failed = mlpipe("run", nb.name, cwd=tmp_path)
    assert failed.returncode == 1
    assert "ZeroDivisionError" in failed.stderr
    missing = mlpipe("run", "nothere.ipynb", cwd=tmp_path)
    assert missing.returncode != 0 and "nothere.ipynb" in missing.stderr
    assert served() == 2


def test_ctrl_c_stops_the_run_and_its_kernels(daemon, tmp_path):
    nb = write_notebook(tmp_path / "p.ipynb", [
        "import time",
        "%%step slow --out x\nopen('started', 'w').close()\ntime.sleep(120)\nx = 1",
    ])
    client = subprocess.Popen([str(MLPIPE), "run", nb.name], cwd=tmp_path, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for(lambda: (tmp_path / "started").exists(), 120)
    assert forked_kernels(daemon)
    client.send_signal(signal.SIGINT)
    _out, err = client.communicate(timeout=60)
    assert client.returncode == 130
    assert "interrupted" in err
    wait_for(lambda: not forked_kernels(daemon), 20)
    assert daemon_status()["runs"] == 0


def test_a_killed_client_takes_its_run_down(daemon, tmp_path):
    nb = write_notebook(tmp_path / "p.ipynb", [
        "import time",
        "%%step slow --out x\nopen('started', 'w').close()\ntime.sleep(120)\nx = 1",
    ])
    client = subprocess.Popen([str(MLPIPE), "run", nb.name], cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: (tmp_path / "started").exists(), 120)
    client.kill()
    client.wait()
    wait_for(lambda: daemon_status()["runs"] == 0, 30)
    wait_for(lambda: not forked_kernels(daemon), 20)
    history = mlpipe("runs", nb.name, cwd=tmp_path).stdout
    assert "interrupted" in history or "failed" in history, history


def test_warm_template_is_reused_until_an_imported_file_changes(daemon, tmp_path):
    """The prelude imports a module beside the notebook. A warm template keeps it imported
    between runs; once the file is edited, the step must see the edit, not the old module."""
    (tmp_path / "mylib.py").write_text("VALUE = 1\n")
    nb = write_notebook(tmp_path / "p.ipynb", [
        "import os\nimport mylib",
        "%%step read --out v\nv = mylib.VALUE\n"
        "open('seen.txt', 'a').write(f'{v} {os.getppid()}\\n')",
    ])

    def run_and_read() -> tuple[int, int]:
        r = mlpipe("run", nb.name, "--force", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        value, template = (tmp_path / "seen.txt").read_text().splitlines()[-1].split()
        return int(value), int(template)

    def warm() -> bool:
        return any(t["ready"] for t in daemon_status()["templates"])

    assert run_and_read()[0] == 1  # the run started its own template; the daemon keeps one
    wait_for(warm, 60)
    value, first = run_and_read()
    wait_for(warm, 60)
    value2, second = run_and_read()
    assert (value, value2) == (1, 1)
    assert first == second  # the same warm template forked both kernels

    time.sleep(0.01)
    (tmp_path / "mylib.py").write_text("VALUE = 22\n")
    value3, third = run_and_read()
    assert value3 == 22
    assert third != second  # the stale template was not used


def test_status_and_stop(daemon, tmp_path):
    up = mlpipe("daemon", "status", cwd=tmp_path)
    assert up.returncode == 0 and f"pid {daemon}" in up.stdout
    stop = mlpipe("daemon", "stop", cwd=tmp_path)
    assert stop.returncode == 0
    psutil.Process(daemon).wait(timeout=20)
    down = mlpipe("daemon", "status", cwd=tmp_path)
    assert down.returncode == 3 and "no run daemon" in down.stdout


def test_fingerprint_follows_the_package_files(tmp_path, monkeypatch):
    """A daemon never serves a client whose jupyter_mlpipe differs (an upgrade, an edit)."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "a.py").write_text("x = 1\n")
    monkeypatch.setattr(daemon_client, "PACKAGE", pkg)
    before = daemon_client.fingerprint()
    (pkg / "a.py").write_text("x = 22\n")
    assert daemon_client.fingerprint() != before


def test_a_spare_kernel_serves_only_a_run_with_its_exact_environment(daemon, tmp_path):
    """The daemon forks an idle kernel ahead of the next run. A run adopts it only if it was
    forked with this run's environment, down to variables that do not change the template
    (OLDPWD, set by the shell at each `cd`)."""
    nb = write_notebook(tmp_path / "p.ipynb", [
        "import os",
        "%%step s --out v\nv = os.environ.get('OLDPWD')\n"
        "open('seen.txt', 'a').write(f'{v} {os.getpid()}\\n')",
    ])

    def run(oldpwd: str) -> list[str]:
        r = mlpipe("run", nb.name, "--force", cwd=tmp_path, env={"OLDPWD": oldpwd})
        assert r.returncode == 0, r.stderr
        return (tmp_path / "seen.txt").read_text().splitlines()[-1].split()

    def spare() -> int:
        wait_for(lambda: any(t["spare_kernel"] for t in daemon_status()["templates"]), 60)
        wait_for(lambda: len(forked_kernels(daemon)) == 1, 20)
        return forked_kernels(daemon)[0]

    run("/first")
    waiting = spare()
    assert run("/first") == ["/first", str(waiting)]  # adopted
    waiting = spare()
    seen, pid = run("/second")
    assert seen == "/second" and pid != str(waiting)  # forked with /first: not adopted


def test_the_jupyter_server_keeps_a_daemon_that_exits_with_it(monkeypatch):
    """The server extension starts a daemon watching the server's pid (here a stand-in
    process): it is up while that process lives and gone soon after it exits."""
    import logging

    from jupyter_mlpipe.daemon.with_server import start_run_daemon

    runtime = tempfile.mkdtemp(prefix="mlpd")
    monkeypatch.setenv("XDG_RUNTIME_DIR", runtime)
    monkeypatch.setenv("MLPIPE_DAEMON", "on")
    server = subprocess.Popen(["sleep", "120"])
    try:
        start_run_daemon(logging.getLogger("test"), server_pid=server.pid)
        wait_for(lambda: daemon_client.ask("status") is not None, 60)
        status = daemon_client.ask("status")
        assert status["idle_timeout"] == 0  # no idle exit: it lives with its server
        server.kill()
        server.wait()
        psutil.Process(status["pid"]).wait(timeout=20)
        assert daemon_client.ask("status") is None
        assert not list(Path(runtime).glob("*/*.sock"))
    finally:
        server.kill()
        shutil.rmtree(runtime, ignore_errors=True)


def test_the_server_starts_no_daemon_when_turned_off(monkeypatch):
    import logging

    from jupyter_mlpipe.daemon.with_server import start_run_daemon

    runtime = tempfile.mkdtemp(prefix="mlpd")
    monkeypatch.setenv("XDG_RUNTIME_DIR", runtime)
    monkeypatch.setenv("MLPIPE_DAEMON", "off")
    try:
        start_run_daemon(logging.getLogger("test"))
        time.sleep(1.0)
        assert not list(Path(runtime).glob("*/*"))
    finally:
        shutil.rmtree(runtime, ignore_errors=True)


def test_auto_starts_a_daemon_after_a_run_for_the_next(tmp_path, monkeypatch):
    runtime = tempfile.mkdtemp(prefix="mlpd")
    monkeypatch.setenv("XDG_RUNTIME_DIR", runtime)
    monkeypatch.setenv("MLPIPE_DAEMON", "auto")
    nb = write_notebook(tmp_path / "p.ipynb", ["%%step a --out x\nx = 1"])
    try:
        first = mlpipe("run", nb.name, cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        wait_for(lambda: subprocess.run([str(MLPIPE), "daemon", "status"], capture_output=True,
                                        timeout=60).returncode == 0, 60)
        second = mlpipe("run", nb.name, "--force", cwd=tmp_path)
        assert second.returncode == 0, second.stderr
        assert daemon_status()["served"] == 1
    finally:
        subprocess.run([str(MLPIPE), "daemon", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(runtime, ignore_errors=True)
