"""Remote steps record what they used where they ran (issue 20, class 9): a gateway step
that reads a file of the remote host, in its prelude or its body, ships its manifest back
with the outputs, and the runner checks it on that host before reusing the result."""
from __future__ import annotations

import json

import pytest

from jupyter_mlpipe.pipeline.load import load_pipeline
from jupyter_mlpipe.run.runner import run_pipeline
from tests.helpers import write_pipeline

pytestmark = pytest.mark.slow


def _toml(gw) -> str:
    return f'[targets.remote]\ngateway = "{gw["url"]}"\ntoken_env = "{gw["token_env"]}"\n'


def test_a_file_the_gateway_step_read_on_its_host_is_checked_there(tmp_path, gateway):
    host = tmp_path / "host-data"  # a folder of the remote host (here the same machine)
    host.mkdir()
    (host / "table.txt").write_text("1 2 3")
    (host / "scale.txt").write_text("10")
    nb = write_pipeline(tmp_path / "project", [
        f"%%step total --out s --target remote\n"
        f"s = sum(map(int, open({str(host / 'table.txt')!r}).read().split())) * SCALE",
    ], prelude=f"SCALE = int(open({str(host / 'scale.txt')!r}).read())", toml=_toml(gateway))

    first = run_pipeline(load_pipeline(nb), jobs=1)
    assert first.ok, [s.error for s in first.failed]
    assert first.outputs("total")["s"] == 60
    again = run_pipeline(load_pipeline(nb), jobs=1)
    assert str(again.steps["total"].state) == "reused"

    (host / "table.txt").write_text("1 2 3 4")  # read by the step's body there
    third = run_pipeline(load_pipeline(nb), jobs=1)
    assert str(third.steps["total"].state) == "succeeded"
    assert third.outputs("total")["s"] == 100
    (host / "scale.txt").write_text("100")  # read by the prelude there
    fourth = run_pipeline(load_pipeline(nb), jobs=1)
    assert fourth.outputs("total")["s"] == 1000
    key = fourth.steps["total"].key
    entry = json.loads(next((nb.parent / ".mlpipe" / "entries").rglob(f"{key}.json")).read_text())
    assert sorted(entry["manifest"]["remote"]["files"]) == [str(host / "scale.txt"),
                                                           str(host / "table.txt")]
