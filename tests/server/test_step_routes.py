"""The pipeline view's REST routes (server/step_routes.py, history_routes run-table) on a real
Jupyter server: a clicked node's output previews, printed output, figure and metrics; a running
step's log read while it runs; the runs table; bad input.

# data -> model   (data: a DataFrame, an array, a scalar; model prints, draws, logs a curve)
"""
from __future__ import annotations

import asyncio
import json
import time

import pytest

from jupyter_mlpipe import Pipeline
from jupyter_mlpipe.store.files import Store
from jupyter_mlpipe.store.history import History
from tests.helpers import write_notebook
from tests.server.rest import fails, get_json

PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5"
       "ErkJggg==")
CELLS = [
    "%%step data --out frame arr n\nimport numpy as np, pandas as pd\n"
    "frame = pd.DataFrame({'a': range(1000), 'b': ['x'] * 1000})\n"
    "arr = np.arange(12, dtype='float32').reshape(3, 4)\nn = 7",
    "%%step model --in frame arr n --out score\nfrom jupyter_mlpipe import log_metric\n"
    "import base64\nfrom IPython.display import Image, display\n"
    "print('rows', len(frame))\n"
    f"display(Image(data=base64.b64decode({PNG!r})))\n"
    "for i in range(3):\n    log_metric('loss', 1.0 / (i + 1), step=i)\n"
    "score = float(arr.sum()) + n * k\nlog_metric('score', score)",
]


@pytest.fixture
def two_runs(jp_root_dir, monkeypatch):
    """pipe.ipynb run with k = 1, then k = 2 (the second reuses `data`)."""
    monkeypatch.delenv("MLPIPE_HOME", raising=False)
    path = write_notebook(jp_root_dir / "pipe.ipynb", CELLS, params="k = 1")
    a = Pipeline.from_notebook(path).run(jobs=1)
    b = Pipeline.from_notebook(path).run(jobs=1, params={"k": 2})
    assert a.ok and b.ok
    return a.run_id, b.run_id


async def test_outputs_of_a_clicked_step(jp_fetch, two_runs, jp_root_dir):
    a, b = two_runs
    data = await get_json(jp_fetch, "steps", "data", "outputs", path="pipe.ipynb")
    assert (data["run_id"], data["reused"], data["executed_run"]) == (b, True, a)
    previews = {o["name"]: o["preview"] for o in data["outputs"]}
    frame = previews["frame"]
    assert frame["kind"] == "dataframe" and frame["shape"] == [1000, 2]
    assert frame["dtypes"]["a"] == "int64" and frame["dtypes"]["b"] in ("object", "str")
    assert frame["head"] == [[0, "x"], [1, "x"], [2, "x"], [3, "x"], [4, "x"]]  # 5 rows only
    arr = previews["arr"]
    assert (arr["kind"], arr["shape"], arr["dtype"]) == ("array", [3, 4], "float32")
    assert arr["summary"]["min"] == 0 and arr["summary"]["max"] == 11
    assert arr["summary"]["mean"] == pytest.approx(5.5)
    assert previews["n"] == {"kind": "scalar", "type": "int", "value": 7, "version": 1}

    model = await get_json(jp_fetch, "steps", "model", "outputs", path="pipe.ipynb")
    assert model["run_id"] == b and not model["reused"] and model["has_notebook"]
    assert model["outputs"][0]["preview"]["value"] == 80.0  # 66 + 7 * 2
    printed = model["printed"]
    assert printed[0] == {"type": "stream", "name": "stdout", "text": "rows 1000\n"}
    assert printed[1]["type"] == "image" and printed[1]["mime"] == "image/png"
    assert [(m["name"], m["iteration"], m["value"]) for m in model["metrics"]] == [
        ("loss", 0, 1.0), ("loss", 1, 0.5), ("loss", 2, pytest.approx(1 / 3)), ("score", None, 80.0)]
    executed = json.loads((await jp_fetch("mlpipe", "api", "runs", b, "steps", "model",
                                          "notebook", params={"path": "pipe.ipynb"})).body)
    assert "print('rows'" in "".join(executed["cells"][model["body_cell"]]["source"])

    older = await get_json(jp_fetch, "steps", "data", "outputs", path="pipe.ipynb", run=a)
    assert (older["run_id"], older["reused"]) == (a, False)

    # the notebook says k = 1: model's current result is run a's, not the latest run's
    history = History(Store.for_notebook(jp_root_dir / "pipe.ipynb").home)
    key_a = next(s["key"] for s in history.run(a)["steps"] if s["step"] == "model")
    history.close()
    now = await get_json(jp_fetch, "steps", "model", "outputs", path="pipe.ipynb", key=key_a)
    assert (now["run_id"], now["current"]) == (a, True)
    assert now["outputs"][0]["preview"]["value"] == 73.0
    gone = await get_json(jp_fetch, "steps", "model", "outputs", path="pipe.ipynb",
                          key="ab" * 32)
    assert (gone["run_id"], gone["current"]) == (b, False)  # the latest, marked not current


async def test_runs_table(jp_fetch, two_runs):
    a, b = two_runs
    table = await get_json(jp_fetch, "run-table", path="pipe.ipynb")
    assert [r["run_id"] for r in table["runs"]] == [b, a]  # newest first
    assert [r["params"]["k"] for r in table["runs"]] == [2, 1]
    assert [r["metrics"]["score"] for r in table["runs"]] == [80.0, 73.0]
    assert table["runs"][0]["counts"] == {"reused": 1, "succeeded": 1}
    assert "k" in table["params"] and table["metrics"] == ["loss", "score"]
    assert all(r["duration"] > 0 and r["state"] == "succeeded" for r in table["runs"])


async def test_bad_requests(jp_fetch, two_runs):
    for parts, params, code, why in [
        (("steps", "nope", "outputs"), {"path": "pipe.ipynb"}, 404, "no stored outputs"),
        (("steps", "data", "outputs"), {"path": "pipe.ipynb", "run": "../x"}, 400, "not a run"),
        (("steps", "data", "outputs"), {"path": "../pipe.ipynb"}, 400, ".."),
        (("runs", "20260101-000000-abcdef", "steps", "data", "log"), {"path": "pipe.ipynb"},
         404, "no run"),
        (("run-table",), {"path": "pipe.ipynb", "limit": "0"}, 400, "whole number"),
    ]:
        got, msg = await fails(jp_fetch("mlpipe", "api", *parts, params=params))
        assert (got, why in msg) == (code, True), (parts, msg)


async def test_routes_need_auth(jp_fetch, two_runs):
    a, _ = two_runs
    for parts in (("steps", "data", "outputs"), ("run-table",),
                  ("runs", a, "steps", "data", "log")):
        code, _ = await fails(jp_fetch("mlpipe", "api", *parts, params={"path": "pipe.ipynb"},
                                       headers={"Authorization": ""}))
        assert code == 403, parts


@pytest.mark.slow
async def test_live_log_while_the_step_runs(jp_fetch, jp_root_dir, monkeypatch):
    """A step prints, then waits for a file: its first line is readable while it still runs."""
    monkeypatch.delenv("MLPIPE_HOME", raising=False)
    go = jp_root_dir / "go"
    write_notebook(jp_root_dir / "slow.ipynb", [
        "%%step wait --out done\nimport os, time\nprint('epoch 1 loss 0.5', flush=True)\n"
        f"while not os.path.exists({str(go)!r}):\n    time.sleep(0.1)\n"
        "print('epoch 2 loss 0.25')\ndone = True"])
    r = await jp_fetch("mlpipe", "api", "runs", method="POST",
                       body=json.dumps({"path": "slow.ipynb"}))
    run_id = json.loads(r.body)["run_id"]
    end, log = time.time() + 90, {"text": ""}
    while "epoch 1" not in log["text"] and time.time() < end:
        await asyncio.sleep(0.2)
        log = await get_json(jp_fetch, "runs", run_id, "steps", "wait", "log", path="slow.ipynb")
    assert log["text"] == "epoch 1 loss 0.5\n" and log["live"], log
    go.write_text("")
    offset = log["offset"]
    while time.time() < end:
        log = await get_json(jp_fetch, "runs", run_id, "steps", "wait", "log",
                             path="slow.ipynb", offset=str(offset))
        if not log["live"] and "epoch 2" in log["text"]:
            break
        await asyncio.sleep(0.2)
    assert log["text"] == "epoch 2 loss 0.25\n" and not log["live"], log  # only what is new
