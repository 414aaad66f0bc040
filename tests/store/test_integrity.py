"""A damaged or planted store: nothing wrong is loaded, nothing unsigned is unpickled, damaged
results are recomputed; concurrent runs compute each result once (single flight)."""
from __future__ import annotations

import os
import pickle
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from jupyter_mlpipe import Pipeline
from jupyter_mlpipe.errors import DamagedArtifactError, UntrustedArtifactError
from jupyter_mlpipe.store import serialize, signing
from jupyter_mlpipe.store.files import Store


class _Planted:
    """Unpickling it creates a marker file: proof that code ran."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _flip_byte(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.chmod(0o644)
    path.write_bytes(bytes(data))


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / ".mlpipe")


def test_a_flipped_byte_in_an_array_is_never_loaded(store):
    digest = store.put_value(np.arange(100_000, dtype=np.float64))
    _flip_byte(store.value_path(digest), -5000)  # inside the array's data
    assert not store.verify_value(digest)
    with pytest.raises(DamagedArtifactError, match="Re-run the step that produced it"):
        store.get_value(digest)


def test_an_unsigned_pickle_in_the_store_does_not_run(store, tmp_path):
    marker = tmp_path / "ran"
    digest = store.put_value(np.arange(10))
    store.value_path(digest).write_bytes(pickle.dumps(_Planted(str(marker))))
    with pytest.raises(UntrustedArtifactError, match=digest[:12]):
        store.get_value(digest)
    assert not store.verify_value(digest)
    assert not marker.exists()


def test_an_artifact_signed_with_another_key_loads_only_when_trusted(store, tmp_path,
                                                                     monkeypatch):
    digest = store.put_value({"a": 1})
    mine = os.environ["MLPIPE_SECRET_FILE"]
    assert stat.S_IMODE(Path(mine).stat().st_mode) == 0o600
    monkeypatch.setenv("MLPIPE_SECRET_FILE", str(tmp_path / "their-secret"))
    with pytest.raises(UntrustedArtifactError, match="MLPIPE_TRUSTED_KEYS"):
        store.get_value(digest)
    monkeypatch.setenv("MLPIPE_TRUSTED_KEYS", mine)
    assert store.get_value(digest) == {"a": 1}


def test_a_well_formed_artifact_with_a_forged_signature_does_not_run(store, tmp_path):
    import io

    from jupyter_mlpipe.store import serialize

    marker = tmp_path / "ran"
    digest = store.put_value(np.arange(10))
    f = io.BytesIO()
    content = serialize.write_artifact(f, serialize.dumps(_Planted(str(marker))))
    f.write(content + b"0" * 64)
    store.value_path(digest).write_bytes(f.getvalue())
    with pytest.raises(UntrustedArtifactError):
        store.get_value(digest)
    assert not marker.exists()


def test_entries_must_be_signed(store, capsys):
    digest = store.put_value(3)
    store.put_entry({"key": "k" * 64, "outputs": {"x": digest}, "writes": {}})
    assert store.get_entry("k" * 64)["outputs"] == {"x": digest}
    path = store.entries / "kk" / ("k" * 64 + ".json")
    path.write_text(path.read_text().replace(digest, store.put_value(4)))  # swapped digest
    assert store.get_entry("k" * 64) is None
    assert "recomputed, never loaded" in capsys.readouterr().err


@pytest.mark.parametrize("content", ["[]", "{}", '{"format": 1}', '{"outputs": null}', "\xff"])
def test_malformed_entries_are_absent(store, content):
    path = store.entries / "kk" / ("k" * 64 + ".json")
    path.parent.mkdir(parents=True)
    path.write_text(content, encoding="latin-1")
    assert store.get_entry("k" * 64) is None


def test_a_flipped_byte_in_a_written_file_is_not_restored(store, tmp_path):
    (tmp_path / "out.txt").write_text("right")
    manifest = store.put_path(Path("out.txt"), tmp_path)
    blob = store.blobs / manifest["digest"][:2] / manifest["digest"]
    _flip_byte(blob, 0)
    assert not store.has_blobs(manifest)
    (tmp_path / "out.txt").unlink()
    with pytest.raises(DamagedArtifactError):
        store.restore_path("out.txt", manifest, tmp_path)
    assert not (tmp_path / "out.txt").exists()


CHAIN = [
    "%%step load --out raw\nimport numpy as np\nraw = np.arange(1000.0)",
    "%%step total --in raw --out t\nt = float(raw.sum())",
]


def test_forced_downstream_step_recomputes_a_damaged_producer(make_nb, mlpipe_cli, tmp_path):
    path = make_nb(CHAIN)
    assert mlpipe_cli("run", path).returncode == 0
    store = Store.for_notebook(path)
    raw = Pipeline.from_notebook(path).run(jobs=1).steps["load"].outputs["raw"]
    _flip_byte(store.value_path(raw), -100)
    r = mlpipe_cli("run", path, "--force", "--only", "total")
    assert r.returncode == 0, r.stderr
    run = Pipeline.from_notebook(path).run(jobs=1)
    assert run.outputs("total")["t"] == 499500.0
    assert run.outputs("load")["raw"][-1] == 999.0


def test_a_planted_pickle_is_recomputed_not_run(make_nb, mlpipe_cli, tmp_path):
    path = make_nb(CHAIN)
    run = Pipeline.from_notebook(path).run(jobs=1)
    marker = tmp_path / "ran"
    Store.for_notebook(path).value_path(run.steps["load"].outputs["raw"]).write_bytes(
        pickle.dumps(_Planted(str(marker))))
    with pytest.raises(UntrustedArtifactError):
        run.outputs("load")
    r = mlpipe_cli("run", path, "--force", "--only", "total")
    assert r.returncode == 0, r.stderr
    assert not marker.exists()
    assert Pipeline.from_notebook(path).run(jobs=1).outputs("total")["t"] == 499500.0


def test_concurrent_runs_execute_each_step_once(make_nb, tmp_path):
    log = tmp_path / "executed.log"
    body = f"import time\nopen({str(log)!r}, 'a').write('{{}}\\n')\ntime.sleep(0.5)\n"
    path = make_nb([
        "%%step a --out x\n" + body.format("a") + "x = 1",
        "%%step b --in x --out y\n" + body.format("b") + "y = x + 1",
    ])
    exe = Path(sys.executable).with_name("mlpipe")
    procs = [subprocess.Popen([str(exe), "run", str(path), "--jobs", "1"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert sorted(log.read_text().split()) == ["a", "b"]


def test_status_says_which_way_a_stored_result_was_lost(make_nb, mlpipe_cli, tmp_path):
    path = make_nb(CHAIN)
    assert mlpipe_cli("run", path).returncode == 0
    store = Store.for_notebook(path)
    raw = store.value_path(Pipeline.from_notebook(path).run(jobs=1).steps["load"].outputs["raw"])
    good = raw.read_bytes()

    def load_line() -> str:
        r = mlpipe_cli("status", path)
        assert r.returncode == 0, r.stderr
        return next(line for line in r.stdout.splitlines() if " load " in line)

    _flip_byte(raw, -100)
    assert "stored result damaged (re-run 'load')" in load_line()
    someone_else = signing.Keys(b"\xab" * 32, (b"\xab" * 32,))
    with open(raw, "wb") as f:  # intact, but signed with someone else's key
        f.write(good[:-serialize.TRAILER_BYTES])
        serialize.write_trailer(f, raw.name, good[-serialize.TRAILER_BYTES:][:32], someone_else)
    assert "stored result unsigned (made with another key or an older version)" in load_line()
    raw.unlink()
    line = load_line()
    assert "stored result removed" in line and "damaged" not in line and "unsigned" not in line


def test_trusted_keys_from_mlpipe_toml(make_nb, mlpipe_cli, tmp_path, monkeypatch):
    path = make_nb(CHAIN)
    teammate = tmp_path / "keys" / "teammate.key"
    teammate.parent.mkdir()
    teammate.write_text("cd" * 32)
    # the teammate computes the results with their key
    assert mlpipe_cli("run", path, env={"MLPIPE_SECRET_FILE": str(teammate)}).returncode == 0
    r = mlpipe_cli("status", path)  # with my own key: nothing of theirs is trusted
    assert "0 cached" in r.stdout and "stored result unsigned" in r.stdout
    (tmp_path / "mlpipe.toml").write_text('[store]\ntrusted_keys = ["keys/teammate.key"]\n')
    r = mlpipe_cli("status", path)
    assert r.returncode == 0 and "2 cached, 0 stale" in r.stdout, r.stdout + r.stderr
    r = mlpipe_cli("run", path)
    assert r.returncode == 0 and "2 reused" in r.stdout
    monkeypatch.chdir(tmp_path.parent)  # the project's keys come with its notebook, not cwd
    assert Pipeline.from_notebook(path).run(jobs=1).outputs("total")["t"] == 499500.0
    (tmp_path / "mlpipe.toml").write_text('[store]\ntrusted_keys = "keys/teammate.key"\n')
    assert "2 cached" in mlpipe_cli("status", path).stdout  # one path alone is fine too
    (tmp_path / "mlpipe.toml").write_text("[store]\ntrusted_keys = [3]\n")
    r = mlpipe_cli("run", path)
    assert r.returncode != 0 and "trusted_keys must be a list of key file paths" in r.stderr
    assert "Traceback" not in r.stderr


def test_project_settings_are_parsed_once_and_an_edit_is_seen(tmp_path, monkeypatch):
    """The [store] table is looked up on every artifact check: a file unchanged since well
    before is parsed once; an edit is seen at the next look-up, even one of the same size
    (a recent file is parsed again each time, its time may not have ticked)."""
    from jupyter_mlpipe.store import project

    parses = []
    real_loads = project.tomllib.loads
    monkeypatch.setattr(project.tomllib, "loads",
                        lambda text: parses.append(text) or real_loads(text))
    toml = tmp_path / "mlpipe.toml"

    def write(text: str, age_s: float) -> None:
        toml.write_text(text)
        old = time.time() - age_s
        os.utime(toml, (old, old))

    write('[store]\ntrusted_keys = ["a.key"]\n', age_s=60)
    for _ in range(3):
        assert project.store_table(tmp_path)[1] == {"trusted_keys": ["a.key"]}
    assert len(parses) == 1
    write('[store]\ntrusted_keys = ["b.key"]\n', age_s=30)  # same size, another time
    assert project.store_table(tmp_path)[1] == {"trusted_keys": ["b.key"]}
    toml.write_text('[store]\ntrusted_keys = ["c.key"]\n')  # just now
    assert project.store_table(tmp_path)[1] == {"trusted_keys": ["c.key"]}
    toml.write_text('[store]\ntrusted_keys = ["d.key"]\n')  # same size, maybe the same tick
    assert project.store_table(tmp_path)[1] == {"trusted_keys": ["d.key"]}


def test_another_keys_check_is_not_trusted_and_its_value_is_signed_again(store, tmp_path,
                                                                         monkeypatch):
    # A value stored (and found intact) under one key, then stored again by a user of another
    # key sharing the store: the first check's memory must not vouch for the second key, or the
    # value is kept as it is and the next step cannot load it (UntrustedArtifactError).
    digest = store.put_value({"a": 1})
    assert store.verify_value(digest)  # checked under the first key: remembered
    monkeypatch.setenv("MLPIPE_SECRET_FILE", str(tmp_path / "their-secret"))
    assert not store.verify_value(digest)
    assert store.put_value({"a": 1}) == digest
    assert store.get_value(digest) == {"a": 1}
