"""Folders jupyter_mlpipe keeps outside the project (kernel IPC sockets, the daemon's sockets, the
signing key's folder) are this user's alone: made 0700, and refused with the fix when another
user made them first. The squatter is a real second unix user (made here when running as root).
"""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.helpers import MLPIPE

SQUATTER = "mlpipe-squatter"
as_root = pytest.mark.skipif(os.getuid() != 0 or not shutil.which("useradd"),
                             reason="needs root to make a second unix user")


@pytest.fixture(scope="module")
def squatter() -> str:
    if subprocess.run(["id", "-u", SQUATTER], capture_output=True, check=False).returncode != 0:
        subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        SQUATTER], check=True)
    return SQUATTER


@pytest.fixture
def shared_tmp():
    """A folder like /tmp: every user may create entries in it (mode 1777)."""
    folder = Path(tempfile.mkdtemp(prefix="mlpipe-shared-", dir="/tmp"))
    folder.chmod(0o1777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def squat(user: str, folder: Path) -> None:
    """`user` creates `folder` first, open to all, as an attacker in a shared /tmp would."""
    subprocess.run(["runuser", "-u", user, "--", "mkdir", "-m", "777", str(folder)], check=True)
    assert folder.stat().st_uid != os.getuid()


@as_root
def test_a_run_refuses_an_ipc_folder_another_user_made(squatter, shared_tmp, make_nb):
    ipc = shared_tmp / f"mlpipe-ipc-{os.getuid()}"
    squat(squatter, ipc)
    nb = make_nb(["%%step a --out x\nx = 1"])
    env = {**os.environ, "TMPDIR": str(shared_tmp)}
    r = subprocess.run([str(MLPIPE), "run", str(nb)], capture_output=True, text=True, env=env, check=False,
                       timeout=300)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert f"{ipc} belongs to {squatter}" in out and "rm -rf" in out, out
    assert os.listdir(ipc) == []  # no socket or connection file of ours went into it


@as_root
def test_the_daemon_folder_refuses_the_same_way(squatter, shared_tmp, monkeypatch):
    from jupyter_mlpipe.daemon.client import daemon_dir
    from jupyter_mlpipe.errors import UnsafeFolderError

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(shared_tmp))
    squat(squatter, shared_tmp / f"mlpipe-daemon-{os.getuid()}")
    with pytest.raises(UnsafeFolderError, match="belongs to mlpipe-squatter"):
        daemon_dir()


def test_the_ipc_folder_is_made_private_and_an_open_or_linked_one_refused(tmp_path, monkeypatch):
    from jupyter_mlpipe.errors import UnsafeFolderError
    from jupyter_mlpipe.kernels.template import ipc_prefix

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ipc = tmp_path / f"mlpipe-ipc-{os.getuid()}"
    assert Path(ipc_prefix()).parent == ipc
    assert stat.S_IMODE(ipc.stat().st_mode) == 0o700
    ipc.chmod(0o777)
    with pytest.raises(UnsafeFolderError, match="has mode 777"):
        ipc_prefix()
    ipc.rmdir()
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    ipc.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UnsafeFolderError, match="symbolic link"):
        ipc_prefix()


def test_the_signing_key_folder_is_made_private(tmp_path, monkeypatch):
    from jupyter_mlpipe.store import signing

    key = tmp_path / "new" / "deeper" / "secret"
    monkeypatch.setenv("MLPIPE_SECRET_FILE", str(key))
    signing.keys(tmp_path)
    for folder in (key.parent, key.parent.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
