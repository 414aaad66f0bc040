"""Which notebook a live kernel runs: `%mlpipe notebook PATH`, else what Jupyter tells the
kernel, else (nbclient, papermill, nbconvert --execute) the notebook in the working folder
that holds the step's `%%step` cell."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import StepDefinitionError
from ..pipeline.notebook import cell_source, read_notebook_json, split_magic


def find_notebook(user_ns: dict, explicit: str | None) -> Path | None:
    """The notebook this kernel belongs to: %mlpipe notebook PATH, else what Jupyter says."""
    candidates = [explicit, user_ns.get("__session__"), os.environ.get("JPY_SESSION_NAME"),
                  user_ns.get("__vsc_ipynb_file__")]
    for c in candidates:
        if not c:
            continue
        p = Path(c)
        for cand in (p, Path.cwd() / p.name, Path.cwd() / p):
            if cand.suffix == ".ipynb" and cand.is_file():
                return cand.resolve()
    return None


@dataclass(frozen=True, slots=True)
class _StepCells:
    """The `%%step` cells of one notebook file as last read: name -> [(line, body)]."""

    signature: tuple[int, int]
    cells: dict[str, list[tuple[str, str]]]
    papermill_input: str | None  # a papermill output notebook names its input


_read: dict[Path, _StepCells] = {}


def _step_cells(path: Path) -> _StepCells | None:
    try:
        st = path.stat()
    except OSError:
        return None
    signature = (st.st_mtime_ns, st.st_size)
    known = _read.get(path)
    if known is not None and known.signature == signature:
        return known
    try:
        nb = read_notebook_json(path)
    except StepDefinitionError:
        return None
    cells: dict[str, list[tuple[str, str]]] = {}
    for cell in nb["cells"]:
        split = split_magic(cell_source(cell)) if cell.get("cell_type") == "code" else None
        if split and split[0].split():
            cells.setdefault(split[0].split()[0], []).append((split[0], split[1].strip()))
    source = ((nb.get("metadata") or {}).get("papermill") or {}).get("input_path")
    _read[path] = _StepCells(signature, cells, source)
    return _read[path]


def notebook_holding(name: str, line: str, body: str,
                     folder: Path) -> tuple[Path | None, str]:
    """The one .ipynb in `folder` with a `%%step NAME` cell (an exact copy of this one
    preferred), or None and the message saying why not."""
    held: dict[Path, _StepCells] = {}
    for path in sorted(folder.glob("*.ipynb")):
        cells = _step_cells(path.resolve())
        if cells is not None and name in cells.cells:
            held[path.resolve()] = cells
    held = {p: c for p, c in held.items()  # papermill's output copy of another candidate
            if not (c.papermill_input and (folder / c.papermill_input).resolve() in held)}
    exact = [p for p, c in held.items() if (line.strip(), body.strip()) in c.cells[name]]
    found = exact or list(held)
    if len(found) == 1:
        return found[0], ""
    fix = "Run `%mlpipe notebook PATH` once."
    if not found:
        return None, (f"jupyter_mlpipe: cannot tell which notebook this kernel runs (no "
                      f".ipynb in {folder} holds step '{name}'), so it runs without the cache. "
                      + fix)
    names = ", ".join(p.name for p in found)
    return None, (f"jupyter_mlpipe: step '{name}' is in several notebooks here ({names}), so "
                  f"it runs without the cache. " + fix)
