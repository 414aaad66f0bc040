"""The examples in notebooks/ run, in batch and top to bottom, and share one cache."""
from __future__ import annotations

import shutil

import nbformat
import papermill
import pytest

from tests.helpers import ROOT


@pytest.fixture
def quickstart(tmp_path, monkeypatch):
    dest = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", dest, ignore=shutil.ignore_patterns(".mlpipe", "*.ipynb_checkpoints"))
    monkeypatch.delenv("MLPIPE_HOME", raising=False)
    # what jupyter_server tells a notebook's kernel; the magic uses it to find the notebook
    monkeypatch.setenv("JPY_SESSION_NAME", str(dest / "quickstart.ipynb"))
    return dest / "quickstart.ipynb"


def step_outputs(nb):
    """Text printed by each %%step cell, by step name."""
    out = {}
    for c in nb.cells:
        if c.cell_type == "code" and c.source.startswith("%%step"):
            name = c.source.split()[1]
            out[name] = "".join(o.get("text", "") for o in c.outputs if o.output_type == "stream")
    return out


def test_quickstart_batch_then_run_all_reuses_everything(quickstart, mlpipe_cli, tmp_path):
    r = mlpipe_cli("run", quickstart, "--jobs", "2")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "5 succeeded" in r.stdout
    executed = papermill.execute_notebook(str(quickstart), str(tmp_path / "out.ipynb"),
                                          cwd=str(quickstart.parent), progress_bar=False,
                                          kernel_name="python3")
    printed = step_outputs(executed)
    assert set(printed) == {"load", "features", "logreg", "forest", "compare"}
    for name, text in printed.items():
        assert text.startswith(f"reused {name} (computed "), (name, text)
    # the body did not run (nothing stored); what it printed in the batch run is shown again
    assert "stored features" not in printed["features"]
    assert printed["features"].split("\n", 1)[1] == "105 training rows, 45 test rows\n"


def test_quickstart_top_to_bottom_then_batch_is_cached(quickstart, mlpipe_cli, tmp_path):
    executed = papermill.execute_notebook(str(quickstart), str(tmp_path / "out.ipynb"),
                                          cwd=str(quickstart.parent), progress_bar=False,
                                          kernel_name="python3")
    printed = step_outputs(executed)
    assert "105 training rows, 45 test rows" in printed["features"]
    assert "'forest'" in printed["compare"]
    r = mlpipe_cli("status", quickstart)
    assert "5 cached, 0 stale" in r.stdout, r.stdout
    # edit the data file: load and everything below it is stale, with the reason
    csv = quickstart.parent / "data" / "iris.csv"
    csv.write_text(csv.read_text().replace("5.1,3.5,1.4,0.2", "5.2,3.5,1.4,0.2", 1))
    r = mlpipe_cli("status", quickstart)
    assert "data/iris.csv changed" in r.stdout and "0 cached, 5 stale" in r.stdout


def test_every_example_notebook_parses(mlpipe_cli):
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nbformat.validate(nbformat.read(nb, as_version=4))
        r = mlpipe_cli("graph", nb)
        assert r.returncode == 0, (nb, r.stderr)
