"""Run tracking: log_metric/log_param inside steps, `mlpipe runs`, `mlpipe runs --compare`."""
from __future__ import annotations

import importlib.util

import pytest

from tests.helpers_convert import ipython_shell, make_notebook
from jupyter_mlpipe import Pipeline
from jupyter_mlpipe.cli.main import main as mlpipe
from jupyter_mlpipe.store.history import History
from jupyter_mlpipe.store.records import run_record

# load -> train
CELLS = [
    "%load_ext jupyter_mlpipe",
    "alpha = 0.5",
    "import jupyter_mlpipe as mp",
    "%%step load --out data\ndata = list(range(10))\nmp.log_param('rows', len(data))",
    "%%step train --in data --out score\nscore = sum(data) * alpha\n"
    "for i in range(3):\n    mp.log_metric('loss', 1.0 / (i + 1), step=i)\n"
    "mp.log_metric('score', score)",
]


@pytest.fixture
def tracked(tmp_path):
    return make_notebook(tmp_path / "t.ipynb", CELLS, tags={1: ["parameters"]})


def test_metrics_and_params_are_recorded_shown_and_compared(tracked, capsys):
    pipe = Pipeline.from_notebook(tracked)
    first = pipe.run(jobs=2)
    second = pipe.run(jobs=2, params={"alpha": 1.0})
    assert first.ok and second.ok
    history = History(pipe.store.home)
    rec = run_record(history, first.run_id)
    assert rec["last_metrics"]["score"]["value"] == 22.5
    assert rec["last_metrics"]["loss"]["iteration"] == 2
    assert rec["logged_params"] == {"alpha": 0.5, "rows": 10}
    rec2 = run_record(history, second.run_id)
    assert rec2["reused"] == 1  # load reused; its logged param still belongs to the run
    assert rec2["logged_params"] == {"alpha": 1.0, "rows": 10}
    assert rec2["last_metrics"]["score"]["value"] == 45.0
    capsys.readouterr()
    assert mlpipe(["runs", str(tracked)]) == 0
    out = capsys.readouterr().out
    assert "params:  alpha=1, rows=10" in out and "metrics: loss=0.333333, score=45" in out
    assert "1/2" in out and "0/2" in out
    assert mlpipe(["runs", str(tracked), "--compare", first.run_id, second.run_id]) == 0
    out = capsys.readouterr().out
    assert "alpha: 0.5 -> 1" in out
    assert "score: 22.5 -> 45 (+22.5)" in out
    assert "train: changed" in out and "unchanged: load" in out
    assert "loss" not in out.split("metrics:")[1].split("steps:")[0]  # same value: no diff


def test_interactive_step_records_metrics(tracked):
    ip = ipython_shell()
    ip.run_line_magic("mlpipe", f"notebook {tracked}")
    ip.run_cell("alpha = 0.5\nimport jupyter_mlpipe as mp")
    ip.run_cell_magic("step", "load --out data",
                      "data = list(range(10))\nmp.log_param('rows', len(data))")
    ip.run_cell_magic("step", "train --in data --out score",
                      "score = sum(data) * alpha\nmp.log_metric('score', score)")
    assert ip.user_ns["score"] == 22.5
    history = History(Pipeline.from_notebook(tracked).store.home)
    runs = history.runs()
    assert [r["kind"] for r in runs] == ["interactive"]  # cells run back to back: one run
    assert runs[0]["counts"] == {"succeeded": 2}
    rec = run_record(history, runs[0]["run_id"])
    assert rec["last_metrics"]["score"]["value"] == 22.5 and rec["last_metrics"]["score"]["step"] == "train"
    from jupyter_mlpipe.interactive.in_kernel import context

    assert context == {}  # cleared after the step: later logging is not misattributed


def test_outside_a_step_log_metric_warns_and_records_nothing(tmp_path, monkeypatch):
    from jupyter_mlpipe.interactive import in_kernel as kernel
    from jupyter_mlpipe.interactive import tracking

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLPIPE_HOME", str(tmp_path / "home"))
    tracking._warned = False
    with pytest.warns(UserWarning, match="outside a step"):
        tracking.log_metric("x", 1.0)
    tracking.log_param("p", 2)  # warned once already: silent, and recorded nowhere either
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no store, no history anywhere
    home = tmp_path / ".mlpipe"
    kernel.begin(str(home), "r1", "s")
    try:
        tracking.log_metric("kept", 0.5)
        with pytest.raises(TypeError, match="must be a number"):
            tracking.log_metric("x", "high")
    finally:
        kernel.context.clear()
    history = History(home)
    assert [(m["name"], m["value"]) for m in history.logged("r1", "s")] == [("kept", 0.5)]
    history.close()


@pytest.mark.skipif(importlib.util.find_spec("mlflow") is None, reason="mlflow not installed")
def test_mirrored_to_mlflow_when_configured(tracked, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    run = Pipeline.from_notebook(tracked).run(jobs=2)
    assert run.ok, [s.error for s in run.failed]
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    exp = client.get_experiment_by_name("jupyter_mlpipe")
    mruns = {r.data.tags["mlpipe.step"]: r for r in client.search_runs([exp.experiment_id])}
    assert mruns["train"].data.metrics["score"] == 22.5
    assert mruns["load"].data.params["rows"] == "10"
    assert mruns["train"].data.tags["mlpipe.run_id"] == run.run_id
    assert mruns["train"].info.status == "FINISHED"
