"""notebooks/targets.ipynb runs as documented: local + gateway + Dask on one machine."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from jupyter_mlpipe.pipeline.load import load_pipeline
from jupyter_mlpipe.run.runner import run_pipeline
from jupyter_mlpipe.targets import load_targets

EXAMPLES = Path(__file__).resolve().parents[2] / "notebooks"


def test_shipped_targets_file_parses():
    t = load_targets(EXAMPLES)
    assert t.get("gateway").token_env == "MLPIPE_GATEWAY_TOKEN" and t.get("cluster").dask
    steps = {s.name: s.target for s in load_pipeline(EXAMPLES / "targets.ipynb").steps}
    assert steps["data"] == "local" and steps["fit"] == "gateway" and steps["boot0"] == "cluster"


@pytest.mark.slow
def test_example_runs_on_all_three_targets(tmp_path, gateway):
    shutil.copy(EXAMPLES / "targets.ipynb", tmp_path)
    (tmp_path / "mlpipe.toml").write_text(
        (EXAMPLES / "mlpipe.toml").read_text()
        .replace("http://127.0.0.1:8889", gateway["url"])
        .replace("MLPIPE_GATEWAY_TOKEN", gateway["token_env"]))
    run = run_pipeline(load_pipeline(tmp_path / "targets.ipynb"), params={"n": 5000}, jobs=2)
    assert run.ok, [s.error for s in run.failed]
    report = run.outputs("summary")["report"]
    assert report["coef"][0] == pytest.approx(1.0, abs=0.1)
    assert not report["fit_ran_in"].startswith(str(tmp_path))
