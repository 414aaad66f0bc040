"""REST routes for published pipelines, sweeps and schedules on a real Jupyter server.

# load -> left, right -> join   (tests/notebooks/panel_demo.ipynb, parameter `scale`)
"""
from __future__ import annotations

import asyncio
import json
import time

import pytest

from jupyter_mlpipe.automation.publish import REGISTRY, publish_pipeline
from jupyter_mlpipe.automation.schedule import add_schedule
from tests.helpers import mlpipe
from tests.server.rest import fails, get_json, wait_done


@pytest.fixture
def published(demo, jp_root_dir, tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MLPIPE_PIPELINES", str(tmp_path_factory.mktemp("registry")))
    record = publish_pipeline(jp_root_dir / demo, "demo")
    assert record["version"] == "1" and record["parameters"]["scale"]["default"] == 2
    return record


async def test_published_pipeline_runs_over_rest_with_parameters(jp_fetch, published, demo,
                                                                 jp_root_dir):
    listed = await get_json(jp_fetch, "pipelines")
    assert [(p["name"], p["version"], p["path"], p["default"]) for p in listed["pipelines"]] \
        == [("demo", "1", demo, True)]
    # the notebook changes after publishing: the published version keeps its own code
    nb = json.loads((jp_root_dir / demo).read_text())
    nb["cells"] = [c for c in nb["cells"] if "%%step join" not in "".join(c["source"])]
    (jp_root_dir / demo).write_text(json.dumps(nb))
    r = await jp_fetch("mlpipe", "api", "pipelines", "demo", "runs", method="POST",
                       body=json.dumps({"params": {"scale": 3}}))
    assert r.code == 202
    started = json.loads(r.body)
    assert started["pipeline"] == "demo" and started["version"] == "1"
    run = await wait_done(jp_fetch, demo, started["run_id"])
    assert run["state"] == "succeeded" and run["params"]["scale"] == 3
    assert {s["name"] for s in run["steps"]} == {"load", "left", "right", "join"}
    assert run["trigger"] == "published demo@1"
    code, msg = await fails(jp_fetch("mlpipe", "api", "pipelines", "demo", "runs",
                                     method="POST", body=json.dumps({"params": {"nope": 1}})))
    assert code == 400 and "nope" in msg
    code, _ = await fails(jp_fetch("mlpipe", "api", "pipelines", "nothere", "runs",
                                   method="POST", body="{}"))
    assert code == 404
    REGISTRY.set_state("demo@1", "disabled")
    code, msg = await fails(jp_fetch("mlpipe", "api", "pipelines", "demo", "runs",
                                     method="POST", body="{}"))
    assert code == 404 and "disabled" in msg


async def test_routes_refuse_requests_without_the_token(jp_fetch, published):
    code, _ = await fails(jp_fetch("mlpipe", "api", "pipelines", "demo", "runs", method="POST",
                                   body=json.dumps({"params": {"scale": 3}}),
                                   headers={"Authorization": ""}))
    assert code == 403
    for route in (("pipelines",), ("schedules",), ("sweeps", "abc")):
        code, _ = await fails(jp_fetch("mlpipe", "api", *route, headers={"Authorization": ""}))
        assert code == 403
    code, _ = await fails(jp_fetch("mlpipe", "api", "sweeps", method="POST", body="{}",
                                   headers={"Authorization": ""}))
    assert code == 403


async def test_sweep_over_rest_and_schedules_listed(jp_fetch, demo, jp_root_dir):
    r = await jp_fetch("mlpipe", "api", "sweeps", method="POST",
                       body=json.dumps({"path": demo, "sweep": {"scale": [1, 2]}, "jobs": 2}))
    assert r.code == 202
    sweep_id = json.loads(r.body)["sweep_id"]
    end = time.time() + 120
    while True:
        sweep = await get_json(jp_fetch, "sweeps", sweep_id)
        if sweep["state"] != "running" or time.time() > end:
            break
        await asyncio.sleep(0.3)
    assert sweep["state"] == "succeeded", sweep
    assert sweep["sweep_id"] == sweep_id  # the id it is polled by, not the result's own
    assert [p["params"]["scale"] for p in sweep["points"]] == [1, 2]
    s = add_schedule(jp_root_dir, jp_root_dir / demo, every="10m", params={"scale": 5})
    listed = await get_json(jp_fetch, "schedules")
    row = listed["schedules"][0]
    assert row["id"] == s.id and row["notebook"] == demo and row["when"] == "every 10m"
    assert row["params"] == {"scale": 5} and row["next"] > time.time() and not row["last_run"]
    assert listed["running_here"] is False
    other = (jp_root_dir / demo).with_name("other.ipynb")
    other.write_text((jp_root_dir / demo).read_text())
    add_schedule(jp_root_dir, other, every="1h")
    assert len((await get_json(jp_fetch, "schedules"))["schedules"]) == 2
    mine = await jp_fetch("mlpipe", "api", "schedules", params={"path": demo})
    assert [r["id"] for r in json.loads(mine.body)["schedules"]] == [s.id]  # this notebook's


async def test_one_sweep_id_in_the_answer_the_runs_and_the_cli(jp_fetch, demo, jp_root_dir):
    """The id POST /sweeps answers is the one in each point run's trigger (what `mlpipe runs`
    and the runs table show); a sweep the CLI started is found by the id it printed."""
    r = await jp_fetch("mlpipe", "api", "sweeps", method="POST",
                       body=json.dumps({"path": demo, "sweep": {"scale": [1, 2]}, "jobs": 2}))
    sweep_id = json.loads(r.body)["sweep_id"]
    end = time.time() + 120
    while (sweep := await get_json(jp_fetch, "sweeps", sweep_id))["state"] == "running" \
            and time.time() < end:
        await asyncio.sleep(0.3)
    table = json.loads((await jp_fetch("mlpipe", "api", "run-table", params={"path": demo})).body)
    triggers = {row["run_id"]: row["trigger"] for row in table["runs"]}
    assert {triggers[p["run_id"]] for p in sweep["points"]} \
        == {f"sweep {sweep_id} point 1/2", f"sweep {sweep_id} point 2/2"}, triggers

    done = await asyncio.to_thread(mlpipe, "run", demo, "--sweep", "scale=3,4", "-j", "2",
                                   cwd=jp_root_dir)
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith("sweep ") and first.endswith(": 2 points"), done.stdout
    cli_id = first.split()[1].rstrip(":")
    assert done.stdout.splitlines()[-1].startswith(f"sweep {cli_id}: 2/2")
    listed = await asyncio.to_thread(mlpipe, "runs", demo, cwd=jp_root_dir)
    assert f"trigger: sweep {cli_id} point 1/2" in listed.stdout
    found = await get_json(jp_fetch, "sweeps", cli_id, path=demo)
    assert found["state"] == "succeeded" and found["sweep_id"] == cli_id, found
    assert [p["params"]["scale"] for p in found["points"]] == [3, 4]
    assert all(p["run_id"] in listed.stdout for p in found["points"])
    code, msg = await fails(jp_fetch("mlpipe", "api", "sweeps", cli_id))
    assert code == 404 and "?path=" in msg  # says how to find one started elsewhere
