"""A broken configuration or store through the real `mlpipe` command: exit 2, one paragraph
naming the problem and the fix, no traceback, and nothing already stored lost."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

STEPS = [
    "%%step load --out raw\nraw = list(range(5))",
    "%%step total --in raw --out t\nt = sum(raw)",
]


def one_paragraph(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("mlpipe: error: "), stderr
    return lines[0]


def stored_files(home: Path) -> set[Path]:
    return {p.relative_to(home) for sub in ("objects", "entries") for p in (home / sub).rglob("*")
            if p.is_file()}


@pytest.fixture
def stored(make_nb, mlpipe_cli):
    """A notebook whose two steps ran and are stored; returns (notebook, store home, files)."""
    path = make_nb(STEPS)
    r = mlpipe_cli("run", path)
    assert r.returncode == 0, r.stderr
    home = path.parent / ".mlpipe"
    files = stored_files(home)
    assert len(files) >= 4
    return path, home, files


def still_cached(mlpipe_cli, path: Path, home: Path, files: set[Path]) -> None:
    assert stored_files(home) == files
    r = mlpipe_cli("status", path)
    assert r.returncode == 0 and "2 cached, 0 stale" in r.stdout, r.stdout + r.stderr


def test_targets_not_a_table(stored, mlpipe_cli):
    path, home, files = stored
    toml = path.parent / "mlpipe.toml"
    toml.write_text('targets = "local"\n')
    r = mlpipe_cli("run", path)
    assert r.returncode == 2
    msg = one_paragraph(r.stderr)
    assert "mlpipe.toml: 'targets' must hold one table per target" in msg
    assert "[targets.local]" in msg
    toml.unlink()
    still_cached(mlpipe_cli, path, home, files)


def test_store_folder_is_a_file(make_nb, mlpipe_cli):
    path = make_nb(STEPS)
    (path.parent / ".mlpipe").write_text("not a folder")
    for command in (("run", path), ("status", path), ("runs", path)):
        r = mlpipe_cli(*command)
        assert r.returncode == 2, command
        msg = one_paragraph(r.stderr)
        assert f"the store folder {path.parent / '.mlpipe'} is a file" in msg
        assert "Move that file away" in msg and "MLPIPE_HOME" in msg
    assert (path.parent / ".mlpipe").read_text() == "not a folder"


def test_mlpipe_home_under_a_file(stored, mlpipe_cli):
    path, home, files = stored
    r = mlpipe_cli("run", path, env={"MLPIPE_HOME": str(path / "store")})
    assert r.returncode == 2
    msg = one_paragraph(r.stderr)
    assert f"MLPIPE_HOME {path / 'store'} is under {path}, which is a file" in msg
    still_cached(mlpipe_cli, path, home, files)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permissions")
def test_mlpipe_home_without_permission(make_nb, mlpipe_cli, tmp_path):
    path = make_nb(STEPS)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        r = mlpipe_cli("run", path, env={"MLPIPE_HOME": str(locked / "store")})
    finally:
        locked.chmod(0o700)
    assert r.returncode == 2
    assert "no permission" in one_paragraph(r.stderr)


def test_history_is_a_folder(stored, mlpipe_cli):
    path, home, files = stored
    db = home / "history.sqlite"
    db.rename(home / "kept.sqlite")
    db.mkdir()
    for command in (("run", path), ("runs", path), ("status", path)):
        r = mlpipe_cli(*command)
        assert r.returncode == 2, command
        msg = one_paragraph(r.stderr)
        assert f"the run history {db} is not a file" in msg and f"mv {db}" in msg
    db.rmdir()
    still_cached(mlpipe_cli, path, home, files)


def test_history_with_a_garbage_header(stored, mlpipe_cli):
    path, home, files = stored
    db = home / "history.sqlite"
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    db.write_bytes(b"this is no database" * 100)
    r = mlpipe_cli("runs", path)
    assert r.returncode == 2
    msg = one_paragraph(r.stderr)
    assert "is damaged (not a SQLite database)" in msg and f"mv {db} {db}.damaged" in msg
    assert mlpipe_cli("run", path).returncode == 2
    assert db.read_bytes().startswith(b"this is no database")  # left for the user to look at
    db.rename(home / "history.sqlite.damaged")
    still_cached(mlpipe_cli, path, home, files)
    r = mlpipe_cli("run", path)
    assert r.returncode == 0 and "2 reused" in r.stdout


def test_lock_is_a_folder(stored, mlpipe_cli):
    path, home, files = stored
    lock = home / "lock"
    lock.unlink(missing_ok=True)
    lock.mkdir()
    for command in (("run", path), ("cache", "gc", path)):
        r = mlpipe_cli(*command)
        assert r.returncode == 2, command
        msg = one_paragraph(r.stderr)
        assert f"the store lock {lock} is a folder" in msg and f"rmdir {lock}" in msg
    shutil.rmtree(lock)
    still_cached(mlpipe_cli, path, home, files)
