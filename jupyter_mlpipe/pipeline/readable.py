"""A notebook read as far as it reads: the steps whose cell cannot be read (a syntax error, a
bad option) stubbed out and named with their message, so the panel and the notebook widget
draw one broken cell as an `invalid` node instead of hiding the rest of the graph."""
from __future__ import annotations

from pathlib import Path

from ..errors import StepDefinitionError
from ..models import PipelineSpec
from .load import pipeline_from_json
from .notebook import cell_source, read_notebook_json, salvage_magic_line, split_magic

MAX_BROKEN = 20  # past this many broken cells, the first error is the answer


def readable_spec(nb_path: Path) -> tuple[PipelineSpec, dict[str, str]]:
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
            return pipeline_from_json(nb, nb_path), broken
        except StepDefinitionError as exc:
            first = first or exc
            cell = exc.cell
            split = split_magic(cell_source(nb["cells"][cell])) if cell is not None else None
            if cell is None or split is None:  # not one cell's fault: the error is the answer
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
    raise first or StepDefinitionError(f"{nb_path} cannot be read") from None
