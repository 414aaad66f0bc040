"""Content digests and artifact round trips of store/serialize.py, zero-size arrays included."""
from __future__ import annotations

import io
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from jupyter_mlpipe.store import serialize, signing
from jupyter_mlpipe.store.files import Store


class Holder:
    """A plain object holding an array, as a fitted model does."""

    def __init__(self, arr):
        self.arr = arr


def zero_size_values() -> list:
    base = np.zeros((4, 6))
    return [
        np.zeros(0),
        np.zeros((0, 3)),
        np.zeros((3, 0)),
        np.zeros((2, 0, 4), dtype=np.int32),
        np.zeros((0, 2), order="F"),
        base[:, :0],  # a view of a bigger array
        base[::2, 1:1],  # non-contiguous
        np.zeros((2, 0, 4))[:, :, ::2],
        np.empty((0, 2), dtype=object),
        np.zeros((0,), dtype="U5"),
        np.zeros((0, 2), dtype="datetime64[ns]"),
        np.zeros((0,), dtype=[("a", "i4"), ("b", "f8")]),
        {"w": [np.zeros((0, 3))], "n": 1},
        [np.zeros((3, 0)), (np.zeros(0, dtype=bool),)],
        Holder(np.zeros((0, 5))),
        pd.DataFrame({"a": np.zeros(0), "b": np.zeros(0, dtype=np.int64)}),
        pd.DataFrame(np.zeros((3, 0))),
        pd.Series([], dtype="float32", name="s"),
    ]


def round_trip_file(value):
    f = io.BytesIO()
    keys = signing.keys()
    content = serialize.write_artifact(f, serialize.dumps(value))
    serialize.write_trailer(f, "name", content, keys)
    f.seek(0)
    return serialize.read_artifact(f, "name", keys)


def assert_same(back, value) -> None:
    if isinstance(value, np.ndarray):
        assert back.dtype == value.dtype and back.shape == value.shape
        np.testing.assert_array_equal(back, value)
    elif isinstance(value, pd.DataFrame):
        pd.testing.assert_frame_equal(back, value)
    elif isinstance(value, pd.Series):
        pd.testing.assert_series_equal(back, value)
    elif isinstance(value, Holder):
        assert_same(back.arr, value.arr)
    elif isinstance(value, dict):
        assert back.keys() == value.keys()
        for k in value:
            assert_same(back[k], value[k])
    elif isinstance(value, (list, tuple)):
        assert type(back) is type(value) and len(back) == len(value)
        for b, v in zip(back, value):
            assert_same(b, v)
    else:
        assert back == value


@pytest.mark.parametrize("value", zero_size_values(), ids=lambda v: type(v).__name__)
def test_zero_size_values_digest_and_round_trip(value, tmp_path):
    digest = serialize.digest_value(value)
    assert digest == serialize.digest_value(value)
    back = round_trip_file(value)
    assert_same(back, value)
    assert serialize.digest_value(back) == digest
    store = Store(tmp_path / "s")
    assert store.put_value(value) == digest
    assert_same(store.get_value(digest), value)


def test_zero_size_arrays_differing_in_shape_or_dtype_differ():
    values = [np.zeros(0), np.zeros((0, 3)), np.zeros((3, 0)), np.zeros((0, 0)),
              np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64),
              np.zeros(0, dtype="datetime64[s]"), np.zeros(0, dtype="datetime64[ns]"),
              np.zeros(0, dtype=[("a", "i4"), ("b", "f8")]),
              np.zeros(0, dtype=[("b", "f8"), ("a", "i4")]),
              np.empty(0, dtype=object), np.empty((0, 1), dtype=object)]
    digests = [serialize.digest_value(v) for v in values]
    assert len(set(digests)) == len(values)
    # inside an object too (the pickle stream stands an array for its dtype, shape and data)
    assert (serialize.digest_value(Holder(np.zeros((0, 3))))
            != serialize.digest_value(Holder(np.zeros((3, 0)))))


def test_datetime_columns_digest_by_content():
    a = pd.DataFrame({"t": pd.date_range("2020-01-01", periods=3)})
    b = pd.DataFrame({"t": pd.date_range("2020-01-01", periods=3)})
    assert serialize.digest_value(a) == serialize.digest_value(b)
    assert serialize.digest_value(a) != serialize.digest_value(a + pd.Timedelta("1s"))


def test_a_fitted_hist_gradient_boosting_model_is_stored(tmp_path):
    from sklearn.ensemble import HistGradientBoostingClassifier  # heavy; only this test

    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 3))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    fit = lambda: HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(x, y)  # noqa: E731
    model = fit()
    assert serialize.digest_value(model) == serialize.digest_value(fit())
    store = Store(tmp_path / "s")
    digest = store.put_value(model)
    back = store.get_value(digest)
    np.testing.assert_array_equal(back.predict_proba(x), model.predict_proba(x))
    assert serialize.digest_value(back) == digest


# ---- properties --------------------------------------------------------------------------

DTYPES = st.one_of(hnp.scalar_dtypes(), hnp.nested_dtypes(max_itemsize=64))
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
ARRAYS = hnp.arrays(DTYPES, SHAPES)
# NumPy's own pickling turns big-endian datetime64 into native order (equal values, another
# dtype), so round trips are checked on native-order dtypes.
NATIVE_ARRAYS = hnp.arrays(DTYPES.filter(lambda d: d.isnative), SHAPES)


@settings(max_examples=150, deadline=None)
@given(ARRAYS)
def test_equal_arrays_have_equal_digests_whatever_their_layout(arr):
    digest = serialize.digest_value(arr)
    assert serialize.digest_value(arr.copy()) == digest
    assert serialize.digest_value(np.array(arr, order="F")) == digest
    if arr.ndim:
        assert serialize.digest_value(np.flip(np.flip(arr, 0).copy(), 0)) == digest
    assert serialize.digest_value({"x": [arr]}) == serialize.digest_value({"x": [arr.copy()]})
    assert serialize.digest_value(Holder(arr)) == serialize.digest_value(Holder(arr.copy()))


@settings(max_examples=150, deadline=None)
@given(NATIVE_ARRAYS)
def test_arrays_round_trip_with_their_digest(arr):
    back = round_trip_file(arr)
    assert back.dtype == arr.dtype and back.shape == arr.shape
    assert back.tobytes() == arr.tobytes()
    assert serialize.digest_value(back) == serialize.digest_value(arr)


@settings(max_examples=150, deadline=None)
@given(ARRAYS, st.data())
def test_arrays_differing_in_shape_or_dtype_have_different_digests(arr, data):
    flat = arr.reshape(-1)
    other_shape = data.draw(st.sampled_from([flat.shape, flat.shape + (1,), (1,) + flat.shape]))
    if other_shape != arr.shape:
        assert serialize.digest_value(flat.reshape(other_shape)) != serialize.digest_value(arr)
    other = data.draw(DTYPES)
    if other != arr.dtype:
        try:
            with warnings.catch_warnings():  # lossy casts are fine here
                warnings.simplefilter("ignore")
                converted = arr.astype(other)
        except (TypeError, ValueError):  # no cast between these dtypes
            return
        assert serialize.digest_value(converted) != serialize.digest_value(arr)


@pytest.mark.parametrize("sizes", [[100], [3000], [700, 900, 5000]],
                         ids=["one-piece", "pieces", "several"])
def test_buffers_in_one_piece_or_many_are_checked_and_loaded(sizes, tmp_path, monkeypatch):
    """Small bodies are hashed inline, larger ones piece by piece in a thread: the same bytes
    and digest either way, and a flipped byte is caught in both."""
    monkeypatch.setattr(serialize, "_CHUNK", 1024)
    value = [np.arange(n, dtype=np.uint8) for n in sizes]
    store = Store(tmp_path / "s")
    digest = store.put_value(value)
    back = store.get_value(digest)
    assert all(np.array_equal(a, b) for a, b in zip(back, value))
    path = store.value_path(digest)
    data = bytearray(path.read_bytes())
    data[-serialize.TRAILER_BYTES - 10] ^= 1  # in the last buffer
    path.write_bytes(bytes(data))
    with pytest.raises(Exception, match="does not match|damaged|Damaged"):
        store.get_value(digest)
