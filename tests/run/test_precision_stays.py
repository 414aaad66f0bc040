"""Precision stays (issue 20): what the recorder adds (the prelude's reads, modules, env) must
not make steps re-run for changes that cannot change a result: a project copied to another
folder with its store, `-p lr 0.1` then `-p lr 0.10`."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.helpers import MLPIPE, write_notebook

CELLS = [
    "import os, sys\nsys.path.insert(0, 'src')\nimport pandas as pd\nimport features",
    "df = pd.read_csv('data/train.csv')\nLIMIT = int(os.environ.get('LIMIT', '3'))",
    "%%step fit --out w\nw = features.scale(int(df.x.sum())) * lr + LIMIT\n"
    "open('executed.log', 'a').write('fit\\n')",
]
FILES = {"data/train.csv": "x\n1\n2\n", "src/features.py": "def scale(v):\n    return v * 10\n"}


def _project(folder):
    for rel, text in FILES.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    return write_notebook(folder / "pipe.ipynb", CELLS, "lr = 0.5")


def _run(nb, *args) -> list[str]:
    log = nb.parent / "executed.log"
    log.unlink(missing_ok=True)
    r = subprocess.run([str(MLPIPE), "run", str(nb), *args], check=False, capture_output=True,
                       text=True, cwd=nb.parent, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    return log.read_text().split() if log.exists() else []


@pytest.mark.slow
def test_a_project_copied_to_another_folder_reuses_everything(tmp_path, monkeypatch):
    monkeypatch.delenv("MLPIPE_HOME", raising=False)
    nb = _project(tmp_path / "a")
    assert _run(nb) == ["fit"]
    shutil.copytree(tmp_path / "a", tmp_path / "elsewhere" / "b")
    assert _run(tmp_path / "elsewhere" / "b" / "pipe.ipynb") == []


@pytest.mark.slow
def test_the_same_parameter_value_spelled_differently_reuses(tmp_path, monkeypatch):
    monkeypatch.delenv("MLPIPE_HOME", raising=False)
    nb = _project(tmp_path)
    assert _run(nb, "-p", "lr", "0.1") == ["fit"]
    assert _run(nb, "-p", "lr", "0.10") == []
    assert _run(nb, "-p", "lr", "0.2") == ["fit"]
