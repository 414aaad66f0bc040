"""A disk full to the last byte: every command that meets it names the disk (the path it holds),
says it is full and what to free; nothing stored is lost, and once space is freed the stored
results are reused. The disk is a real 1 MB tmpfs (needs root)."""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess

import pytest

from tests.helpers import write_notebook

pytestmark = pytest.mark.skipif(os.getuid() != 0 or not shutil.which("mount"),
                                reason="mounting a tmpfs needs root")


@pytest.fixture
def small_disk(tmp_path, monkeypatch):
    disk = tmp_path / "disk"
    disk.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)],
                       capture_output=True, text=True, check=False)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    monkeypatch.delenv("MLPIPE_HOME", raising=False)
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk) -> None:
    """Write zeros until not one byte more fits."""
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        for size in (1 << 16, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    assert shutil.disk_usage(disk).free == 0


def test_a_full_disk_names_the_store_and_what_to_free(small_disk, mlpipe_cli):
    nb = write_notebook(small_disk / "nb.ipynb", ["%%step a --out x\nx = 1",
                                                  "%%step b --in x --out y\ny = x + 1"])
    assert mlpipe_cli("run", nb).returncode == 0
    fill(small_disk)
    store = small_disk / ".mlpipe"
    for args in (["run", nb, "--force"], ["runs", nb]):
        r = mlpipe_cli(*args)
        out = r.stdout + r.stderr
        assert r.returncode == 2, out
        assert f"the disk holding {store}{os.sep}" in out and "is full while" in out, out
        assert "(0 bytes free there)" in out, out
        assert "mlpipe cache gc" in out and "MLPIPE_HOME" in out and "disk I/O" not in out, out
    (small_disk / "filler").unlink()
    r = mlpipe_cli("run", nb)
    assert r.returncode == 0 and "2 reused" in r.stdout, r.stdout + r.stderr
