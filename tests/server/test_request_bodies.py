"""Every POST body is checked against its route's schema in openapi.yaml before anything starts:
text that is not UTF-8 JSON, a body that is not an object, unknown fields, wrong types, a 1 MB
name are 400s with a message, never a 500 or a 202 that then fails in the background. And a POST
authenticated by the login cookie alone (no XSRF token) is refused on every POST route.

# load -> left, right -> join   (tests/notebooks/panel_demo.ipynb, parameter `scale`)
"""
from __future__ import annotations

import json
from http.cookies import SimpleCookie

import pytest

from jupyter_mlpipe.automation.publish import publish_pipeline
from tests.server.rest import fails

MB_NAME = "n" * 1_000_000


@pytest.fixture
def published(demo, jp_root_dir, tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MLPIPE_PIPELINES", str(tmp_path_factory.mktemp("registry")))
    publish_pipeline(jp_root_dir / demo, "demo")
    return demo


def routes(demo: str) -> dict[str, tuple[tuple[str, ...], dict]]:
    """Each POST route and a body it accepts."""
    return {"runs": (("runs",), {"path": demo}),
            "pipeline runs": (("pipelines", "demo", "runs"), {}),
            "sweeps": (("sweeps",), {"path": demo, "sweep": {"scale": [1, 2]}})}


ROUTES = ["runs", "pipeline runs", "sweeps"]


async def post(jp_fetch, parts, body: bytes | str, **kw):
    return await fails(jp_fetch("mlpipe", "api", *parts, method="POST", body=body, **kw))


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("raw,says", [
    (b'{"path": "\xff\xfe"}', "not UTF-8"),
    (b"[]", "must be a JSON object, not an array"),
    (b'"x"', "must be a JSON object, not a string"),
    (b"{nope", "not JSON"),
])
async def test_a_body_that_is_not_a_json_object(jp_fetch, published, route, raw, says):
    code, msg = await post(jp_fetch, routes(published)[route][0], raw)
    assert code == 400 and says in msg, (code, msg)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("change,says", [
    ({"colour": "red"}, "unknown field(s) colour"),
    ({"jobs": "many"}, "'jobs' must be a whole number from 1 to 10000, not \"many\""),
    ({"jobs": "x"}, "'jobs' must be a whole number"),
    ({"jobs": -1}, "'jobs' must be a whole number"),
    ({"jobs": 1.5}, "'jobs' must be a whole number"),
    ({"jobs": True}, "'jobs' must be a whole number"),
    ({"params": [1]}, "'params' must be an object, not [1]"),
    ({"params": {MB_NAME: 1}}, "unknown parameter(s) nnnn"),
])
async def test_a_bad_field_is_a_400_before_anything_starts(jp_fetch, published, jp_root_dir,
                                                          route, change, says):
    parts, good = routes(published)[route]
    code, msg = await post(jp_fetch, parts, json.dumps({**good, **change}))
    assert code == 400 and says in msg, (code, msg[:500])
    assert len(msg) < 2000  # a 1 MB name is not echoed back whole
    assert not (jp_root_dir / "work" / ".mlpipe" / "runs").exists()  # no run started


@pytest.mark.parametrize("sweep,says", [
    ({"nope": [1]}, "unknown parameter(s) nope"),
    ({MB_NAME: [1]}, "unknown parameter(s) nnnn"),
    ({"scale": []}, "'sweep.scale' must have at least 1 item"),
    ({"scale": 3}, "'sweep.scale' must be a list"),
    ({}, "'sweep' must have at least 1 entry"),
])
async def test_a_bad_sweep_is_refused_not_run_in_the_background(jp_fetch, published, sweep, says):
    code, msg = await post(jp_fetch, ("sweeps",), json.dumps({"path": published, "sweep": sweep}))
    assert code == 400 and says in msg, (code, msg[:500])


async def test_a_body_missing_a_required_field(jp_fetch, published):
    code, msg = await post(jp_fetch, ("sweeps",), json.dumps({"path": published}))
    assert code == 400 and "misses 'sweep'" in msg, msg
    code, msg = await post(jp_fetch, ("sweeps",), b"")
    assert code == 400 and "needs a JSON object body" in msg, msg


async def test_a_long_pipeline_name_in_the_url_is_a_400(jp_fetch, published):
    code, msg = await post(jp_fetch, ("pipelines", "p" * 300, "runs"), b"{}")
    assert code == 400 and "at most 100" in msg, msg


@pytest.mark.parametrize("route", ROUTES)
async def test_a_cookie_authenticated_post_needs_the_xsrf_token(jp_fetch, published, route,
                                                               jp_serverapp):
    """As a browser tab on another site would send it: the login cookie, no XSRF token."""
    login = await jp_fetch("api", "status", params={"token": jp_serverapp.identity_provider.token},
                           headers={"Authorization": ""})
    jar = SimpleCookie()
    for header in login.headers.get_list("Set-Cookie"):
        jar.load(header)
    login_cookie = [name for name in jar if name.startswith("username-")]
    assert login_cookie, login.headers  # logged in by the cookie from here on
    cookies = "; ".join(f"{k}={v.value}" for k, v in jar.items())
    parts, good = routes(published)[route]
    headers = {"Authorization": "", "Cookie": cookies}
    ok = await jp_fetch("api", "status", headers=headers)  # the cookie alone authenticates
    assert ok.code == 200
    code, msg = await post(jp_fetch, parts, json.dumps(good), headers=headers)
    assert code == 403 and "_xsrf" in msg, (code, msg)
    token = "d1c2b3a4e5f6"  # a page of the server would set it as the _xsrf cookie
    r = await jp_fetch("mlpipe", "api", *parts, method="POST", body=json.dumps(good),
                       headers={"Authorization": "", "Cookie": f"{cookies}; _xsrf={token}",
                                "X-XSRFToken": token})
    assert r.code == 202  # with the token, the same request is taken


LONG = "r" * 300
URL_NAMES = [("runs", LONG), ("runs", LONG, "record"), ("runs", LONG, "steps", "s", "notebook"),
             ("runs", LONG, "steps", "s", "failure"), ("runs", "1-2", "steps", LONG, "notebook"),
             ("runs", "1-2", "steps", LONG, "failure"), ("sweeps", LONG)]


@pytest.mark.parametrize("parts", URL_NAMES, ids=lambda p: "/".join(x[:8] for x in p))
async def test_names_too_long_for_the_disk_in_the_url_are_never_a_500(jp_fetch, published,
                                                                      parts):
    code, msg = await fails(jp_fetch("mlpipe", "api", *parts, params={"path": published}))
    assert code in (400, 404), (code, msg[:300])
