"""Small previews of stored outputs, made when a step saves them, so the pipeline view can show
a DataFrame's head, an array's shape and summary, or a scalar without the server ever loading
(unpickling) the value: previews/ab/<digest>.json beside the artifact it describes.

A preview is bounded whatever the value's size (MAX_BYTES): a few rows and columns, cells
cut to MAX_CELL characters, summaries of big arrays taken over SAMPLE values spread over them. Making
one never fails the step: a value it cannot describe gets its type and a short reason.
Pandas and NumPy are looked up in sys.modules, never imported here: a value of their types
means its kernel imported them already.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import reprlib
import sys
from pathlib import Path
from typing import Any

from .. import atomic

PREVIEW_VERSION = 1
HEAD_ROWS = 5
MAX_COLUMNS = 20
MAX_CELL = 60
MAX_TEXT = 300
SAMPLE = 1_000_000  # array summaries over at most this many values, spread over the array
MAX_BYTES = 32_000

_repr = reprlib.Repr()
_repr.maxstring = MAX_TEXT
_repr.maxother = MAX_TEXT
_repr.maxlist = _repr.maxtuple = _repr.maxset = _repr.maxdict = 10


def _cut(text: str, limit: int = MAX_CELL) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cell(v: Any) -> Any:
    """A table cell as JSON: numbers and booleans kept (NaN/inf as text), the rest as short text."""
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int) and abs(v) < 2**53:
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else str(v)
    item = getattr(v, "item", None)  # NumPy scalars
    if callable(item) and type(v).__module__ == "numpy":
        try:
            return _cell(item())
        except (TypeError, ValueError):
            pass
    return _cut(str(v))


def _type_name(value: Any) -> str:
    t = type(value)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _dataframe(df: Any) -> dict[str, Any]:
    cols = list(df.columns[:MAX_COLUMNS])
    head = df.iloc[:HEAD_ROWS, :MAX_COLUMNS]
    return {"kind": "dataframe", "type": _type_name(df), "shape": list(df.shape),
            "columns": [_cut(str(c)) for c in cols],
            "dtypes": {_cut(str(c)): str(t) for c, t in list(df.dtypes.items())[:MAX_COLUMNS]},
            "index": [_cell(i) for i in head.index],
            "head": [[_cell(v) for v in row] for row in head.itertuples(index=False, name=None)],
            "more_columns": max(0, df.shape[1] - MAX_COLUMNS)}


def _series(s: Any) -> dict[str, Any]:
    head = s.iloc[:HEAD_ROWS]
    return {"kind": "series", "type": _type_name(s), "shape": list(s.shape), "dtype": str(s.dtype),
            "name": _cut(str(s.name)), "index": [_cell(i) for i in head.index],
            "head": [_cell(v) for v in head]}


def _sample(a: Any) -> tuple[Any, dict[str, Any]]:
    """`a` flattened, or at most SAMPLE of its values spread over it (every k-th, a view of a
    contiguous array) or its first SAMPLE (any other layout); and how the sample was taken."""
    if a.size <= SAMPLE:
        return a, {}
    if a.flags.c_contiguous:
        step = -(-a.size // SAMPLE)
        sample = a.reshape(-1)[::step].copy()  # 1M values: the summaries then read 8 MB in order
        return sample, {"sampled": int(sample.size), "every": step}
    return a.flat[:SAMPLE], {"sampled": SAMPLE, "every": None}


def _array(a: Any, np: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": "array", "type": _type_name(a), "shape": list(a.shape),
                           "dtype": str(a.dtype), "nbytes": int(a.nbytes)}
    numeric = np.issubdtype(a.dtype, np.number) and not np.issubdtype(a.dtype, np.complexfloating)
    if a.size and (numeric or a.dtype == bool):
        sample, how = _sample(a)
        values = sample.astype(float) if a.dtype == bool else sample
        with np.errstate(all="ignore"):
            out["summary"] = {"min": _cell(np.nanmin(values)), "max": _cell(np.nanmax(values)),
                              "mean": _cell(np.nanmean(values)),
                              "std": _cell(np.nanstd(values)), **how}
    if a.size:
        out["head"] = [_cell(v) for v in a.flat[:HEAD_ROWS * 2]]
    return out


def make_preview(value: Any) -> dict[str, Any]:
    """A bounded, JSON-ready description of `value` (never raises)."""
    try:
        preview = _describe(value)
    except Exception as exc:  # noqa: BLE001 - a value's own methods may raise anything
        preview = {"kind": "object", "type": _type_name(value),
                   "error": _cut(f"no preview: {type(exc).__name__}: {exc}", MAX_TEXT)}
    preview["version"] = PREVIEW_VERSION
    if len(json.dumps(preview)) > MAX_BYTES:  # wide cells add up: keep the shape, drop rows
        preview = {k: v for k, v in preview.items() if k not in ("head", "index", "dtypes")}
        preview["trimmed"] = True
    return preview


def _describe(value: Any) -> dict[str, Any]:
    pd, np = sys.modules.get("pandas"), sys.modules.get("numpy")
    if pd is not None and isinstance(value, pd.DataFrame):
        return _dataframe(value)
    if pd is not None and isinstance(value, pd.Series):
        return _series(value)
    if np is not None and isinstance(value, np.ndarray):
        return _array(value, np)
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)) or (
            np is not None and isinstance(value, np.generic)):
        return {"kind": "scalar", "type": _type_name(value),
                "value": _cell(value) if not isinstance(value, (str, bytes)) else
                _cut(value if isinstance(value, str) else repr(value), MAX_TEXT)}
    out: dict[str, Any] = {"kind": "object", "type": _type_name(value),
                           "repr": _cut(_repr.repr(value), MAX_TEXT)}
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        out["length"] = len(value)
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple) and all(isinstance(n, int) for n in shape):
        out["shape"] = list(shape)
    return out


def preview_path(home: str | os.PathLike, digest: str) -> Path:
    return Path(home) / "previews" / digest[:2] / f"{digest}.json"


def save_preview(home: str | os.PathLike, digest: str, value: Any) -> None:
    """Write the preview of a stored value (once: same digest, same value)."""
    path = preview_path(home, digest)
    if not path.exists():
        with contextlib.suppress(OSError):  # a preview is a nicety: never fail the step for it
            atomic.write_text(path, json.dumps(make_preview(value)))


def read_preview(home: str | os.PathLike, digest: str) -> dict[str, Any] | None:
    """The stored preview of `digest`, or None (stored before previews existed, or removed)."""
    if not (digest and digest.isalnum()):
        return None
    try:
        text = preview_path(home, digest).read_text(encoding="utf-8")
    except OSError:
        return None
    if len(text) > MAX_BYTES * 2:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
