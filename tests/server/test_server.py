"""The REST API under /mlpipe/api/ on a real Jupyter server: routes, auth, path confinement.

# load -> left, right -> join   (tests/notebooks/panel_demo.ipynb)
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from pathlib import Path

import pytest
from tornado.httpclient import HTTPClientError

from tests.helpers import NOTEBOOKS
from tests.server.rest import fails, get_json, post_run, wait_done



async def test_graph_reports_steps_cells_and_why_stale(jp_fetch, demo):
    g = await get_json(jp_fetch, "graph", path=demo)
    steps = {s["name"]: s for s in g["steps"]}
    assert list(steps) == ["load", "left", "right", "join"]
    assert steps["left"]["cell"] == 4 and steps["left"]["cell_id"] == "c-left"
    assert steps["join"]["upstream"] == ["left", "right"]
    assert {(e["source"], e["target"], e["label"]) for e in g["edges"]} >= {
        ("load", "left", "raw"), ("right", "join", "odds")}
    assert all(s["status"] == "stale" for s in g["steps"])
    assert steps["load"]["reasons"] == ["never run"]
    assert g["parameters"] == {"scale": 2} and g["active_run"] is None


async def test_run_then_everything_is_cached(jp_fetch, demo, jp_root_dir):
    started = await post_run(jp_fetch, path=demo, jobs=2)
    assert started["run_id"] and started["live"]
    run = await wait_done(jp_fetch, demo, started["run_id"])
    assert run["state"] == "succeeded"
    assert {s["name"]: s["state"] for s in run["steps"]} == {
        "load": "succeeded", "left": "succeeded", "right": "succeeded", "join": "succeeded"}
    g = await get_json(jp_fetch, "graph", path=demo)
    assert [s["status"] for s in g["steps"]] == ["cached"] * 4
    history = await get_json(jp_fetch, "runs", path=demo)
    assert history["runs"][0]["run_id"] == started["run_id"]
    assert history["runs"][0]["path"] == demo and history["runs"][0]["duration"] > 0
    # the executed notebook of a step, as JSON and as HTML
    r = await jp_fetch("mlpipe", "api", "runs", started["run_id"], "steps", "join", "notebook",
                       params={"path": demo})
    executed = json.loads(r.body)
    printed = [(c["metadata"].get("tags"), o.get("name"), "".join(o.get("text", "")))
               for c in executed["cells"] for o in c.get("outputs", [])]
    assert printed == [(["mlpipe-step-body"], "stdout", "90\n")]  # 2*(0+2+..+8) + 2*(1+..+9)
    r = await jp_fetch("mlpipe", "api", "runs", started["run_id"], "steps", "join", "notebook",
                       params={"path": demo, "format": "html"})
    assert b"<html" in r.body.lower()


async def test_run_one_step_and_up_to_a_step(jp_fetch, demo):
    up = await post_run(jp_fetch, path=demo, upto="left")
    run = await wait_done(jp_fetch, demo, up["run_id"])
    assert {s["name"]: s["state"] for s in run["steps"]} == {"load": "succeeded",
                                                             "left": "succeeded"}
    one = await post_run(jp_fetch, path=demo, only=["left"], force=True)
    run = await wait_done(jp_fetch, demo, one["run_id"])
    assert {s["name"]: s["state"] for s in run["steps"]} == {"load": "reused",
                                                             "left": "succeeded"}
    g = await get_json(jp_fetch, "graph", path=demo)
    assert {s["name"]: s["status"] for s in g["steps"]} == {
        "load": "cached", "left": "cached", "right": "stale", "join": "stale"}


async def test_parameters_change_the_result(jp_fetch, demo):
    started = await post_run(jp_fetch, path=demo, params={"scale": 3})
    run = await wait_done(jp_fetch, demo, started["run_id"])
    assert run["state"] == "succeeded" and run["params"]["scale"] == 3
    code, msg = await fails(jp_fetch("mlpipe", "api", "runs", method="POST",
                                     body=json.dumps({"path": demo, "params": {"nope": 1}})))
    assert code == 400 and "nope" in msg


async def test_second_run_of_same_notebook_conflicts_and_events_stream(
        jp_fetch, demo, http_server_client, jp_base_url, jp_auth_header):
    started = await post_run(jp_fetch, path=demo)
    code, msg = await fails(jp_fetch("mlpipe", "api", "runs", method="POST",
                                     body=json.dumps({"path": demo})))
    assert code == 409 and started["run_id"] in msg
    g = await get_json(jp_fetch, "graph", path=demo)
    assert g["active_run"] == started["run_id"]
    chunks: list[bytes] = []
    await http_server_client.fetch(
        f"{jp_base_url}mlpipe/api/runs/{started['run_id']}/events", headers=jp_auth_header,
        streaming_callback=chunks.append, request_timeout=90)
    events = [block for block in b"".join(chunks).decode().split("\n\n") if block.strip()]
    kinds = [e.split("\n")[0].removeprefix("event: ") for e in events]
    assert kinds[0] == "snapshot" and kinds[-1] == "run"
    states = [json.loads(e.split("data: ", 1)[1])["step"]["state"]
              for e in events if e.startswith("event: step")]
    assert "running" in states and "succeeded" in states
    assert json.loads(events[-1].split("data: ", 1)[1])["state"] == "succeeded"


async def test_server_answers_while_a_run_executes(jp_fetch, jp_root_dir, monkeypatch):
    monkeypatch.delenv("MLPIPE_HOME", raising=False)
    nb = json.loads((NOTEBOOKS / "panel_demo.ipynb").read_text())
    nb["cells"][3]["source"] = "%%step load --out raw\nimport time\ntime.sleep(4)\nraw = [1]"
    (jp_root_dir / "slow.ipynb").write_text(json.dumps(nb))
    started = await post_run(jp_fetch, path="slow.ipynb", only=["load"])  # 202 with its id
    deadline = time.monotonic() + 60
    while True:  # the step starts once its kernel is up
        run = await get_json(jp_fetch, "runs", started["run_id"], path="slow.ipynb")
        assert run["live"], run
        if run["steps"][0]["state"] == "running":
            break
        assert time.monotonic() < deadline, run
        await asyncio.sleep(0.1)
    t0 = time.perf_counter()
    r = await jp_fetch("api", "status")
    assert r.code == 200 and time.perf_counter() - t0 < 1.0  # while the step sleeps
    await wait_done(jp_fetch, "slow.ipynb", started["run_id"])


@pytest.mark.parametrize("route", [("graph",), ("runs",)])
async def test_every_route_needs_the_token(jp_fetch, demo, route):
    code, _ = await fails(jp_fetch("mlpipe", "api", *route, params={"path": demo},
                                   headers={"Authorization": ""}))
    assert code == 403
    code, _ = await fails(jp_fetch("mlpipe", "api", "runs", method="POST",
                                   body=json.dumps({"path": demo}),
                                   headers={"Authorization": ""}))
    assert code == 403


async def test_token_is_checked_by_a_plain_client(http_server_client, jp_base_url, demo):
    for url in (f"graph?path={demo}", f"runs?path={demo}",
                f"runs/20260101-000000-abcdef?path={demo}", "runs/20260101-000000-abcdef/events",
                "runs/20260101-000000-abcdef/steps/load/notebook?path=" + demo):
        with pytest.raises(HTTPClientError) as info:
            await http_server_client.fetch(f"{jp_base_url}mlpipe/api/{url}",
                                           follow_redirects=False)
        assert info.value.code == 403


async def test_paths_stay_under_the_root(jp_fetch, demo, jp_root_dir, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    shutil.copy(NOTEBOOKS / "panel_demo.ipynb", outside / "secret.ipynb")
    os.symlink(outside, jp_root_dir / "link")
    os.symlink(outside / "secret.ipynb", jp_root_dir / "secret.ipynb")
    cases = {
        "../outside/secret.ipynb": 400,
        "work/../../secret.ipynb": 400,
        str(outside / "secret.ipynb"): 400,
        "link/secret.ipynb": 403,
        "secret.ipynb": 403,
        ".hidden/x.ipynb": 403,
        "missing.ipynb": 404,
        "work": 400,
    }
    for path, expected in cases.items():
        code, msg = await fails(jp_fetch("mlpipe", "api", "graph", params={"path": path}))
        assert (path, code) == (path, expected), msg
        code, _ = await fails(jp_fetch("mlpipe", "api", "runs", method="POST",
                                       body=json.dumps({"path": path})))
        assert (path, code) == (path, expected)
    assert not (outside / ".mlpipe").exists()  # nothing ran, nothing was stored there


async def test_one_broken_step_does_not_hide_the_graph(jp_fetch, jp_root_dir):
    # load -> left, right -> join, with a syntax error in right and a bad option in join
    nb = json.loads((NOTEBOOKS / "panel_demo.ipynb").read_text())
    cells = {c["source"].split()[1] if c["source"].startswith("%%step") else i: c
             for i, c in enumerate(nb["cells"])}
    cells["right"]["source"] = cells["right"]["source"].replace("\n", "\nif (\n", 1)
    (jp_root_dir / "broken.ipynb").write_text(json.dumps(nb))
    graph = await get_json(jp_fetch, "graph", path="broken.ipynb")
    steps = {s["name"]: s for s in graph["steps"]}
    assert set(steps) == {"load", "left", "right", "join"}
    assert steps["right"]["status"] == "invalid" and steps["load"]["status"] == "stale"
    cell = nb["cells"].index(cells["right"]) + 1
    assert steps["right"]["error"].startswith(f"cell {cell}, step 'right':")
    assert "right" in {e["source"] for e in graph["edges"] if e["target"] == "join"}
    assert graph["errors"] == [steps["right"]["error"]]


async def test_errors_map_to_status_codes(jp_fetch, demo, jp_root_dir):
    shutil.copy(NOTEBOOKS / "bad_magic.ipynb", jp_root_dir / "bad.ipynb")
    graph = await get_json(jp_fetch, "graph", path="bad.ipynb")  # drawn, the step invalid
    assert [(s["name"], s["status"]) for s in graph["steps"]] == [("load", "invalid")]
    assert "cell 1" in graph["errors"][0]
    assert "--bogus" in graph["errors"][0]
    code, msg = await fails(jp_fetch("mlpipe", "api", "runs", method="POST",
                                     body=json.dumps({"path": "bad.ipynb"})))
    assert code == 400 and "cell 1" in msg and "--bogus" in msg
    code, msg = await fails(jp_fetch("mlpipe", "api", "runs", method="POST",
                                     body=json.dumps({"path": demo, "only": ["nope"]})))
    assert code == 404 and "nope" in msg and "load" in msg
    code, _ = await fails(jp_fetch("mlpipe", "api", "runs", "20260101-000000-abcdef",
                                   params={"path": demo}))
    assert code == 404
    code, msg = await fails(jp_fetch("mlpipe", "api", "graph"))
    assert code == 400 and "path" in msg


def test_openapi_describes_every_route():
    import re

    import yaml

    from jupyter_mlpipe.server import all_routes

    spec = yaml.safe_load((Path(__file__).resolve().parents[2] / "jupyter_mlpipe" / "server"
                           / "openapi.yaml").read_text())
    served = {re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", r[0]).removeprefix("/mlpipe/api")
              for r in all_routes("/")}
    assert served == set(spec["paths"])


async def test_a_failing_step_fails_the_run_and_says_why(jp_fetch, jp_root_dir, monkeypatch):
    monkeypatch.delenv("MLPIPE_HOME", raising=False)
    nb = json.loads((NOTEBOOKS / "panel_demo.ipynb").read_text())
    nb["cells"][6]["source"] += "\nraise ValueError('boom')"
    (jp_root_dir / "broken.ipynb").write_text(json.dumps(nb))
    for _ in range(2):  # the second time the upstream steps are reused
        started = await post_run(jp_fetch, path="broken.ipynb", jobs=2)
        run = await wait_done(jp_fetch, "broken.ipynb", started["run_id"], timeout=60)
        assert run["state"] == "failed"
        join = next(s for s in run["steps"] if s["name"] == "join")
        assert join["state"] == "failed" and "ValueError: boom" in join["error"]
        assert join["has_notebook"]
        assert str(jp_root_dir) not in join["error"]  # paths relative to the served root
        assert ".mlpipe/runs/" in join["error"]
    g = await get_json(jp_fetch, "graph", path="broken.ipynb")
    assert {s["name"]: s["status"] for s in g["steps"]}["join"] == "stale"


async def test_cancel_a_live_run(jp_fetch, jp_root_dir, monkeypatch):
    monkeypatch.delenv("MLPIPE_HOME", raising=False)
    nb = json.loads((NOTEBOOKS / "panel_demo.ipynb").read_text())
    nb["cells"][3]["source"] = "%%step load --out raw\nimport time\ntime.sleep(60)\nraw = [1]"
    (jp_root_dir / "slow.ipynb").write_text(json.dumps(nb))
    started = await post_run(jp_fetch, path="slow.ipynb")
    end = time.time() + 60
    while (await get_json(jp_fetch, "runs", started["run_id"], path="slow.ipynb"))[
            "steps"][0]["state"] != "running":
        assert time.time() < end
        await asyncio.sleep(0.2)
    code, _ = await fails(jp_fetch("mlpipe", "api", "runs", started["run_id"], method="DELETE",
                                   headers={"Authorization": ""}))
    assert code == 403
    r = await jp_fetch("mlpipe", "api", "runs", started["run_id"], method="DELETE")
    assert r.code == 202
    t0 = time.time()
    run = await wait_done(jp_fetch, "slow.ipynb", started["run_id"], timeout=30)
    assert time.time() - t0 < 20
    assert run["state"] == "cancelled"
    load = next(s for s in run["steps"] if s["name"] == "load")
    assert load["state"] == "cancelled" and load["error"] == "stopped: the run was cancelled"
    assert {s["state"] for s in run["steps"]} == {"cancelled"}  # never started, not failed
    code, _ = await fails(jp_fetch("mlpipe", "api", "runs", started["run_id"], method="DELETE"))
    assert code == 404  # no longer live
