"""The run view's REST routes (server/history_routes.py) on a real Jupyter server: a run's
record, two runs compared, metrics across runs, a failed step's traceback; auth and bad input.

# load -> left, right -> join   (tests/notebooks/panel_demo.ipynb, join logs metric 'total')
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.server.rest import fails, get_json

from jupyter_mlpipe import Pipeline
from tests.helpers import NOTEBOOKS

UNKNOWN = "20260101-000000-abcdef"


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mlpipe": True}}}


def _demo(root: Path, join_extra: str) -> Path:
    nb = json.loads((NOTEBOOKS / "panel_demo.ipynb").read_text())
    for cell in nb["cells"]:
        if cell["source"].startswith("%%step join"):
            cell["source"] += "\nfrom jupyter_mlpipe import log_metric\nlog_metric('total', total)"
            cell["source"] += join_extra
    (root / "demo.ipynb").write_text(json.dumps(nb))
    return root / "demo.ipynb"


@pytest.fixture
def three_runs(jp_root_dir, monkeypatch):
    """demo.ipynb run with scale 2, then 3, then with join raising: the three run ids."""
    monkeypatch.delenv("MLPIPE_HOME", raising=False)
    path = _demo(jp_root_dir, "")
    a = Pipeline.from_notebook(path).run(jobs=2)
    b = Pipeline.from_notebook(path).run(jobs=2, params={"scale": 3})
    c = Pipeline.from_notebook(_demo(jp_root_dir, "\nraise ValueError('bad join')")).run(jobs=2)
    assert (a.ok, b.ok, c.ok) == (True, True, False)
    return a.run_id, b.run_id, c.run_id


async def test_record_compare_metrics_and_failure(jp_fetch, three_runs):
    a, b, c = three_runs
    rec = await get_json(jp_fetch, "runs", b, "record", path="demo.ipynb")
    assert rec["run_id"] == b and rec["state"] == "succeeded" and rec["path"] == "demo.ipynb"
    assert rec["params"]["scale"] == 3 and rec["metrics"]["total"]["value"] == 135
    assert {s["name"]: s["reused"] for s in rec["steps"]} == {
        "load": True, "left": False, "right": False, "join": False}

    diff = await get_json(jp_fetch, "compare", path="demo.ipynb", a=a, b=b)
    assert diff["params"]["scale"] == [2, 3] and diff["metrics"]["total"] == [90, 135]
    assert diff["steps"]["load"] == "same" and diff["steps"]["join"] == "changed"

    series = (await get_json(jp_fetch, "metrics", path="demo.ipynb"))["runs"]
    assert [r["run_id"] for r in series] == [a, b, c]  # oldest first
    assert [r["metrics"]["total"] for r in series] == [90, 135, 90]  # logged, then raised
    assert len((await get_json(jp_fetch, "metrics", path="demo.ipynb", limit="1"))["runs"]) == 1

    failure = await get_json(jp_fetch, "runs", c, "steps", "join", "failure", path="demo.ipynb")
    assert failure["ename"] == "ValueError" and failure["evalue"] == "bad join"
    assert failure["line_text"] == "raise ValueError('bad join')" and failure["line"] > 1
    assert "\x1b[" not in failure["traceback"]

    for route, why in [(("runs", a, "steps", "join", "failure"), "shows no error"),
                       (("runs", c, "steps", "load", "failure"), "no executed notebook"),
                       (("runs", UNKNOWN, "steps", "join", "failure"), "no run")]:
        code, msg = await fails(jp_fetch("mlpipe", "api", *route, params={"path": "demo.ipynb"}))
        assert (code, why in msg) == (404, True), (route, msg)


async def test_auth_and_bad_input(jp_fetch, jp_root_dir, monkeypatch):
    monkeypatch.delenv("MLPIPE_HOME", raising=False)
    _demo(jp_root_dir, "")
    (jp_root_dir / "other.ipynb").write_text((jp_root_dir / "demo.ipynb").read_text())
    nb = {"path": "demo.ipynb"}
    routes = [(("runs", UNKNOWN, "record"), nb), (("compare",), {**nb, "a": "x", "b": "y"}),
              (("metrics",), nb), (("runs", UNKNOWN, "steps", "join", "failure"), nb)]
    for parts, params in routes:  # every route needs Jupyter's authentication
        code, _ = await fails(jp_fetch("mlpipe", "api", *parts, params=params,
                                       headers={"Authorization": ""}))
        assert code == 403, parts
    for parts, params in routes:  # paths stay under the served root
        code, _ = await fails(jp_fetch("mlpipe", "api", *parts,
                                       params={**params, "path": "../outside.ipynb"}))
        assert code == 400, parts
        code, _ = await fails(jp_fetch("mlpipe", "api", *parts,
                                       params={**params, "path": "missing.ipynb"}))
        assert code == 404, parts
    assert (await get_json(jp_fetch, "metrics", **nb))["runs"] == []  # no runs yet
    for limit in ("abc", "0", "-3"):
        code, msg = await fails(jp_fetch("mlpipe", "api", "metrics", params={**nb, "limit": limit}))
        assert code == 400 and "limit" in msg and "whole number" in msg
    code, _ = await fails(jp_fetch("mlpipe", "api", "compare", params={**nb, "a": UNKNOWN}))
    assert code == 400  # b missing
    code, msg = await fails(jp_fetch("mlpipe", "api", "compare",
                                     params={**nb, "a": UNKNOWN, "b": UNKNOWN}))
    assert code == 404
    code, msg = await fails(jp_fetch("mlpipe", "api", "runs", UNKNOWN, "record", params=nb))
    assert code == 404 and UNKNOWN in msg
