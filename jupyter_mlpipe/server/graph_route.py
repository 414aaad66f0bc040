"""GET /mlpipe/api/graph's JSON: the steps that cannot be read (a syntax error, a bad option)
drawn as `invalid` with their message, so one broken cell does not hide the rest of the graph."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..pipeline import graph_view
from ..errors import StepDefinitionError
from ..pipeline.load import pipeline_from_json
from ..pipeline.notebook import cell_source, read_notebook_json, salvage_magic_line, split_magic
from ..api import Pipeline
from ..store.findings import read_findings

MAX_BROKEN = 20  # past this many broken cells, the first error is the answer (400)


def tolerant_pipeline(nb_path: Path) -> tuple[Pipeline, dict[str, str]]:
    """The pipeline of the notebook with each unreadable step cell stubbed out, and
    step name -> its message. A broken step keeps what of its `%%step` line reads (its name
    and declared edges; a mistyped option is dropped) and its body, or `pass` when the body
    does not read either; a cell without a readable step name is left out of the graph.
    Errors that no single cell causes (a cycle, a bad parameters cell) raise
    StepDefinitionError as before."""
    nb = read_notebook_json(nb_path)
    first: StepDefinitionError | None = None
    broken: dict[str, str] = {}
    tries: dict[int, int] = {}  # cell -> how many stubs it has had
    for _ in range(MAX_BROKEN):
        try:
            return Pipeline(pipeline_from_json(nb, nb_path)), broken
        except StepDefinitionError as exc:
            first = first or exc
            cell = exc.cell
            split = split_magic(cell_source(nb["cells"][cell])) if cell is not None else None
            if split is None:
                raise first from None
            line, body = split
            n = tries[cell] = tries.get(cell, 0) + 1
            if n == 1:  # say why once; a bad option: keep the rest of the line and the body
                salvaged = salvage_magic_line(line) if exc.step is None else None
                name = exc.step or (salvaged[0] if salvaged else f"cell{cell + 1}")
                broken.setdefault(name, str(exc))
                if exc.step is None:
                    line, body = (salvaged[1], body) if salvaged else ("", "")
                else:
                    body = "pass\n"
            elif n == 2 and body != "pass\n":  # its body does not read either
                body = "pass\n"
            else:
                line = ""
            if not line:
                nb["cells"][cell] = {"cell_type": "markdown", "source": "", "metadata": {}}
            else:
                nb["cells"][cell]["source"] = f"%%step {line}\n{body}"
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
