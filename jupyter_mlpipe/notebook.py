"""Read a notebook into a pipeline: `%%step` cells, prelude statements, the parameters cell.

Pure and fast: plain `json` instead of nbformat (whose jsonschema import costs about a
second), no kernels, no IPython unless a cell uses IPython syntax.
"""
from __future__ import annotations

import argparse
import ast
import json
import re
import shlex
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .analysis import name_use, normalize, parse
from .errors import MissingInputError, StepDefinitionError
from .models import PreludeStatement, StepSpec

STEP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
MAGIC = "%%step"

# One table of %%step options: the IPython magic and the batch parser are both built from it.
STEP_OPTIONS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("name",), dict(help="step name, [A-Za-z_][A-Za-z0-9_-]*, unique in the notebook")),
    (("-i", "--in"), dict(dest="inputs", nargs="+", default=None, metavar="VAR",
                          help="variables the step reads that other steps produce")),
    (("-o", "--out"), dict(dest="outputs", nargs="+", default=None, metavar="VAR",
                           help="variables the step produces")),
    (("--reads",), dict(nargs="+", default=[], metavar="PATH",
                        help="files or folders the step reads (content-hashed)")),
    (("--writes",), dict(nargs="+", default=[], metavar="PATH",
                         help="files or folders the step writes (stored and restored)")),
    (("--target",), dict(default="local", metavar="NAME", help="compute target (mlpipe.toml)")),
    (("--no-reuse",), dict(dest="no_reuse", action="store_true",
                           help="always execute, never reuse a stored result")),
    (("--module",), dict(default=None, metavar="NAME[@VERSION]",
                         help="use a published step from the module registry")),
]
USAGE = ("%%step NAME [-i VAR ...] [-o VAR ...] [--reads PATH ...] [--writes PATH ...] "
         "[--target NAME] [--no-reuse] [--module NAME[@VERSION]]")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse would print and sys.exit
        raise ValueError(message)


def _build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="%%step", add_help=False, allow_abbrev=False)
    for flags, kwargs in STEP_OPTIONS:
        p.add_argument(*flags, **kwargs)
    return p


_PARSER = _build_parser()


def parse_magic_line(line: str, cell: int | None = None) -> argparse.Namespace:
    """Parse the arguments of a `%%step` line (without the `%%step` itself)."""
    try:
        args = _PARSER.parse_args(shlex.split(line))
    except ValueError as exc:
        raise StepDefinitionError(
            f"bad %%step line '{MAGIC} {line.strip()}': {exc}. Usage: {USAGE}", cell=cell
        ) from None
    check_step_args(args, cell)
    return args


def check_step_args(args: argparse.Namespace, cell: int | None = None) -> None:
    if not STEP_NAME.match(args.name):
        raise StepDefinitionError(
            f"'{args.name}' is not a valid step name: use letters, digits, '_' and '-', "
            "starting with a letter or '_'", cell=cell)
    for opt in ("inputs", "outputs"):
        for var in getattr(args, opt) or []:
            if not var.isidentifier():
                flag = "--in" if opt == "inputs" else "--out"
                raise StepDefinitionError(
                    f"{flag} '{var}' is not a Python variable name", cell=cell, step=args.name)


def cell_source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def split_magic(source: str) -> tuple[str, str] | None:
    """(argument line, body) if the cell starts with %%step, else None."""
    stripped = source.lstrip()
    if not stripped.startswith(MAGIC):
        return None
    first, _, body = stripped.partition("\n")
    rest = first[len(MAGIC):]
    if rest and not rest[0].isspace():
        return None  # e.g. %%stepper: another magic
    return rest.strip(), body


@dataclass(frozen=True, slots=True)
class PipelineSpec:
    """Everything the engine knows about a notebook before running anything."""

    path: Path
    kernel_name: str
    steps: tuple[StepSpec, ...]
    prelude: tuple[PreludeStatement, ...]
    prelude_cells: tuple[tuple[int, str], ...]  # (cell index, source) in notebook order
    parameters: dict[str, Any]
    parameters_source: str
    warnings: tuple[str, ...] = field(default=())

    @property
    def root(self) -> Path:
        return self.path.parent

    def step(self, name: str) -> StepSpec:
        for s in self.steps:
            if s.name == name:
                return s
        from .errors import UnknownStepError

        raise UnknownStepError(
            f"no step named '{name}' in {self.path.name}; its steps are: "
            + ", ".join(s.name for s in self.steps))


def read_notebook_json(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            nb = json.load(f)
    except FileNotFoundError:
        raise StepDefinitionError(f"notebook {path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise StepDefinitionError(f"{path} is not a notebook (invalid JSON: {exc})") from None
    if not isinstance(nb, dict) or "cells" not in nb:
        raise StepDefinitionError(f"{path} is not a notebook (no 'cells')")
    return nb


def _literal(node: ast.expr, source: str) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError:
        return ast.get_source_segment(source, node)  # not a literal: its source stands for it


def parse_parameters(source: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for stmt in ast.parse(source).body:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else (
            [stmt.target] if isinstance(stmt, ast.AnnAssign) and stmt.value is not None else [])
        for t in targets:
            if isinstance(t, ast.Name):
                values[t.id] = _literal(stmt.value, source)
    return values


def _prelude_statements(cell: int, source: str) -> list[PreludeStatement]:
    try:
        tree = parse(source, f"cell {cell}")
    except SyntaxError as exc:
        raise StepDefinitionError(str(exc), cell=cell) from None
    out = []
    for stmt in tree.body:
        use = name_use(ast.Module(body=[stmt], type_ignores=[]))
        defines = frozenset(use.binds) | ({"*"} if use.star_import else frozenset())
        out.append(PreludeStatement(cell, normalize(stmt), defines, frozenset(use.reads)))
    return out


def load_pipeline(path: str | Path) -> PipelineSpec:
    path = Path(path).resolve()
    return pipeline_from_json(read_notebook_json(path), path)


@dataclass
class _RawStep:
    cell: int
    cell_id: str | None
    line: str
    body: str
    args: argparse.Namespace
    reads: tuple[str, ...] = ()
    binds: tuple[str, ...] = ()


def pipeline_from_json(nb: dict, path: Path) -> PipelineSpec:
    """Build a PipelineSpec from notebook JSON; raises StepDefinitionError on bad input."""
    kernel = (nb.get("metadata", {}).get("kernelspec") or {}).get("name") or "python3"
    raw: list[_RawStep] = []
    prelude: list[PreludeStatement] = []
    prelude_cells: list[tuple[int, str]] = []
    params_src: list[str] = []
    for i, cell in enumerate(nb["cells"]):
        if cell.get("cell_type") != "code":
            continue
        src = cell_source(cell)
        tags = set(cell.get("metadata", {}).get("tags", []))
        split = split_magic(src)
        if split is not None:
            line, body = split
            args = parse_magic_line(line, cell=i)
            try:
                use = name_use(parse(body, f"the body of step '{args.name}'"))
            except SyntaxError as exc:
                raise StepDefinitionError(str(exc), cell=i, step=args.name) from None
            raw.append(_RawStep(i, cell.get("id"), line, body, args, use.reads,
                                tuple(b for b in use.binds if b not in use.imports)))
        elif tags & {"parameters", "injected-parameters"}:
            params_src.append(src)
        elif src.strip():
            if src.lstrip().startswith("%load_ext") and "jupyter_mlpipe" in src and len(
                    src.strip().splitlines()) == 1:
                continue  # loading the extension is not part of any step's code
            prelude.extend(_prelude_statements(i, src))
            prelude_cells.append((i, src))
    parameters: dict[str, Any] = {}
    for src in params_src:
        try:
            parameters.update(parse_parameters(src))
        except SyntaxError as exc:
            raise StepDefinitionError(f"the parameters cell is not valid Python: {exc}") from None
    module_notes = [n for r in raw if r.args.module for n in _use_module(r, parameters)]
    steps, notes = _resolve(raw, prelude, set(parameters))
    notes = module_notes + notes
    return PipelineSpec(path, kernel, tuple(steps), tuple(prelude), tuple(prelude_cells),
                        parameters, "\n".join(params_src), tuple(notes))


def _use_module(r: _RawStep, parameters: dict[str, Any]) -> list[str]:
    """`--module N[@V]`: the published code becomes the step's body (and so its key)."""
    from .modules import module_code, resolve

    try:
        record, notes = resolve(r.args.module)
    except StepDefinitionError as exc:
        raise StepDefinitionError(exc.message, cell=r.cell, step=r.args.name) from None
    if normalize(r.body).strip():  # a comment-only body (IPython needs one) is fine
        notes.append(f"step '{r.args.name}' (cell {r.cell}) uses --module {r.args.module}; "
                     "the code in its cell is ignored")
    r.body = module_code(record, parameters)
    for opt in ("inputs", "outputs"):  # the cell's own --in/--out win, else the module's
        if getattr(r.args, opt) is None:
            setattr(r.args, opt, list(record[opt]) or None)
    r.args.reads = r.args.reads or list(record.get("reads", []))
    r.args.writes = r.args.writes or list(record.get("writes", []))
    use = name_use(parse(r.body, f"module {r.args.module}"))
    r.reads, r.binds = use.reads, tuple(b for b in use.binds if b not in use.imports)
    for n in notes:
        warnings.warn(n, stacklevel=3)
    return notes


def _resolve(raw: list[_RawStep], prelude: list[PreludeStatement],
             params: set[str]) -> tuple[list[StepSpec], list[str]]:
    """Fill in omitted --in/--out, check names, and warn on undeclared reads."""
    seen: dict[str, int] = {}
    for r in raw:
        if r.args.name in seen:
            raise StepDefinitionError(
                f"step name '{r.args.name}' is already used by cell {seen[r.args.name]}; "
                "step names must be unique", cell=r.cell, step=r.args.name)
        seen[r.args.name] = r.cell
    outputs: dict[str, tuple[str, ...]] = {}
    for r in raw:
        if r.args.outputs is not None:
            outputs[r.args.name] = tuple(dict.fromkeys(r.args.outputs))
        else:  # every top-level name it binds, so interactive and batch agree without context
            outputs[r.args.name] = tuple(b for b in r.binds if not b.startswith("_"))
    prelude_names = {n for s in prelude for n in s.defines}
    notes: list[str] = []
    steps = []
    for r in raw:
        name = r.args.name
        others = {v for s, outs in outputs.items() if s != name for v in outs}
        if r.args.inputs is not None:
            inputs = list(dict.fromkeys(r.args.inputs))
            for v in inputs:
                if v not in others:
                    hint = "its own --out" if v in outputs[name] else ""
                    raise MissingInputError(name, v, cell=r.cell, hint=hint)
            for v in r.reads:
                if v in others and v not in inputs and v not in prelude_names | params:
                    producer = next(s for s, outs in outputs.items() if s != name and v in outs)
                    msg = (f"step '{name}' (cell {r.cell}) reads '{v}', produced by step "
                           f"'{producer}', without declaring it: add '--in {v}'")
                    notes.append(msg)
                    warnings.warn(msg, stacklevel=2)
                    inputs.append(v)
        else:
            inputs = [v for v in r.reads if v in others and v not in prelude_names | params]
        steps.append(StepSpec(
            name=name, cell=r.cell, cell_id=r.cell_id, body=r.body, magic_line=r.line,
            inputs=tuple(inputs), outputs=outputs[name], reads=tuple(r.args.reads),
            writes=tuple(r.args.writes), target=r.args.target, reuse=not r.args.no_reuse,
            inputs_declared=r.args.inputs is not None,
            outputs_declared=r.args.outputs is not None, module=r.args.module))
    return steps, notes
