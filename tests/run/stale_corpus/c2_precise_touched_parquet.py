"""The parquet file a step reads natively is rewritten with the same content (a new mtime):
nothing re-runs (precision)."""
import io
import os

import pandas as pd

CELLS = [
    "import pandas as pd",
    "%%step agg --out total\ntotal = int(pd.read_parquet('data.parquet').x.sum())\n"
    "open('total.txt', 'w').write(str(total))\nopen('executed.log', 'a').write('agg\\n')",
]
buf = io.BytesIO()
pd.DataFrame({"x": [1, 2]}).to_parquet(buf)
FILES = {"data.parquet": buf.getvalue()}
OBSERVE = ["total.txt"]
PRECISE = True


def change(folder, nb):
    path = folder / "data.parquet"
    path.write_bytes(path.read_bytes())
    os.utime(path, (1e9, 1e9))
