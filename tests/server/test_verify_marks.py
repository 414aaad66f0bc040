"""The panel marks steps that `mlpipe verify` found differing (GET /mlpipe/api/graph).

# load -> noisy, det
"""
from __future__ import annotations

import json

import pytest

from tests.helpers import replace_cell, write_notebook

pytestmark = pytest.mark.slow


async def marks(jp_fetch) -> dict:
    r = await jp_fetch("mlpipe", "api", "graph", params={"path": "p.ipynb"})
    return {s["name"]: s["verify"] for s in json.loads(r.body)["steps"]}


async def test_graph_marks_differing_steps_until_their_key_changes(jp_fetch, jp_root_dir,
                                                                   monkeypatch, mlpipe_cli):
    monkeypatch.delenv("MLPIPE_HOME", raising=False)
    path = write_notebook(jp_root_dir / "p.ipynb", [
        "%%step load --out raw\nraw = [1, 2]",
        "%%step noisy --in raw --out x\nimport random\nx = random.random()",
        "%%step det --in raw --out z\nz = sum(raw)"])
    assert mlpipe_cli("run", path).returncode == 0
    assert await marks(jp_fetch) == {"load": None, "noisy": None, "det": None}
    assert mlpipe_cli("verify", path).returncode == 1
    found = await marks(jp_fetch)
    assert found["noisy"] == {"verdict": "differs", "differing": ["x"]}
    assert found["det"] == {"verdict": "same", "differing": []}
    replace_cell(path, "%%step noisy", "%%step noisy --in raw --out x\nx = 0.5")
    assert (await marks(jp_fetch))["noisy"] is None  # a new key: the finding no longer applies
