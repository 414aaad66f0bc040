"""`pipe.widget()`: an SVG graph whose node colours follow a real run.

# load -> left, right -> join   (tests/notebooks/panel_demo.ipynb)
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from jupyter_mlpipe import Pipeline
from jupyter_mlpipe.widget import PipelineWidget, layout

NOTEBOOKS = Path(__file__).parent / "notebooks"


@pytest.fixture
def pipe(tmp_path, monkeypatch):
    monkeypatch.delenv("MLPIPE_HOME", raising=False)
    shutil.copy(NOTEBOOKS / "panel_demo.ipynb", tmp_path / "demo.ipynb")
    return Pipeline.from_notebook(tmp_path / "demo.ipynb")


def states(svg: str) -> dict[str, str]:
    return dict(re.findall(r'data-step="([^"]+)" data-status="([^"]+)"', svg))


def test_layout_puts_upstream_steps_left_of_their_consumers(pipe):
    pos = layout(pipe.graph)
    assert pos["load"][0] < pos["left"][0] == pos["right"][0] < pos["join"][0]
    assert pos["left"][1] != pos["right"][1]


def test_widget_colours_follow_a_run(pipe):
    w = pipe.widget()
    assert isinstance(w, PipelineWidget)
    assert states(w.value) == dict.fromkeys(["load", "left", "right", "join"], "stale")
    seen: list[dict[str, str]] = []
    w.observe(lambda change: seen.append(states(change["new"])), names="value")
    result = w.run(jobs=2)
    assert result.ok
    assert any(s.get("load") == "running" for s in seen)  # shown live, not only at the end
    assert any(s.get("join") == "pending" and s.get("load") == "succeeded" for s in seen)
    assert states(w.value) == dict.fromkeys(["load", "left", "right", "join"], "succeeded")
    assert f"run {result.run_id} succeeded" in w.value
    assert states(pipe.widget().value) == dict.fromkeys(["load", "left", "right", "join"],
                                                        "cached")
