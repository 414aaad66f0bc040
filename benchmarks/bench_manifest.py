"""What recording and checking manifests (what a step really read) costs, printed as a table.

    python benchmarks/bench_manifest.py

On the 20-step chain of pipelines.py, with a prelude that imports pandas and reads a CSV file
(recorded for every step since issue 20) and a step that reads a CSV file: a warm re-run with nothing changed (whole `mlpipe run` process,
every manifest checked) and the per-step overhead on a ready kernel (executed step minus its
body, recording included), each with recording on and with MLPIPE_NO_MANIFEST=1, which turns
recording off and so leaves nothing to check. That switch exists for this comparison only.
Target: within 10% of the run without manifests.
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import MLPIPE, row, rows, run_api, timed  # noqa: E402
from pipelines import chain  # noqa: E402


def pipeline(folder: Path) -> Path:
    folder.mkdir()
    (folder / "extra.csv").write_text("a,b\n" + "\n".join(f"{i},{i * 2}" for i in range(1000)))
    nb = chain(20).mlpipe_notebook(folder)
    import nbformat

    book = nbformat.read(nb, as_version=4)
    book.cells.insert(2, nbformat.v4.new_code_cell(
        "import pandas as pd\nprelude_rows = len(pd.read_csv('extra.csv'))"))
    book.cells.append(nbformat.v4.new_code_cell(
        "%%step extra --out rows\nrows = len(pd.read_csv('extra.csv'))"))
    nbformat.write(book, nb)
    return nb


def switch(recording: bool) -> str:
    if recording:
        os.environ.pop("MLPIPE_NO_MANIFEST", None)
        return "recording"
    os.environ["MLPIPE_NO_MANIFEST"] = "1"
    return "MLPIPE_NO_MANIFEST=1"


def main() -> None:
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        os.environ.pop("MLPIPE_HOME", None)
        nbs = {}
        for on in (False, True):
            switch(on)
            nbs[on] = pipeline(tmp / ("on" if on else "off"))
            timed([MLPIPE, "run", str(nbs[on]), "--jobs", "2"])
        warm: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(5):  # alternate, so a busy moment of the machine hits both alike
            for on in (False, True):
                switch(on)
                warm[on].append(timed([MLPIPE, "run", str(nbs[on])]))
        over = {}
        for on in (False, True):
            label = switch(on)
            w = statistics.median(warm[on])
            row(f"warm re-run, nothing changed ({label})", f"{w * 1000:.0f} ms")
            run, _ = run_api(nbs[on], jobs=2, force=True)
            over[on] = statistics.median(s.exec_seconds - s.body_seconds
                                         for s in run.steps.values()
                                         if s.body_seconds is not None)
            row(f"per-step overhead on a ready kernel, median ({label})",
                f"{over[on] * 1000:.0f} ms")
        os.environ.pop("MLPIPE_NO_MANIFEST", None)
    ratio = statistics.median(warm[True]) / statistics.median(warm[False])
    row("warm re-run: manifests on / off", f"{ratio:.2f}", "<= 1.10")
    row("per-step overhead: recording on - off", f"{(over[True] - over[False]) * 1000:+.0f} ms",
        "<= 10%", f"of {over[False] * 1000:.0f} ms")
    print("\n| measure | value | target | note |\n|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
