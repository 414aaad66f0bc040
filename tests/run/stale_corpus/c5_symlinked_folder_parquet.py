"""A step reads a parquet file through a symlinked folder (data -> ../store/v1) with pyarrow;
the folder link is re-pointed to v2."""
import io
import os

import pandas as pd

CELLS = [
    "import pandas as pd",
    "%%step total --out total\ntotal = int(pd.read_parquet('data/x.parquet').x.sum())\n"
    "open('total.txt', 'w').write(str(total))",
]
OBSERVE = ["total.txt"]


def _parquet(values) -> bytes:
    buf = io.BytesIO()
    pd.DataFrame({"x": values}).to_parquet(buf)
    return buf.getvalue()


def SETUP(folder, nb):
    for version, values in (("v1", [1, 2]), ("v2", [1, 2, 90])):
        (folder.parent / "store" / version).mkdir(parents=True, exist_ok=True)
        (folder.parent / "store" / version / "x.parquet").write_bytes(_parquet(values))
    os.symlink(folder.parent / "store" / "v1", folder / "data")


def change(folder, nb):
    (folder / "data").unlink()
    os.symlink(folder.parent / "store" / "v2", folder / "data")
