"""The graph route as the panel reads it: a step whose `%%step` line has a mistyped option
stays in the graph as an invalid node with its message ("did you mean"), its edges kept, its
downstream drawn as usual; parameters come with their Python types.

# load -> train -> report   (train: `--outt model`)
"""
from __future__ import annotations

import json

import pytest

from tests.helpers import write_notebook


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mlpipe": True}}}


async def test_a_mistyped_option_draws_the_step_invalid(jp_fetch, jp_root_dir, monkeypatch):
    monkeypatch.delenv("MLPIPE_HOME", raising=False)
    write_notebook(jp_root_dir / "typo.ipynb", [
        "%%step load --out raw\nraw = [1, 2, 3]",
        "%%step train --in raw --outt model\nmodel = sum(raw)",
        "%%step report --in model\nprint(model)"])
    r = await jp_fetch("mlpipe", "api", "graph", params={"path": "typo.ipynb"})
    graph = json.loads(r.body)
    steps = {s["name"]: s for s in graph["steps"]}
    assert set(steps) == {"load", "train", "report"}, graph
    assert steps["train"]["status"] == "invalid"
    assert steps["load"]["status"] == steps["report"]["status"] == "stale"
    error = steps["train"]["error"]
    assert error.startswith("cell 3") and "--outt" in error, error
    assert "did you mean '--out'?" in error
    edges = {(e["source"], e["target"]) for e in graph["edges"]}
    assert {("load", "train"), ("train", "report")} <= edges
    assert graph["errors"] == [error]


async def test_parameter_types_tell_a_whole_float_from_an_int(jp_fetch, jp_root_dir, monkeypatch):
    monkeypatch.delenv("MLPIPE_HOME", raising=False)
    write_notebook(jp_root_dir / "params.ipynb", ["%%step fit --out m\nm = C * n"],
                   params='C = 1.0\nn = 3\nlabel = "v" + str(n)')
    r = await jp_fetch("mlpipe", "api", "graph", params={"path": "params.ipynb"})
    graph = json.loads(r.body)
    assert graph["parameter_types"] == {"C": "float", "n": "int", "label": "expression"}
