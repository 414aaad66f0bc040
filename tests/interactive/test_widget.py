"""`pipe.widget()`: the panel's graph renderer as an anywidget, whose node colours follow a real
run; the static picture (`Pipeline` in a notebook, `mlpipe graph -o`) through Graphviz.

# load -> left, right -> join   (tests/notebooks/panel_demo.ipynb)
"""
from __future__ import annotations

import shutil

import pytest

from jupyter_mlpipe import Pipeline
from jupyter_mlpipe.interactive.widget import STATIC, PipelineWidget
from tests.helpers import NOTEBOOKS

STEPS = ["load", "left", "right", "join"]

pytestmark = pytest.mark.skipif(
    not (STATIC / "widget.js").is_file(),
    reason="the widget bundle is not built: cd labextension && jlpm build (needs Node)")


@pytest.fixture
def pipe(tmp_path, monkeypatch):
    monkeypatch.delenv("MLPIPE_HOME", raising=False)
    shutil.copy(NOTEBOOKS / "panel_demo.ipynb", tmp_path / "demo.ipynb")
    return Pipeline.from_notebook(tmp_path / "demo.ipynb")


def test_the_widget_ships_the_panels_renderer(pipe):
    w = pipe.widget()
    assert isinstance(w, PipelineWidget)
    assert "export" in w._esm and "dagre" in w._esm  # the bundled graph.ts, not Python layout
    assert "[data-status='stale']" in w._css
    assert [s["name"] for s in w.graph["steps"]] == STEPS
    assert {(e["source"], e["target"]) for e in w.graph["edges"]} == {
        ("load", "left"), ("load", "right"), ("left", "join"), ("right", "join")}


def test_widget_colours_follow_a_run(pipe):
    w = pipe.widget()
    assert w.states == dict.fromkeys(STEPS, "stale")
    seen: list[dict[str, str]] = []
    w.observe(lambda change: seen.append(dict(change["new"])), names="states")
    result = w.run(jobs=2)
    assert result.ok
    assert any(s.get("load") == "running" for s in seen)  # shown live, not only at the end
    assert any(s.get("join") == "pending" and s.get("load") == "succeeded" for s in seen)
    assert w.states == dict.fromkeys(STEPS, "succeeded")
    assert f"run {result.run_id} succeeded" in w.caption
    assert pipe.widget().states == dict.fromkeys(STEPS, "cached")


def test_listener_follows_pipe_run(pipe):
    w = pipe.widget()
    pipe.run(jobs=1, listener=w.listener)
    assert w.states == dict.fromkeys(STEPS, "succeeded")
    assert "4/4 steps done" in w.caption


@pytest.mark.skipif(not shutil.which("dot"), reason="needs Graphviz: apt-get install graphviz")
def test_a_pipeline_shows_as_an_svg_with_its_statuses(pipe):
    bundle = pipe._repr_mimebundle_()
    svg = bundle["image/svg+xml"]
    assert svg.lstrip().startswith("<?xml") or "<svg" in svg
    assert "load" in svg and "#ffe8a3" in svg  # stale: the panel's yellow
    pipe.run(jobs=1)
    assert "#b7e4c7" in Pipeline.from_notebook(pipe.path)._repr_mimebundle_()["image/svg+xml"]


def test_without_graphviz_the_picture_says_how_to_install_it(pipe, monkeypatch, tmp_path):
    from jupyter_mlpipe.pipeline import graph_view
    from jupyter_mlpipe.errors import MlpipeError

    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` on it
    with pytest.raises(MlpipeError, match="apt-get install graphviz"):
        graph_view.write(pipe.to_graphviz(), tmp_path / "g.svg")
    graph_view.write(pipe.to_graphviz(), tmp_path / "g.dot")  # DOT needs no Graphviz
    assert "load -> left" in (tmp_path / "g.dot").read_text()
    bundle = pipe._repr_mimebundle_()
    assert "image/svg+xml" not in bundle and "apt-get install graphviz" in bundle["text/plain"]
