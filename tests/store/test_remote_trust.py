"""Trust on a shared store (moto's S3 server): two users with two secret files share one bucket;
pulls are refused, never unpickled, unless the team key is trusted; `cache gc --remote` evicts
the least recently used results of the bucket, never one a running run leased."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import test_remote_store as shared
from tests.helpers import write_notebook

from jupyter_mlpipe.errors import UntrustedArtifactError
from jupyter_mlpipe.store import signing, transfer
from jupyter_mlpipe.store.files import Store
from jupyter_mlpipe.store.remote import RemoteStore

s3, s3_env = shared.s3, shared.s3_env  # the moto server fixtures, one server per module
counting_steps, executed = shared.counting_steps, shared.executed

pytest.importorskip("s3fs")
pytest.importorskip("moto")


def clone(src: Path, folder: Path) -> Path:
    folder.mkdir()
    return Path(shutil.copy(src, folder / src.name))


def test_two_users_reuse_only_with_the_team_key_trusted(s3_env, tmp_path, mlpipe_cli):
    # load -> train; alice computes and pushes; bob trusts alice's key and reuses both;
    # carol does not: she is refused (one note), recomputes, and loads nothing of alice's
    alice, bob, carol = (tmp_path / f"{n}.key" for n in ("alice", "bob", "carol"))
    counter = tmp_path / "count.txt"
    a = write_notebook(tmp_path / "a" / "pipe.ipynb", counting_steps(counter))
    r = mlpipe_cli("run", a, cwd=a.parent, env={"MLPIPE_SECRET_FILE": str(alice)})
    assert r.returncode == 0, r.stderr
    b = clone(a, tmp_path / "b")
    r = mlpipe_cli("run", b, cwd=b.parent, env={"MLPIPE_SECRET_FILE": str(bob),
                                                 "MLPIPE_TRUSTED_KEYS": str(alice)})
    assert r.returncode == 0, r.stderr
    assert executed(counter) == ["load", "train"]  # bob reused every step
    assert (b.parent / "model.txt").read_text() == "499500.0"
    c = clone(a, tmp_path / "c")
    r = mlpipe_cli("run", c, cwd=c.parent, env={"MLPIPE_SECRET_FILE": str(carol)})
    assert r.returncode == 0, r.stderr
    assert executed(counter) == ["load", "train"] * 2  # carol recomputed both
    notes = [line for line in r.stderr.splitlines() if "not trust" in line]
    assert len(notes) == 1, r.stderr
    assert "MLPIPE_TRUSTED_KEYS" in notes[0] and "trusted_keys" in notes[0] \
        and "MLPIPE_SECRET_FILE" in notes[0], notes
    assert "Traceback" not in r.stderr
    # carol's results stayed hers: the team's entries in the bucket are still alice's
    d = clone(a, tmp_path / "d")
    r = mlpipe_cli("run", d, cwd=d.parent, env={"MLPIPE_SECRET_FILE": str(bob),
                                                 "MLPIPE_TRUSTED_KEYS": str(alice)})
    assert r.returncode == 0 and executed(counter) == ["load", "train"] * 2, r.stderr


def signed_result(store: Store, key: str) -> str:
    digest = store.put_value({"x": list(range(100))}, "s", "v")
    store.put_entry({"key": key, "step": "s", "outputs": {"v": digest}, "writes": {}})
    return digest


def test_untrusted_pull_publishes_nothing_locally(s3_env, tmp_path, monkeypatch):
    key = "ef" + "2" * 62
    monkeypatch.setenv("MLPIPE_SECRET_FILE", str(tmp_path / "alice.key"))
    digest = signed_result(Store(tmp_path / "a"), key)
    remote = RemoteStore(s3_env["MLPIPE_STORE"])
    assert remote.push(key, Store(tmp_path / "a"))
    monkeypatch.setenv("MLPIPE_SECRET_FILE", str(tmp_path / "carol.key"))
    mine = Store(tmp_path / "c")
    assert not remote.pull(key, mine)  # refused: the entry is signed by a key not trusted
    assert not mine.has_value(digest) and not list(mine.entries.glob("*/*"))
    with pytest.raises(UntrustedArtifactError, match="MLPIPE_TRUSTED_KEYS"):
        remote.fetch_value(digest, mine)  # an artifact alone is refused before it lands
    assert not mine.has_value(digest)
    monkeypatch.setenv("MLPIPE_TRUSTED_KEYS", str(tmp_path / "alice.key"))
    assert remote.pull(key, mine) and mine.get_value(digest) == {"x": list(range(100))}
    assert signing.keys().signing != bytes.fromhex((tmp_path / "alice.key").read_text())


def test_download_checks_the_trailer_in_one_pass(s3_env, tmp_path):
    # a large artifact streams in blocks; a flipped byte in the middle is refused
    import numpy as np

    store = Store(tmp_path / "a")
    digest = store.put_value(np.arange(3_000_000.0), "s", "v")
    remote = RemoteStore(s3_env["MLPIPE_STORE"])
    remote.put_value(digest, store)
    fresh = Store(tmp_path / "b")
    remote.fetch_value(digest, fresh)
    assert fresh.get_value(digest)[-1] == 2_999_999.0
    record = json.loads(remote.fs.cat_file(f"{remote.root}/objects/{digest[:2]}/{digest}.json"))
    obj = f"{remote.root}/objects/{digest[:2]}/{record['name']}"
    data = bytearray(remote.fs.cat_file(obj))
    data[len(data) // 2] ^= 1
    remote.fs.pipe_file(obj, bytes(data))
    other = Store(tmp_path / "c")
    with pytest.raises(Exception, match="does not match its digest"):
        remote.fetch_value(digest, other)
    assert not other.has_value(digest) and not list(other.tmp.glob("*"))


def test_cache_gc_remote_evicts_lru_but_never_a_leased_result(s3_env, tmp_path, mlpipe_cli):
    counter = tmp_path / "count.txt"
    a = write_notebook(tmp_path / "a" / "pipe.ipynb", counting_steps(counter))
    assert mlpipe_cli("run", a, cwd=a.parent).returncode == 0
    remote = RemoteStore(s3_env["MLPIPE_STORE"], {"skip_instance_cache": True})
    entries = [p for p in remote.fs.find(remote.root) if "/entries/" in p]
    assert len(entries) == 2
    # a running run's lease protects what it uses: here, everything
    lease = remote.take_lease("run-1")
    r = mlpipe_cli("cache", "gc", "--remote", "--max-size", "100B", "--notebook", a,
                   cwd=a.parent)
    remote_line = [line for line in r.stdout.splitlines() if "s3://" in line]
    assert r.returncode == 0 and len(remote_line) == 1, r.stderr + r.stdout
    assert "removed 0 least recently used results" in remote_line[0] \
        and "1 running run(s) hold a lease" in remote_line[0], remote_line
    remote.drop_lease(lease)
    r = mlpipe_cli("cache", "gc", "--remote", "--max-size", "100B", "--notebook", a,
                   cwd=a.parent)
    assert r.returncode == 0, r.stderr
    assert [line for line in r.stdout.splitlines() if "s3://" in line and "removed 2 " in line]
    remote.fs.invalidate_cache()
    assert not [p for p in remote.fs.find(remote.root) if "/entries/" in p]
    assert not [p for p in remote.fs.find(remote.root) if "/objects/" in p]
    b = clone(a, tmp_path / "b")
    assert mlpipe_cli("run", b, cwd=b.parent).returncode == 0
    assert executed(counter) == ["load", "train"] * 2  # evicted remotely: computed again


def test_stale_lease_does_not_block_eviction(s3_env, tmp_path):
    remote = RemoteStore(s3_env["MLPIPE_STORE"], {"skip_instance_cache": True})
    lease = remote.take_lease("crashed-run")
    assert remote.active_leases(now=time.time()) == [lease]
    assert remote.active_leases(now=time.time() + 7 * 3600) == []  # past its expiry


def test_worker_fetch_checks_signatures_with_the_workers_key(s3_env, tmp_path, monkeypatch):
    # what a Dask worker's kernel does for an input (in_kernel.load), with the worker's key
    from jupyter_mlpipe.interactive import in_kernel
    from jupyter_mlpipe.errors import StepExecutionError
    from jupyter_mlpipe.executors.remote_step import require_key

    team = tmp_path / "team.key"
    monkeypatch.setenv("MLPIPE_SECRET_FILE", str(team))
    store = Store(tmp_path / "project")
    digest = store.put_value([1, 2, 3], "s", "v")
    RemoteStore(s3_env["MLPIPE_STORE"]).put_value(digest, store)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLPIPE_SECRET_FILE", str(tmp_path / "no-such.key"))
    with pytest.raises(StepExecutionError, match="MLPIPE_SECRET_FILE pointing at the team key"):
        require_key("train")  # a worker without a key refuses, and makes none
    assert not (tmp_path / "no-such.key").exists()
    monkeypatch.setenv("MLPIPE_SECRET_FILE", str(tmp_path / "worker.key"))
    with pytest.raises(UntrustedArtifactError, match="do not trust"):
        in_kernel.load(str(tmp_path / "w1"), digest)
    assert not Store(tmp_path / "w1").has_value(digest)
    monkeypatch.setenv("MLPIPE_SECRET_FILE", str(team))
    require_key("train")
    assert in_kernel.load(str(tmp_path / "w2"), digest) == [1, 2, 3]


@pytest.mark.parametrize("block", [7, 96, 1000, 1 << 20])
def test_receive_hashes_all_but_the_tail_across_blocks(tmp_path, block):
    import blake3
    import fsspec

    data = bytes(range(256)) * 9 + b"trailer" * 20
    (tmp_path / "obj").write_bytes(data)
    got = transfer.receive(fsspec.filesystem("file"), str(tmp_path / "obj"), tmp_path / "out",
                           tail=96, block=block, readers=3)
    assert (got.size, got.tail) == (len(data), data[-96:])
    assert got.digest == blake3.blake3(data[:-96]).digest()
    assert (tmp_path / "out").read_bytes() == data
