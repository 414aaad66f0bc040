"""The shared store on a real S3 API (moto's server + s3fs): two project folders stand for two
machines; uploads are whole or invisible; a store that cannot be used stops a run before any step."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from jupyter_mlpipe.store.files import Store
from jupyter_mlpipe.store.remote import RemoteStore, RemoteStoreError, parse_size, store_config
from tests.s3_server import CuttingProxy, S3Server, free_port
from tests.helpers import write_notebook

pytest.importorskip("s3fs")
pytest.importorskip("moto")

BUCKET = "team-bucket"


@pytest.fixture(scope="module")
def s3():
    server = S3Server(free_port()).start()
    server.make_bucket(BUCKET)
    yield server
    server.stop()


@pytest.fixture
def s3_env(s3, monkeypatch, tmp_path):
    """The AWS variables and MLPIPE_STORE of this test (a prefix of its own)."""
    env = {**s3.env, "MLPIPE_STORE": f"s3://{BUCKET}/{tmp_path.name}"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("MLPIPE_HOME", raising=False)
    return env


def counting_steps(counter: Path) -> list[str]:
    """load -> train; each execution appends the step's name to `counter`."""
    tick = f"open({str(counter)!r}, 'a').write('{{}}\\n')"
    return [f"%%step load --out data\n{tick.format('load')}\nimport numpy as np\n"
            "data = np.arange(1000.0)",
            f"%%step train --writes model.txt\n{tick.format('train')}\n"
            "open('model.txt', 'w').write(str(data.sum()))\nscore = float(data.mean())"]


def executed(counter: Path) -> list[str]:
    return counter.read_text().split() if counter.exists() else []


def test_size_and_config(tmp_path, monkeypatch):
    monkeypatch.delenv("MLPIPE_STORE", raising=False)
    assert parse_size("20GB") == 20 * 10**9 and parse_size("1KiB") == 1024
    (tmp_path / "mlpipe.toml").write_text(
        '[store]\nurl = "s3://team-bucket/mlpipe"\nmax_size = "2MB"\n'
        '[store.options]\nanon = false\n')
    c = store_config(tmp_path)
    assert (c.url, c.options, c.max_size) == ("s3://team-bucket/mlpipe", {"anon": False}, 2 * 10**6)
    monkeypatch.setenv("MLPIPE_STORE", "s3://other/x")
    assert store_config(tmp_path).url == "s3://other/x"


def test_two_machines_share_results(s3_env, tmp_path, mlpipe_cli):
    # machine A computes load -> train; machine B, a fresh clone, reuses both from S3
    counter = tmp_path / "count.txt"
    a = write_notebook(tmp_path / "a" / "pipe.ipynb", counting_steps(counter))
    r = mlpipe_cli("run", a, cwd=a.parent)
    assert r.returncode == 0, r.stderr
    assert executed(counter) == ["load", "train"]
    b = tmp_path / "b" / "pipe.ipynb"
    b.parent.mkdir()
    shutil.copy(a, b)
    r = mlpipe_cli("run", b, cwd=b.parent)
    assert r.returncode == 0, r.stderr + r.stdout
    assert executed(counter) == ["load", "train"]  # nothing ran again
    assert (b.parent / "model.txt").read_text() == "499500.0"  # --writes restored
    assert r.stdout.count("reused") >= 2 or "cached" in r.stdout, r.stdout


def test_push_then_pull_moves_checked_bytes(s3_env, tmp_path):
    a, b = Store(tmp_path / "a"), Store(tmp_path / "b")
    digest = a.put_value({"x": list(range(100))}, "s", "v")
    key = "ab" + "0" * 62
    a.put_entry({"key": key, "step": "s", "outputs": {"v": digest}, "writes": {}})
    remote = RemoteStore(s3_env["MLPIPE_STORE"])
    remote.check()
    assert remote.push(key, a)
    assert remote.pull(key, b)
    assert b.get_entry(key)["outputs"] == {"v": digest}
    assert b.get_value(digest) == {"x": list(range(100))}
    # tampered bytes on the remote are refused before anything reads them
    record = json.loads(remote.fs.cat_file(f"{remote.root}/objects/{digest[:2]}/{digest}.json"))
    remote.fs.pipe_file(f"{remote.root}/objects/{digest[:2]}/{record['name']}", b"evil")
    c = Store(tmp_path / "c")
    with pytest.raises(Exception, match="does not match its digest"):
        remote.pull(key, c)
    assert not c.has_value(digest) and c.get_entry(key) is None


def test_missing_bucket_is_a_clear_error_before_any_step(s3_env, tmp_path, mlpipe_cli):
    counter = tmp_path / "count.txt"
    nb = write_notebook(tmp_path / "p" / "pipe.ipynb", counting_steps(counter))
    r = mlpipe_cli("run", nb, cwd=nb.parent, env={"MLPIPE_STORE": "s3://no-such-bucket/x"})
    assert r.returncode == 2, r.stderr
    assert "bucket does not exist" in r.stderr and "Traceback" not in r.stderr
    assert not counter.exists()


def test_unanswering_endpoint_is_a_clear_error(tmp_path, mlpipe_cli, s3_env):
    nb = write_notebook(tmp_path / "p" / "pipe.ipynb", ["%%step a --out x\nx = 1"])
    r = mlpipe_cli("run", nb, cwd=nb.parent,
                   env={"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"})
    assert r.returncode == 2, r.stderr
    assert "does not answer" in r.stderr and "Traceback" not in r.stderr


def test_connection_lost_mid_upload_leaves_nothing_half_visible(s3, s3_env, tmp_path):
    # the network to the server drops after 5 MB of a 32 MB artifact; nothing under the key is
    # visible; the re-run (connection back) completes and publishes a whole result
    import numpy as np

    store = Store(tmp_path / "a")
    digest = store.put_value(np.random.default_rng(0).random(4_000_000), "s", "v")
    key = "cd" + "1" * 62
    store.put_entry({"key": key, "step": "s", "outputs": {"v": digest}, "writes": {}})
    proxy = CuttingProxy(s3.port, limit=5 * 2**20)
    cut = RemoteStore(s3_env["MLPIPE_STORE"], {"endpoint_url": proxy.endpoint,
                                                "skip_instance_cache": True})
    with pytest.raises(RemoteStoreError, match="uploading"):
        cut.push(key, store)
    remote = RemoteStore(s3_env["MLPIPE_STORE"], {"skip_instance_cache": True})
    assert remote.get_entry(key) is None
    visible = remote.fs.find(remote.root)
    assert not [p for p in visible if p.endswith(".json")], visible  # no record names a part
    assert remote.push(key, store)
    fresh = Store(tmp_path / "b")
    assert remote.pull(key, fresh) and fresh.get_value(digest).shape == (4_000_000,)


def test_cache_push_pull_ls_and_gc_by_size(s3_env, tmp_path, mlpipe_cli):
    counter = tmp_path / "count.txt"
    a = write_notebook(tmp_path / "a" / "pipe.ipynb", counting_steps(counter))
    r = mlpipe_cli("run", a, cwd=a.parent, env={"MLPIPE_STORE": ""})  # no shared store yet
    assert r.returncode == 0, r.stderr
    r = mlpipe_cli("cache", "push", a, cwd=a.parent)
    assert r.returncode == 0 and "pushed 2 result(s)" in r.stdout, r.stderr
    b = tmp_path / "b" / "pipe.ipynb"
    b.parent.mkdir()
    shutil.copy(a, b)
    r = mlpipe_cli("cache", "pull", b, cwd=b.parent)
    assert r.returncode == 0 and "2 of 2 step(s)" in r.stdout, r.stderr + r.stdout
    r = mlpipe_cli("cache", "ls", b, cwd=b.parent)
    assert r.returncode == 0, r.stderr
    assert "local: 2 entries" in r.stdout and "remote: 2 entries" in r.stdout, r.stdout
    r = mlpipe_cli("cache", "gc", "--max-size", "100B", "--notebook", b, cwd=b.parent)
    assert r.returncode == 0 and "removed 2 least recently used" in r.stdout, r.stderr + r.stdout
    r = mlpipe_cli("run", b, cwd=b.parent)  # evicted locally, pulled again from the remote
    assert r.returncode == 0 and executed(counter) == ["load", "train"], r.stderr
