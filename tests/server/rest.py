"""Requests the REST API tests make through pytest-jupyter's jp_fetch."""
from __future__ import annotations

import asyncio
import json
import time

import pytest
from tornado.httpclient import HTTPClientError


async def get_json(jp_fetch, *parts, **params):
    r = await jp_fetch("mlpipe", "api", *parts, params=params)
    return json.loads(r.body)


async def post_run(jp_fetch, **body):
    r = await jp_fetch("mlpipe", "api", "runs", method="POST", body=json.dumps(body))
    assert r.code == 202
    return json.loads(r.body)


async def fails(coro) -> tuple[int, str]:
    with pytest.raises(HTTPClientError) as info:
        await coro
    body = info.value.response.body if info.value.response else b"{}"
    return info.value.code, json.loads(body or b"{}").get("message", "")


async def wait_done(jp_fetch, path, run_id, timeout=90):
    end = time.time() + timeout
    while time.time() < end:
        run = await get_json(jp_fetch, "runs", run_id, path=path)
        if not run["live"]:
            return run
        await asyncio.sleep(0.2)
    raise AssertionError(f"run {run_id} still live after {timeout}s")
