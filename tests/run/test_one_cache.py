"""One cache: `mlpipe run` and an interactive Run All reach the same decision for the same
files, in both orders, also when the prelude puts src/ on sys.path, reads data and the
environment (issue 20, classes 7 and 8)."""
from __future__ import annotations

import subprocess

import nbformat
import pytest

from tests.helpers import MLPIPE, write_notebook
from tests.run.test_never_stale import execute

CELLS = [
    "import os, sys\nsys.path.insert(0, 'src')\nimport pandas as pd",
    "import features\nLIMIT = int(os.environ.get('LIMIT', '3'))\ndf = pd.read_csv('train.csv')",
    "%%step agg --out total\ntotal = features.scale(int(df.x.sum())) + LIMIT\n"
    "open('total.txt', 'w').write(str(total))\nopen('executed.log', 'a').write('agg\\n')",
    "later = 1",
    "%%step report --in total\nopen('report.txt', 'w').write(f'{total}:{later}')\n"
    "open('executed.log', 'a').write('report\\n')",
]
FILES = {"train.csv": "x\n1\n2\n", "src/features.py": "from helpers import K\n\n"
         "def scale(v):\n    return v * K\n", "src/helpers.py": "K = 10\n"}


def _project(tmp_path):
    work = tmp_path / "project"
    for rel, text in FILES.items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text(text)
    return write_notebook(work / "pipe.ipynb", CELLS)


def _batch(nb) -> str:
    r = subprocess.run([str(MLPIPE), "run", str(nb)], check=False, capture_output=True,
                       text=True, cwd=nb.parent, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout + r.stderr


def _run_all(nb) -> None:
    execute(nbformat.read(nb, as_version=4), nb.parent, {"JPY_SESSION_NAME": str(nb)})


def _executed(nb) -> list[str]:
    log = nb.parent / "executed.log"
    steps = log.read_text().split() if log.exists() else []
    log.unlink(missing_ok=True)
    return steps


@pytest.mark.slow
def test_run_all_after_mlpipe_run_executes_no_step_body(tmp_path, monkeypatch):
    monkeypatch.delenv("MLPIPE_HOME", raising=False)
    monkeypatch.delenv("LIMIT", raising=False)
    nb = _project(tmp_path)
    _batch(nb)
    assert _executed(nb) == ["agg", "report"]
    _run_all(nb)
    assert _executed(nb) == []
    assert (nb.parent / "report.txt").read_text() == "33:1"
    (nb.parent / "src" / "helpers.py").write_text("K = 100\n")  # both doors see it
    _run_all(nb)
    assert _executed(nb) == ["agg", "report"]
    assert (nb.parent / "report.txt").read_text() == "303:1"
    _batch(nb)
    assert _executed(nb) == []


@pytest.mark.slow
def test_mlpipe_run_after_run_all_executes_no_step_body(tmp_path, monkeypatch):
    monkeypatch.delenv("MLPIPE_HOME", raising=False)
    monkeypatch.delenv("LIMIT", raising=False)
    nb = _project(tmp_path)
    _run_all(nb)
    assert _executed(nb) == ["agg", "report"]
    out = _batch(nb)
    assert _executed(nb) == [], out
    (nb.parent / "train.csv").write_text("x\n1\n2\n3\n")
    _batch(nb)
    assert _executed(nb) == ["agg", "report"]
    assert (nb.parent / "report.txt").read_text() == "63:1"
    _run_all(nb)
    assert _executed(nb) == []
