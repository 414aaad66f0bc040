"""A step reads a parquet file by absolute path, outside the project, with pyarrow; it
changes. (SETUP writes the absolute path into the cell.)"""
import io

import pandas as pd

from tests.helpers import replace_cell

CELLS = [
    "import pyarrow.parquet as pq",
    "%%step total --out total\ntotal = int(pq.read_table('ABS').column('x').to_pandas().sum())\n"
    "open('total.txt', 'w').write(str(total))",
]
OBSERVE = ["total.txt"]


def _parquet(values) -> bytes:
    buf = io.BytesIO()
    pd.DataFrame({"x": values}).to_parquet(buf)
    return buf.getvalue()


def _path(folder):
    return folder.parent / "warehouse" / "sales.parquet"


def SETUP(folder, nb):
    _path(folder).parent.mkdir(exist_ok=True)
    _path(folder).write_bytes(_parquet([1, 2]))
    replace_cell(nb, "%%step total", CELLS[1].replace("ABS", str(_path(folder))))


def change(folder, nb):
    _path(folder).write_bytes(_parquet([1, 2, 60]))
