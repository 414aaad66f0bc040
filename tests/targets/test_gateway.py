"""Steps on a real Jupyter Kernel Gateway: data travels over the kernel channel, not a disk."""
from __future__ import annotations

import json

import numpy as np
import pytest
from tests.helpers import write_pipeline

from jupyter_mlpipe.cli.main import main
from jupyter_mlpipe.pipeline.load import load_pipeline
from jupyter_mlpipe.run.runner import run_pipeline

pytestmark = pytest.mark.slow


def toml(gw, extra: str = "") -> str:
    return (f'[targets.remote]\ngateway = "{gw["url"]}"\ntoken_env = "{gw["token_env"]}"\n'
            + extra)


def test_step_runs_on_the_gateway_kernel_with_inputs_reads_outputs_and_writes(tmp_path, gateway):
    # load (local) -> big (remote: reads a file, gets an input, writes a file) -> check (local)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "words.txt").write_text("alpha beta")
    (tmp_path / "mylib.py").write_text("def triple(v):\n    return v * 3\n")  # a local module
    nb = write_pipeline(tmp_path, [
        "%%step load --out base\nimport numpy as np\nbase = np.arange(3_000_000, dtype='f8')",
        "%%step big --in base --out arr where --reads data/words.txt --writes out/report.txt "
        "--target remote\n"
        "import os\nwords = open('data/words.txt').read().split()\n"
        "arr = triple(base)\nwhere = os.getcwd()\n"
        "os.makedirs('out', exist_ok=True)\nopen('out/report.txt', 'w').write(str(len(words)))",
        "%%step check --in arr --out total\ntotal = float(arr.sum())",
    ], toml=toml(gateway), prelude="import os\nfrom mylib import triple")
    from jupyter_server.gateway.gateway_client import GatewayClient

    def gateway_client_state():  # another test's Jupyter server may have made the singleton
        return GatewayClient.initialized() and (GatewayClient.instance().url or "unset")

    before = gateway_client_state()
    run = run_pipeline(load_pipeline(nb), jobs=2)
    assert run.ok, [s.error for s in run.failed]
    # the process-wide gateway client is put back: in a Jupyter server it is the server's own
    assert gateway_client_state() == before
    arr = run.outputs("big")["arr"]  # 24 MB: a dozen chunks each way
    np.testing.assert_array_equal(arr, np.arange(3_000_000, dtype="f8") * 3)
    assert run.outputs("check")["total"] == float(arr.sum())
    where = run.outputs("big")["where"]
    assert not where.startswith(str(tmp_path))  # it really ran elsewhere
    assert (tmp_path / "out" / "report.txt").read_text() == "2"  # --writes came back
    executed = json.loads((tmp_path / ".mlpipe" / "runs" / run.run_id / "big.ipynb").read_text())
    assert executed["metadata"]["mlpipe"]["gateway"] == gateway["url"]
    # a re-run reuses everything; the written file is restored if it went missing
    (tmp_path / "out" / "report.txt").unlink()
    again = run_pipeline(load_pipeline(nb), jobs=2)
    assert {str(s.state) for s in again.steps.values()} == {"reused"}
    assert (tmp_path / "out" / "report.txt").read_text() == "2"


def test_step_error_on_the_gateway_shows_its_own_traceback(tmp_path, gateway, capsys):
    nb = write_pipeline(tmp_path, ["%%step boom --out x --target remote\nx = 1 / 0"],
                        toml=toml(gateway))
    assert main(["run", str(nb)]) == 1
    err = capsys.readouterr().err
    assert "step 'boom' failed: ZeroDivisionError" in err and "1 / 0" in err


def test_wrong_token_is_reported_before_any_step(tmp_path, gateway, capsys, monkeypatch):
    monkeypatch.setenv("WRONG_TOKEN", "nope")
    nb = write_pipeline(tmp_path, ["%%step s --out x --target remote\nx = 1"],
                        toml=f'[targets.remote]\ngateway = "{gateway["url"]}"\n'
                             'token_env = "WRONG_TOKEN"\n')
    assert main(["run", str(nb)]) == 2
    err = capsys.readouterr().err
    assert "answered 401" in err and "$WRONG_TOKEN" in err


def test_dead_remote_kernel_fails_the_step_then_retry_and_resume(tmp_path, gateway):
    marker = tmp_path / "died-once"  # same machine in this test only: counts attempts
    steps = ["%%step first --out a\na = 41",
             "%%step fragile --in a --out b --target remote\n"
             f"import os, pathlib\nm = pathlib.Path({str(marker)!r})\n"
             "if not m.exists():\n    m.touch()\n    os._exit(1)\nb = a + 1"]
    nb = write_pipeline(tmp_path, steps, toml=toml(gateway))
    run = run_pipeline(load_pipeline(nb), jobs=2)
    failed = run.steps["fragile"]
    assert str(failed.state) == "failed" and "kernel" in failed.error and "died" in failed.error
    assert str(run.steps["first"].state) == "succeeded"
    # re-run: `first` comes from the cache, `fragile` runs again (the marker lets it live)
    again = run_pipeline(load_pipeline(nb), jobs=2)
    assert again.ok and str(again.steps["first"].state) == "reused"
    assert again.outputs("fragile")["b"] == 42
    # with retries = 1 the same fault is absorbed within one run
    marker.unlink()
    (tmp_path / "mlpipe.toml").write_text(toml(gateway, "retries = 1\n"))
    third = run_pipeline(load_pipeline(nb), jobs=2, force=True)
    assert third.ok and third.outputs("fragile")["b"] == 42
