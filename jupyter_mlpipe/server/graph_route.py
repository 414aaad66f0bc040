"""GET /mlpipe/api/graph's JSON: the DAG with each step's status, will/may re-run verdict, and
the steps that cannot be read (a syntax error, a bad option) drawn as `invalid` with their
message, so one broken cell does not hide the rest of the graph."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import StepDefinitionError
from ..modules import pipeline_from_json
from ..notebook import cell_source, read_notebook_json, split_magic
from ..pipeline import Pipeline

MAX_BROKEN = 20  # past this many broken cells, the first error is the answer (400)


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=repr))


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
    pipe, broken = tolerant_pipeline(nb)
    g = pipe.graph
    status = {s.name: s for s in pipe.status()}
    steps = []
    for spec in pipe.steps:
        st = status[spec.name]
        error = broken.get(spec.name)
        steps.append({"name": spec.name, "cell": spec.cell, "cell_id": spec.cell_id,
                      "inputs": list(spec.inputs), "outputs": list(spec.outputs),
                      "reads": list(spec.reads), "writes": list(spec.writes),
                      "target": spec.target, "upstream": g.upstream[spec.name],
                      "status": "invalid" if error else str(st.state),
                      "reasons": [error] if error else list(st.reasons),
                      "certain": True if error else st.certain,
                      "verdict": "invalid" if error else st.verdict, "error": error,
                      "computed_at": st.computed_at, "duration": st.duration})
    edges = [{"source": u, "target": n, "label": var}
             for n in g.names for var, u in {**g.producer[n], **g.file_producer[n]}.items()]
    return {"path": rel, "steps": steps, "edges": edges, "order": g.order,
            "parameters": _json_safe(pipe.parameters), "warnings": list(pipe.spec.warnings),
            "errors": [broken[n] for n in broken if n not in status] + [
                broken[n] for n in broken if n in status]}
