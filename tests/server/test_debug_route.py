"""POST /mlpipe/api/debug on a real Jupyter server: the panel's "Debug in notebook".

# load -> train
"""
from __future__ import annotations

import json

import pytest
from tornado.httpclient import HTTPClientError

from tests.helpers import write_notebook

pytestmark = pytest.mark.slow


async def post(jp_fetch, body):
    return await jp_fetch("mlpipe", "api", "debug", method="POST", body=json.dumps(body))


async def fails(coro) -> tuple[int, str]:
    with pytest.raises(HTTPClientError) as info:
        await coro
    return info.value.code, json.loads(info.value.response.body or b"{}").get("message", "")


async def test_debug_route_writes_the_notebook_beside_and_answers_its_path(
        jp_fetch, jp_root_dir, monkeypatch, mlpipe_cli):
    monkeypatch.delenv("MLPIPE_HOME", raising=False)
    path = write_notebook(jp_root_dir / "work" / "p.ipynb", [
        "%%step load --out raw\nraw = [1, 2]", "%%step train --in raw --out m\nm = sum(raw)"])
    code, message = await fails(post(jp_fetch, {"path": "work/p.ipynb", "step": "train"}))
    assert code == 409 and "mlpipe run p.ipynb --only load" in message
    assert mlpipe_cli("run", path).returncode == 0
    r = await post(jp_fetch, {"path": "work/p.ipynb", "step": "train"})
    assert r.code == 201
    assert json.loads(r.body) == {"path": "work/p.debug-train.ipynb"}
    assert (jp_root_dir / "work" / "p.debug-train.ipynb").is_file()
    code, message = await fails(post(jp_fetch, {"path": "work/p.ipynb", "step": "nope"}))
    assert code == 404 and "no step named 'nope'" in message
    code, _ = await fails(post(jp_fetch, {"path": "../p.ipynb", "step": "train"}))
    assert code == 400
    code, _ = await fails(post(jp_fetch, {"path": "work/p.ipynb"}))
    assert code == 400
