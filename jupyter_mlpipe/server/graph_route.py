"""GET /mlpipe/api/graph's JSON: the steps that cannot be read (a syntax error, a bad option)
drawn as `invalid` with their message, so one broken cell does not hide the rest of the graph."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..pipeline import graph_view
from ..pipeline.readable import readable_spec
from ..api import Pipeline
from ..store.findings import read_findings


def tolerant_pipeline(nb_path: Path) -> tuple[Pipeline, dict[str, str]]:
    """The Pipeline of the notebook as far as it reads, and broken step -> its message."""
    spec, broken = readable_spec(nb_path)
    return Pipeline(spec), broken


def graph_json(nb: Path, rel: str) -> dict[str, Any]:
    """The graph route's answer for the notebook at `nb` (served as `rel`)."""
    pipe, broken = tolerant_pipeline(nb)
    data = graph_view.graph_json(pipe, broken)
    found = read_findings(pipe.store.home, nb.name)
    for step in data["steps"]:  # what `mlpipe verify` found for the result stored now
        f = found.get(step["name"])
        step["verify"] = ({"verdict": f.get("verdict"), "differing": f.get("differing", [])}
                          if f and step["key"] and f.get("key") == step["key"] else None)
    return {"path": rel, **data}
