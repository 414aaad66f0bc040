"""Step 1 of `mlpipe convert`: a plain notebook's code cells as Python text, and their
grouping into candidate steps by cell tags (Kale style), markdown headings, or one per cell."""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from ..pipeline.analysis import to_python
from ..errors import StepDefinitionError, cell_label
from ..pipeline.notebook import cell_source, split_magic
from ..pipeline.parameters import parse_parameters

_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_DROPPED_CELL_MAGICS = ("%%time", "%%timeit", "%%capture")


@dataclass(frozen=True, slots=True)
class Note:
    """One thing the converter wants the user to know about a cell."""

    cell: int | None
    kind: str  # unsafe | merged | skipped | prelude | unresolved | files | tags
    message: str

    def __str__(self) -> str:
        return (f"{cell_label(self.cell)}: " if self.cell is not None else "") + self.message


@dataclass
class Piece:
    cell: int
    body: str  # code left after hoisting to the prelude
    prelude: str  # hoisted statements, in their original text
    tags: set[str] = field(default_factory=set)


@dataclass
class Unit:
    pieces: list[Piece]
    name: str | None = None
    prev: list[str] = field(default_factory=list)
    merged_unsafe: bool = False

    @property
    def cells(self) -> list[int]:
        return [p.cell for p in self.pieces]

    @property
    def body(self) -> str:
        return "\n\n".join(p.body.strip("\n") for p in self.pieces if p.body.strip())


@dataclass(frozen=True, slots=True)
class Cells:
    """The code cells worth converting, by index, with what the reading noted."""

    texts: dict[int, str]  # Python text of each code cell (magics kept where possible)
    tags: dict[int, set[str]]
    headings: dict[int, str]  # markdown cell index -> heading text
    params: set[str]  # names the parameters cell binds
    notes: list[Note]


def read_cells(nb: dict) -> Cells:
    """Code cells as analysable text; refuses a notebook that already has %%step cells."""
    notes: list[Note] = []
    params: set[str] = set()
    texts: dict[int, str] = {}
    tags_of: dict[int, set[str]] = {}
    headings: dict[int, str] = {}
    for i, cell in enumerate(nb["cells"]):
        src = cell_source(cell)
        tags = set(cell.get("metadata", {}).get("tags", []))
        if cell.get("cell_type") == "markdown":
            m = _HEADING.search(src)
            if m:
                headings[i] = m.group(1)
            continue
        if cell.get("cell_type") != "code" or not src.strip():
            continue
        if split_magic(src) is not None:
            raise StepDefinitionError("this notebook already has %%step cells; convert takes a "
                                      "plain notebook", cell=i)
        if src.strip().startswith("%load_ext") and "jupyter_mlpipe" in src:
            continue
        if tags & {"parameters", "pipeline-parameters"}:
            params.update(parse_parameters(to_python(src)).values)
            continue
        try:
            texts[i] = _python_text(src, i, notes)
            ast.parse(to_python(texts[i]))
        except SyntaxError as exc:
            raise StepDefinitionError(f"not valid Python, so it cannot be analysed: {exc}",
                                      cell=i) from None
        tags_of[i] = tags
    return Cells(texts, tags_of, headings, params, notes)


def _python_text(src: str, cell: int, notes: list[Note]) -> str:
    """Cell text as a step body can hold it: magics kept where lines map one to one."""
    stripped = src.lstrip()
    if stripped.startswith("%%"):
        first, _, rest = stripped.partition("\n")
        if first.split()[0] in _DROPPED_CELL_MAGICS:
            notes.append(Note(cell, "prelude", f"dropped '{first.split()[0]}' (timing only)"))
            return rest
        return to_python(src)  # one get_ipython().run_cell_magic(...) call
    py = to_python(src)
    same_lines = py.rstrip("\n").count("\n") == src.rstrip("\n").count("\n")
    return src if same_lines else py


def slug(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_]+", "_", text.strip().lower()).strip("_")
    s = re.sub(r"^\d+_?", "", s)[:30].strip("_")  # "1. Load data" -> load_data
    return s or "step"


def step_tag(tags: set[str]) -> str | None:
    for t in tags:
        for prefix in ("step:", "block:"):
            if t.startswith(prefix) and t[len(prefix):].strip():
                return t[len(prefix):].strip()
    return None


def group_cells(pieces: list[Piece], headings: dict[int, str], tag_mode: bool,
           notes: list[Note]) -> tuple[list[Unit], str]:
    if tag_mode:
        units: list[Unit] = []
        for p in pieces:
            name = step_tag(p.tags)
            prev = [t[5:] for t in p.tags if t.startswith("prev:")]
            if name is not None and (not units or units[-1].name != name):
                if any(u.name == name for u in units):
                    notes.append(Note(p.cell, "tags", f"step '{name}' appears again after "
                                      "other steps; this part becomes its own step"))
                    name = f"{name}_{sum(1 for u in units if (u.name or '').startswith(name)) + 1}"
                units.append(Unit([p], name))
            elif units:
                units[-1].pieces.append(p)
            else:
                units.append(Unit([p]))
            units[-1].prev += prev
        return units, "tags"
    if headings:
        units, current, pending = [], None, None
        events = sorted([(c, None) for c in headings] + [(p.cell, p) for p in pieces],
                        key=lambda e: e[0])
        for cell, p in events:
            if p is None:  # a markdown heading: the next code starts a step named after it
                pending = headings[cell]
                continue
            if current is None or pending is not None:
                current = Unit([p], slug(pending) if pending else None)
                units.append(current)
                pending = None
            else:
                current.pieces.append(p)
        if len(units) > 1:
            return units, "headings"
    return [Unit([p]) for p in pieces], "cells"
