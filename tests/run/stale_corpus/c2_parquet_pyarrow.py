"""A step reads a parquet file with pandas (pyarrow's C++ reader: no Python `open`); the file
changes."""
import io

import pandas as pd

CELLS = [
    "import pandas as pd",
    "%%step agg --out total\ntotal = int(pd.read_parquet('data.parquet').x.sum())\n"
    "open('total.txt', 'w').write(str(total))",
]


def _parquet(values) -> bytes:
    buf = io.BytesIO()
    pd.DataFrame({"x": values}).to_parquet(buf)
    return buf.getvalue()


FILES = {"data.parquet": _parquet([1, 2])}
OBSERVE = ["total.txt"]


def change(folder, nb):
    (folder / "data.parquet").write_bytes(_parquet([1, 2, 30]))
