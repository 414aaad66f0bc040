"""Shared store on moto's S3 server: reusing a pipeline from the store in a fresh clone against
recomputing it, and upload/download throughput against s3fs copying the same bytes.

    python benchmarks/bench_remote.py [--mb 256]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from conftest import write_notebook  # noqa: E402
from s3_server import S3Server, free_port  # noqa: E402

from jupyter_mlpipe.store.files import Store  # noqa: E402
from jupyter_mlpipe.store.remote import RemoteStore  # noqa: E402

REPEAT = 3
STEPS = ["%%step make --out data\nimport numpy as np, time\ntime.sleep(2)\n"
         "data = np.random.default_rng(0).random(2_000_000)",
         "%%step fit --in data --out score\nimport time\ntime.sleep(2)\nscore = float(data.mean())"]


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def mlpipe(*args: str, cwd: Path) -> None:
    exe = str(Path(sys.executable).with_name("mlpipe"))
    subprocess.run([exe, *args], cwd=cwd, check=True, capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=256)
    mb = ap.parse_args().mb
    s3 = S3Server(free_port()).start()
    s3.make_bucket("bench")
    os.environ.update({**s3.env, "MLPIPE_STORE": "s3://bench/p"})
    tmp = Path(tempfile.mkdtemp())
    try:
        a = write_notebook(tmp / "a" / "pipe.ipynb", STEPS)
        compute = timed(lambda: mlpipe("run", str(a), cwd=a.parent))
        (tmp / "b").mkdir()
        shutil.copy(a, tmp / "b" / "pipe.ipynb")
        reuse = timed(lambda: mlpipe("run", str(tmp / "b" / "pipe.ipynb"), cwd=tmp / "b"))
        print(f"pipeline: computed {compute:.1f} s, reused from the store in a fresh clone "
              f"{reuse:.1f} s ({compute / reuse:.1f}x)")
        import numpy as np

        store = Store(tmp / "s")
        digest = store.put_value(np.random.default_rng(1).random(mb * 2**20 // 8), "b", "v")
        path = store.value_path(digest)
        remote = RemoteStore("s3://bench/t")
        up = timed(lambda: remote.put_value(digest, store))
        raw_up = timed(lambda: remote.fs.put_file(str(path), "bench/raw/obj"))
        downs, raw_downs = [], []
        for i in range(REPEAT):  # alternating, so neither side always runs on a warmer server
            fresh = Store(tmp / f"f{i}")
            downs.append(timed(lambda f=fresh: remote.fetch_value(digest, f)))
            raw_downs.append(timed(lambda: remote.fs.get_file("bench/raw/obj", str(tmp / "raw"))))
            shutil.rmtree(tmp / f"f{i}")
        down, raw_down = statistics.median(downs), statistics.median(raw_downs)
        size = path.stat().st_size / 2**20
        print(f"\n| {size:.0f} MiB artifact (download: median of {REPEAT}) | mlpipe MB/s "
              "| s3fs MB/s | ratio | target |")
        print("|---|---|---|---|---|")
        for what, ours, theirs in (("upload", up, raw_up), ("download (checked)", down, raw_down)):
            print(f"| {what} | {size / ours:.0f} | {size / theirs:.0f} | "
                  f"{theirs / ours:.2f}x | >= 0.9x {'met' if theirs / ours >= 0.9 else 'NOT met'} |")
    finally:
        s3.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
