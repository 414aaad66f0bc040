"""Output previews (store/previews.py): small and bounded whatever the value, never raising."""
from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd

from jupyter_mlpipe.store.previews import (
    MAX_BYTES,
    make_preview,
    read_preview,
    save_preview,
)


def test_a_billion_values_are_summarised_from_a_sample_quickly():
    huge = np.broadcast_to(np.float64(1.5), (1000, 1000, 1000))  # 8 GB, no memory taken
    start = time.perf_counter()
    p = make_preview(huge)
    assert time.perf_counter() - start < 2
    assert p["shape"] == [1000, 1000, 1000] and p["nbytes"] == 8 * 10**9
    assert p["summary"]["mean"] == 1.5 and p["summary"]["sampled"] == 1_000_000


def test_a_big_array_is_summarised_over_values_spread_over_it():
    p = make_preview(np.arange(3_000_000, dtype=float))  # sorted: its first values would lie
    s = p["summary"]
    assert (s["sampled"], s["every"], s["min"]) == (1_000_000, 3, 0)
    assert s["max"] == 2_999_997 and abs(s["mean"] - 1_500_000) < 2


def test_a_wide_frame_keeps_its_shape_within_bounds():
    wide = pd.DataFrame({f"col{i}": ["y" * 500] * 50 for i in range(300)})
    p = make_preview(wide)
    assert p["shape"] == [50, 300] and p["more_columns"] == 280
    assert len(p["columns"]) == 20 and all(len(c) <= 60 for row in p["head"] for c in row)
    assert len(json.dumps(p)) <= MAX_BYTES


def test_values_that_cannot_be_described_get_their_type():
    class Bad:
        @property
        def shape(self):
            raise RuntimeError("no shape")

    p = make_preview(Bad())
    assert p["kind"] == "object" and "RuntimeError: no shape" in p["error"]
    assert make_preview(float("nan"))["value"] == "nan"  # JSON has no NaN
    assert make_preview(list(range(10**6)))["length"] == 10**6


def test_saved_once_and_read_back(tmp_path):
    save_preview(tmp_path, "ab" * 32, {"a": 1})
    assert read_preview(tmp_path, "ab" * 32)["length"] == 1
    assert read_preview(tmp_path, "../../etc/passwd") is None
    assert read_preview(tmp_path, "cd" * 32) is None
