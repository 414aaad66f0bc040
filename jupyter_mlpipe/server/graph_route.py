"""GET /mlpipe/api/graph's JSON: the steps that cannot be read (a syntax error, a bad option)
drawn as `invalid` with their message, so one broken cell does not hide the rest of the graph."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..pipeline import graph_view
from ..errors import StepDefinitionError
from ..pipeline.load import pipeline_from_json
from ..pipeline.notebook import cell_source, read_notebook_json, split_magic
from ..api import Pipeline
from ..store.findings import read_findings

MAX_BROKEN = 20  # past this many broken cells, the first error is the answer (400)


def tolerant_pipeline(nb_path: Path) -> tuple[Pipeline, dict[str, str]]:
    """The pipeline of the notebook with each unreadable step cell stubbed out, and
    step name -> its message. A broken step keeps its `%%step` line (so its declared edges
    stay) when only its body is bad, else it is left out of the graph. Errors that no single
    cell causes (a cycle, a bad parameters cell) raise StepDefinitionError as before."""
    nb = read_notebook_json(nb_path)
    first: StepDefinitionError | None = None
    broken: dict[str, str] = {}
    stubbed: set[int] = set()
    for _ in range(MAX_BROKEN):
        try:
            return Pipeline(pipeline_from_json(nb, nb_path)), broken
        except StepDefinitionError as exc:
            first = first or exc
            cell = exc.cell
            split = split_magic(cell_source(nb["cells"][cell])) if cell is not None else None
            if split is None:
                raise first from None
            broken.setdefault(exc.step or f"cell{cell + 1}", str(exc))
            if cell in stubbed or exc.step is None:  # its %%step line is bad too: leave it out
                nb["cells"][cell] = {"cell_type": "markdown", "source": "", "metadata": {}}
            else:
                nb["cells"][cell]["source"] = f"%%step {split[0]}\npass\n"
            stubbed.add(cell)
    raise first from None


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
