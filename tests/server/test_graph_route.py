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


async def test_a_whole_value_sent_for_a_float_parameter_stays_a_float(jp_fetch, jp_root_dir,
                                                                      monkeypatch):
    # the form sends C = 2 for a float field: JSON cannot say 2.0
    import asyncio

    monkeypatch.delenv("MLPIPE_HOME", raising=False)
    write_notebook(jp_root_dir / "floaty.ipynb", ["%%step fit --out m\nm = type(C).__name__"],
                   params="C = 1.0")
    r = await jp_fetch("mlpipe", "api", "runs", method="POST",
                       body=json.dumps({"path": "floaty.ipynb", "params": {"C": 2}}))
    run_id = json.loads(r.body)["run_id"]
    for _ in range(600):
        r = await jp_fetch("mlpipe", "api", "runs", run_id, params={"path": "floaty.ipynb"})
        run = json.loads(r.body)
        if run["state"] not in ("starting", "running"):
            break
        await asyncio.sleep(0.2)
    assert run["state"] == "succeeded", run
    from jupyter_mlpipe import Pipeline

    pipe = Pipeline.from_notebook(jp_root_dir / "floaty.ipynb")
    assert pipe.run(params={"C": 2.0}).steps["fit"].reused  # the same key: C was 2.0
