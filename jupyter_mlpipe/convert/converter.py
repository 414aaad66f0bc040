"""Plain notebook -> `%%step` notebook, so existing analyses become cached pipelines.

Steps come from cell tags, markdown headings or the dataflow between cells, with explicit
--in/--out; what cannot be converted safely is reported per cell and merged into one step
rather than guessed."""
from __future__ import annotations

import ast
import copy
import json
import shlex
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

from ..pipeline.analysis import BUILTINS, name_use, to_python
from .cells import Cells, Note, Piece, Unit, group_cells, read_cells, slug, step_tag
from .dataflow import CallEffects, Facts, analyse, call_effects
from ..errors import cell_label
from .hoist import Hoister
from ..models import PipelineSpec
from ..pipeline.load import pipeline_from_json
from ..pipeline.notebook import STEP_NAME, cell_source, read_notebook_json

LOAD_EXT = "%load_ext jupyter_mlpipe"


@dataclass
class ConversionResult:
    notebook: dict
    spec: PipelineSpec
    notes: list[Note]
    mode: str  # how steps were found: "tags", "headings" or "cells"

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.notebook, indent=1, ensure_ascii=False) + "\n",
                        encoding="utf-8")
        return path

    def describe(self) -> str:
        lines = [f"{len(self.spec.steps)} steps (split by {self.mode}):"]
        for s in self.spec.steps:
            io = f"in: {', '.join(s.inputs) or '-'}; out: {', '.join(s.outputs) or '-'}"
            lines.append(f"  {s.name:<20} {io}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def convert_notebook(path: str | Path, output: str | Path | None = None) -> ConversionResult:
    """Convert the notebook at `path`; the spec's path is `output` (or `path`), whose folder
    is the working directory and store home of the steps."""
    path = Path(path).resolve()
    return convert_json(read_notebook_json(path), Path(output).resolve() if output else path)


# ---- step 2: dataflow between units ---------------------------------------------------------
@dataclass
class _Flow:
    facts: list[Facts]
    inputs: list[list[str]]
    needed: list[list[str]]  # outputs some later unit reads
    terminal: list[list[str]]  # last value of names nobody reads later
    unresolved: list[list[str]]


def _prelude_uses(prelude_src: list[str]) -> dict[str, set[str]]:
    """name -> free names of the prelude statement defining it (what a call may read)."""
    uses: dict[str, set[str]] = {}
    for src in prelude_src:
        for stmt in ast.parse(to_python(src)).body:
            use = name_use(ast.Module(body=[stmt], type_ignores=[]))
            for b in use.binds:
                uses.setdefault(b, set()).update(use.reads)
    return uses


def _flow(units: list[Unit], base: set[str], prelude_uses: dict[str, set[str]],
          effects: dict[str, CallEffects]) -> _Flow:
    facts = [analyse(u.body, cell_label(u.cells[0]), effects) for u in units]
    n = len(units)
    inputs: list[list[str]] = [[] for _ in range(n)]
    needed: list[list[str]] = [[] for _ in range(n)]
    unresolved: list[list[str]] = [[] for _ in range(n)]
    last: dict[str, int] = {}
    for i, f in enumerate(facts):
        reads = list(f.reads)
        todo, seen = [r for r in f.reads if r in prelude_uses], set()
        while todo:  # prelude functions read globals when called: those are inputs too
            r = todo.pop()
            if r in seen:
                continue
            seen.add(r)
            for g in sorted(prelude_uses.get(r, ())):
                if g in prelude_uses:
                    todo.append(g)
                elif g not in reads and g not in f.binds:  # bound here: seen at call time
                    reads.append(g)
        # a builtin name an earlier cell rebinds (`sum = 0`): conservatively an input
        reads += [v for v in sorted(f.builtin_loads) if v in last and v not in reads]
        if f.unsafe:  # exec/globals(): may read anything defined so far
            reads += [v for v in last if v not in reads]
        for v in reads:
            if v in base or (v in BUILTINS and v not in last):
                continue
            j = last.get(v)
            if j is None:
                unresolved[i].append(v)
                continue
            if v not in inputs[i]:
                inputs[i].append(v)
            if v not in needed[j]:
                needed[j].append(v)
        for v in f.binds + f.mutates:
            last[v] = i
        for v in f.deletes:
            last.pop(v, None)
    terminal: list[list[str]] = [[] for _ in range(n)]
    for v, i in last.items():
        f = facts[i]
        if (v not in needed[i] and not v.startswith("_") and v not in f.not_outputs
                and v not in base):
            terminal[i].append(v)
    return _Flow(facts, inputs, needed, terminal, unresolved)


def _numbers(cells: list[int]) -> str:
    """Cell indexes as JupyterLab numbers them (from 1)."""
    return ", ".join(str(c + 1) for c in cells)


def _merge(units: list[Unit], a: int, b: int) -> None:
    merged = Unit([p for u in units[a:b + 1] for p in u.pieces], units[a].name,
                   [x for u in units[a:b + 1] for x in u.prev],
                   any(u.merged_unsafe for u in units[a:b + 1]))
    units[a:b + 1] = [merged]


def _next_merge(units: list[Unit], flow: _Flow, mode: str,
                notes: list[Note]) -> Unit | None:
    """Apply the first merge rule that fires; return None when none does."""
    for i, f in enumerate(flow.facts):
        if f.unsafe and not units[i].merged_unsafe and i < len(units) - 1:
            for reason in f.unsafe:
                notes.append(Note(units[i].cells[0], "unsafe",
                                  f"cannot be converted safely: {reason}"))
            notes.append(Note(units[i].cells[0], "merged",
                              f"cells {_numbers(units[i].cells + [c for u in units[i + 1:] for c in u.cells])} "
                              "are merged into one step, since what the unsafe cell defines "
                              "cannot be known"))
            _merge(units, i, len(units) - 1)
            units[i].merged_unsafe = True
            return units[i]
        if f.unsafe and not units[i].merged_unsafe:
            for reason in f.unsafe:
                notes.append(Note(units[i].cells[0], "unsafe",
                                  f"cannot be converted safely: {reason}; it stays the last step"))
            units[i].merged_unsafe = True
    for i, f in enumerate(flow.facts):
        for fn in f.global_mutator_calls:
            j = max((k for k in range(i) if fn in flow.facts[k].binds), default=None)
            if j is not None:
                cells = [c for u in units[j:i + 1] for c in u.cells]
                notes.append(Note(units[i].cells[0], "merged", f"calls '{fn}', which "
                                  f"{cell_label(units[j].cells[0])} defines and which changes global "
                                  "variables in place: cells " + ", ".join(map(str, cells))
                                  + " are merged into one step"))
                _merge(units, j, i)
                return units[j]
    mutators: dict[str, list[int]] = {}
    for i, f in enumerate(flow.facts):
        for v in f.mutates:
            mutators.setdefault(v, []).append(i)
    for v, idx in mutators.items():
        if len(idx) > 1:
            a, b = idx[0], idx[-1]
            cells = [c for u in units[a:b + 1] for c in u.cells]
            for i in idx[1:]:
                notes.append(Note(units[i].cells[0], "unsafe",
                                  f"mutates '{v}' in place, which {cell_label(units[a].cells[0])} "
                                  "also mutates: cells " + _numbers(cells)
                                  + " are merged into one step"))
            _merge(units, a, b)
            return units[a]
    if mode == "cells":
        for i in range(len(units)):
            if (not flow.needed[i] and not flow.terminal[i] and len(units) > 1
                    and units[i].name is None):
                target = i - 1 if i > 0 else 0
                _merge(units, target, target + 1)
                return units[target]
    return None


# ---- step 3: write the notebook ------------------------------------------------------------
def _new_cell(kind: str, source: str, nb: dict, tags: list[str] | None = None) -> dict:
    cell: dict = {"cell_type": kind, "metadata": {}, "source": source}
    if tags:
        cell["metadata"]["tags"] = tags
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    if (nb.get("nbformat", 4), nb.get("nbformat_minor", 0)) >= (4, 5):
        cell["id"] = uuid.uuid4().hex[:8]
    return cell


def _names(units: list[Unit], flow: _Flow) -> list[str]:
    used: set[str] = set()
    names = []
    for i, u in enumerate(units):
        outs = set(flow.needed[i] + flow.terminal[i])
        base = u.name or next((b for b in flow.facts[i].binds + flow.facts[i].mutates if b in outs), f"cell{u.cells[0]}")
        base = base if STEP_NAME.match(base) else slug(base)
        name, k = base, 2
        while name in used:
            name, k = f"{base}_{k}", k + 1
        used.add(name)
        names.append(name)
    return names


def _magic(name: str, inputs: list[str], outputs: list[str], reads: list[str],
           writes: list[str]) -> str:
    parts = ["%%step", name]
    for flag, vals in (("--in", inputs), ("--out", outputs), ("--reads", reads),
                       ("--writes", writes)):
        if vals:
            parts += [flag] + [shlex.quote(v) for v in vals]
    return " ".join(parts)


def _hoist(cells: Cells, tag_mode: bool, effects: dict[str, CallEffects]
           ) -> tuple[list[Piece], dict[int, str]]:
    """Each cell's step body and prelude part; cells left with prelude only, by index."""
    hoister = Hoister(cells.texts, cells.params, effects)
    pieces: list[Piece] = []
    prelude_only: dict[int, str] = {}
    for i, text in cells.texts.items():
        tags = cells.tags[i]
        if tag_mode and "skip" in tags:
            cells.notes.append(Note(i, "skipped", "left out (tag 'skip')"))
            continue
        everything = tag_mode and bool(tags & {"imports", "functions"})
        body, prelude = hoister.split(i, text, everything)
        if body:
            pieces.append(Piece(i, body, prelude, tags))
        elif prelude:
            prelude_only[i] = prelude
    return pieces, prelude_only


def _settle(units: list[Unit], prelude_src: list[str], params: set[str], mode: str,
            effects: dict[str, CallEffects], notes: list[Note]) -> _Flow:
    """Merge units until no merge rule fires; the dataflow between the final units."""
    base = set(params) | {n for src in prelude_src for n in name_use(to_python(src)).binds}
    uses = _prelude_uses(prelude_src)
    while True:
        flow = _flow(units, base, uses, effects)
        if _next_merge(units, flow, mode, notes) is None:
            return flow


def _report(units: list[Unit], flow: _Flow, names: list[str], notes: list[Note]) -> None:
    """Notes on seeds, names no cell defines, and `prev:` tags the data does not follow."""
    for i, u in enumerate(units):
        if flow.facts[i].seeds:
            notes.append(Note(u.cells[0], "unsafe", "seeds a global random generator, which "
                              "only this step's kernel sees: later steps start unseeded. Pass "
                              "seeds or random_state explicitly where the results must match"))
        for v in flow.unresolved[i]:
            notes.append(Note(u.cells[0], "unresolved",
                              f"reads '{v}', which no earlier cell defines (left as is)"))
        ups = {names[j] for j in range(i) if set(flow.needed[j]) & set(flow.inputs[i])}
        for p in dict.fromkeys(u.prev):
            if p not in ups:
                notes.append(Note(u.cells[0], "tags", f"tag 'prev:{p}' ignored: no variable "
                                  f"flows from '{p}' to '{names[i]}'; steps follow their data"))


def _declared_files(f: Facts, ci: int, written: set[str], folder: Path,
                    notes: list[Note]) -> tuple[list[str], list[str]]:
    """(--reads, --writes) of a step: relative literal paths; `written` gains its writes."""
    local = [p for p in f.files_read + f.files_written
             if not (Path(p).is_absolute() or p.startswith("~"))]
    for p in dict.fromkeys(f.files_read + f.files_written):
        if p not in local:
            notes.append(Note(ci, "files", f"'{p}' is outside the notebook's folder; "
                              "add it to --reads/--writes by hand if the step depends on it"))
    rel = [p for p in f.files_written if p in local]
    reads = []
    for p in f.files_read:
        if p not in local or p in rel:
            continue
        if p in written or (folder / p).exists():
            reads.append(p)
        else:
            notes.append(Note(ci, "files", f"reads '{p}', which does not exist now and "
                              "no earlier cell writes: not declared as --reads"))
    written.update(rel)
    return reads, rel


def _step_cells(u: Unit, i: int, flow: _Flow, name: str, written: set[str], folder: Path,
                nb: dict, notes: list[Note]) -> list[dict]:
    """The unit's hoisted prelude (if any) and its %%step cell."""
    cells = []
    hoisted = "\n\n".join(p.prelude for p in u.pieces if p.prelude)
    if hoisted:
        cells.append(_new_cell("code", hoisted, nb))
    f = flow.facts[i]
    reads, writes = _declared_files(f, u.cells[0], written, folder, notes)
    outs = set(flow.needed[i] + flow.terminal[i])
    order = [b for b in f.binds + f.mutates if b in outs]
    magic = _magic(name, flow.inputs[i], list(dict.fromkeys(order)), reads, writes)
    cells.append(_new_cell("code", magic + "\n" + u.body + "\n", nb))
    return cells


def _parameters_cell(cell: dict) -> dict:
    c = copy.deepcopy(cell)
    c["metadata"]["tags"] = sorted(set(c["metadata"].get("tags", [])) | {"parameters"})
    c["outputs"], c["execution_count"] = [], None
    return c


def _write(nb: dict, units: list[Unit], flow: _Flow, names: list[str],
           prelude_only: dict[int, str], texts: dict[int, str], path: Path,
           notes: list[Note]) -> dict:
    """The converted notebook: markdown as is, prelude cells, %%step cells, parameters."""
    out = copy.deepcopy({k: v for k, v in nb.items() if k != "cells"})
    cells: list[dict] = [_new_cell("code", LOAD_EXT, nb)]
    first_of = {u.cells[0]: i for i, u in enumerate(units)}
    written: set[str] = set()  # files that earlier steps write
    members = {c for u in units for c in u.cells}
    for ci, cell in enumerate(nb["cells"]):
        if cell.get("cell_type") != "code":
            cells.append(copy.deepcopy(cell))
        elif ci in prelude_only:
            cells.append(_new_cell("code", prelude_only[ci], nb))
        elif ci in first_of:
            i = first_of[ci]
            cells += _step_cells(units[i], i, flow, names[i], written, path.parent, nb, notes)
        elif (ci in members or ci not in texts) and cell_source(cell).strip() and set(
                cell.get("metadata", {}).get("tags", [])) & {"parameters", "pipeline-parameters"}:
            cells.append(_parameters_cell(cell))
    out["cells"] = cells
    return out


def convert_json(nb: dict, path: Path) -> ConversionResult:
    """Convert notebook JSON; `path` is where the converted notebook is meant to live."""
    cells = read_cells(nb)
    notes = cells.notes
    tag_mode = any(step_tag(t) or t & {"imports", "functions", "skip"}
                   for t in cells.tags.values())
    effects = call_effects(list(cells.texts.values()))
    pieces, prelude_only = _hoist(cells, tag_mode, effects)
    units, mode = group_cells(pieces, cells.headings, tag_mode, notes)
    prelude_src = list(prelude_only.values()) + [p.prelude for p in pieces if p.prelude]
    flow = _settle(units, prelude_src, cells.params, mode, effects, notes)
    names = _names(units, flow)
    _report(units, flow, names, notes)
    out = _write(nb, units, flow, names, prelude_only, cells.texts, path, notes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = pipeline_from_json(out, path)
    for w in spec.warnings:
        notes.append(Note(None, "unresolved", w))
    return ConversionResult(out, spec, notes, mode)
