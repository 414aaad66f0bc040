"""Malformed requests to /mlpipe/api/ are 400s with a message saying what to send, never 500s."""
from __future__ import annotations

import json

import pytest

from tests.server.rest import fails

RUN = "20260101-000000-abcdef"
GET_ROUTES = [("graph",), ("runs",), ("runs", RUN), ("runs", RUN, "record"),
              ("runs", RUN, "steps", "load", "notebook"), ("runs", RUN, "steps", "load", "failure"),
              ("metrics",), ("compare",)]


@pytest.mark.parametrize("route", GET_ROUTES, ids="/".join)
async def test_a_20000_character_path_is_refused_on_every_route(jp_fetch, demo, route):
    code, msg = await fails(jp_fetch("mlpipe", "api", *route,
                                     params={"path": "a" * 20_000 + ".ipynb", "a": RUN,
                                             "b": RUN}))
    assert code == 400 and "20,006 characters" in msg


async def test_a_long_path_component_is_a_400(jp_fetch, demo):
    code, msg = await fails(jp_fetch("mlpipe", "api", "graph",
                                     params={"path": "x" * 300 + ".ipynb"}))
    assert code == 400 and "cannot name a notebook" in msg


@pytest.mark.parametrize("body,says", [
    ({"path": 12}, "'path' must be a string"),
    ({"path": ["work/demo.ipynb"]}, "'path' must be a string"),
    ({"path": "a" * 20_000 + ".ipynb"}, "at most 4096"),
    ({"path": "work/demo.ipynb", "only": 5}, "'only' must be a list of step names"),
    ({"path": "work/demo.ipynb", "only": {"load": 1}}, "'only' must be a list"),
    ({"path": "work/demo.ipynb", "only": ["load", 3]}, "'only' must be a list"),
    ({"path": "work/demo.ipynb", "upto": ["join"]}, "'upto' must be a step name"),
    ({"path": "work/demo.ipynb", "params": [1]}, "'params' must be an object"),
    ({"path": "work/demo.ipynb", "jobs": True}, "'jobs' must be a whole number"),
    ({"path": "work/demo.ipynb", "jobs": 10 ** 30}, "'jobs' must be a whole number"),
])
async def test_post_runs_with_a_malformed_body(jp_fetch, demo, body, says):
    code, msg = await fails(jp_fetch("mlpipe", "api", "runs", method="POST",
                                     body=json.dumps(body)))
    assert code == 400 and says in msg, msg


@pytest.mark.parametrize("limit", ["abc", "1" * 30, "0", "-3", "2.5", "²", ""])
@pytest.mark.parametrize("route", ["runs", "metrics"])
async def test_a_limit_that_is_not_a_small_whole_number(jp_fetch, demo, route, limit):
    code, msg = await fails(jp_fetch("mlpipe", "api", route,
                                     params={"path": demo, "limit": limit}))
    assert code == 400 and "'limit' must be a whole number from 1 to" in msg


async def test_a_good_limit_still_answers(jp_fetch, demo):
    r = await jp_fetch("mlpipe", "api", "runs", params={"path": demo, "limit": "5"})
    assert r.code == 200 and json.loads(r.body) == {"runs": []}
