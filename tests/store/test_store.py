"""The artifact store: round trips, content digests, atomicity, clear errors."""
from __future__ import annotations

import multiprocessing as mp
import subprocess

import numpy as np
import pandas as pd
import pytest

from jupyter_mlpipe.errors import CacheError, UnpicklableOutputError
from jupyter_mlpipe.store import serialize
from jupyter_mlpipe.store.files import Store


def test_round_trip_of_arrays_frames_and_functions(tmp_path):
    store = Store(tmp_path / "s")
    arr = np.arange(1_000_000, dtype=np.float64).reshape(1000, 1000)
    df = pd.DataFrame({"a": np.arange(5), "b": list("vwxyz")})
    fn = lambda x: x + 1  # noqa: E731 - pickled by value with cloudpickle
    for value in (arr, df, {"nested": [arr[:2], df]}, fn):
        d = store.put_value(value)
        back = store.get_value(d)
        if value is fn:
            assert back(1) == 2
        elif isinstance(value, np.ndarray):
            np.testing.assert_array_equal(back, value)
            assert back.flags.writeable
        elif isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(back, value)


def test_large_buffers_are_out_of_band(tmp_path):
    arr = np.ones(10_000_000)
    s = serialize.dumps(arr)
    assert len(s.main) < 1000 and s.buffers[0].nbytes == arr.nbytes


def test_equal_values_have_equal_digests_even_when_pickles_differ():
    a = np.arange(20, dtype=np.int64).reshape(4, 5)
    f = np.asfortranarray(a)
    assert serialize.digest_value(a) == serialize.digest_value(f)
    df1 = pd.DataFrame({"x": [1, 2], "y": [3.0, 4.0]})
    df2 = pd.DataFrame({"x": [1, 2]})
    df2["y"] = [3.0, 4.0]  # unconsolidated blocks: different pickle layout
    assert serialize.digest_value(df1) == serialize.digest_value(df2)
    assert serialize.digest_value({"b", "a", "c"}) == serialize.digest_value({"c", "a", "b"})
    assert serialize.digest_value(df1) != serialize.digest_value(df1.assign(y=[3.0, 5.0]))
    assert serialize.digest_value(a) != serialize.digest_value(a.astype(np.int32))


def test_unpicklable_output_names_the_variable(tmp_path):
    store = Store(tmp_path / "s")
    with pytest.raises(UnpicklableOutputError) as e:
        store.put_value((i for i in range(3)), "train", "gen")
    assert "output 'gen'" in str(e.value) and "step 'train'" in str(e.value)
    assert "generator" in str(e.value)


def test_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    store = Store(tmp_path / "s")
    ok = store.put_value([1, 2, 3])

    def boom(f, s):
        f.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(serialize, "write_artifact", boom)
    with pytest.raises(CacheError, match="disk .* is full while storing output 'big' of step 'x'"):
        store.put_value(np.zeros(10), "x", "big")
    assert list((tmp_path / "s" / "tmp").iterdir()) == []
    assert store.get_value(ok) == [1, 2, 3]  # nothing already stored was lost


def _writer(home, n):
    store = Store(home)
    for i in range(n):
        store.put_value(np.full(1000, i))


def test_two_processes_writing_one_store(tmp_path):
    home = tmp_path / "s"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(home, 30)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    store = Store(home)
    for i in range(30):
        np.testing.assert_array_equal(store.get_value(serialize.digest_value(np.full(1000, i))),
                                      np.full(1000, i))


def test_real_full_disk(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                       capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        store = Store(mnt / ".mlpipe")
        small = store.put_value("kept")
        with pytest.raises(CacheError, match="is full"):
            store.put_value(np.zeros(1_000_000), "train", "model")
        assert store.get_value(small) == "kept"
        assert not any((mnt / ".mlpipe" / "tmp").iterdir())
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_gc_keeps_current_results(tmp_path):
    store = Store(tmp_path / "s")
    d1, d2 = store.put_value("old"), store.put_value("new")
    store.put_entry({"key": "k1", "step": "a", "outputs": {"x": d1}, "computed_at": 0})
    store.put_entry({"key": "k2", "step": "a", "outputs": {"x": d2}, "computed_at": 0})
    store.set_latest("nb.ipynb", "a", {"key": "k2", "components": {}})
    (tmp_path / "s" / "runs" / "old-run").mkdir(parents=True)
    removed = store.gc(older_than_days=1)
    assert removed["entries"] == 1 and removed["objects"] == 1
    assert sorted(p.name for p in store.entries.rglob("*.json")) == ["k2.json"]
    assert sorted(p.name for p in store.objects.rglob("*") if p.is_file()) == [d2]
    assert (store.runs / "old-run").is_dir()  # a fresh run folder stays
    removed = store.gc(older_than_days=0)
    assert removed["runs"] == 1 and not (store.runs / "old-run").exists()
    assert store.get_entry("k2") is not None and store.get_entry("k1") is None
    assert store.get_value(d2) == "new"
