"""A retried step's attempts in the run view's record (GET /mlpipe/api/runs/ID/record).

# flaky (fails once, --retries 1)
"""
from __future__ import annotations

import json

import pytest

from tests.helpers import write_notebook

pytestmark = pytest.mark.slow


async def test_record_shows_attempts_and_why_earlier_ones_failed(jp_fetch, jp_root_dir,
                                                                 monkeypatch, mlpipe_cli):
    monkeypatch.delenv("MLPIPE_HOME", raising=False)
    path = write_notebook(jp_root_dir / "p.ipynb", [
        "%%step flaky --out x --retries 1\nfrom pathlib import Path\np = Path('n.txt')\n"
        "n = int(p.read_text()) if p.exists() else 0\np.write_text(str(n + 1))\n"
        "if n == 0:\n    raise RuntimeError('first try fails')\nx = n"])
    r = mlpipe_cli("run", path)
    assert r.returncode == 0, r.stderr
    run_id = r.stdout.split("run ")[1].split()[0]
    resp = await jp_fetch("mlpipe", "api", "runs", run_id, "record", params={"path": "p.ipynb"})
    step = json.loads(resp.body)["steps"][0]
    assert step["state"] == "succeeded" and step["attempts"] == 2
    assert "RuntimeError: first try fails" in step["attempt_errors"][0]
