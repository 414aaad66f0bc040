"""Read a notebook into a pipeline: `%%step` cells, prelude statements, the parameters cell.

Pure and fast: plain `json` instead of nbformat (whose jsonschema import costs about a
second), no kernels, no IPython unless a cell uses IPython syntax. Each body and prelude
statement is analysed here, once. Steps that use a published module (`--module`) are handed
to a pass the caller gives (`modules.use_module`; `modules.load_pipeline` is the loader).
"""
from __future__ import annotations

import argparse
import ast
import difflib
import json
import keyword
import re
import shlex
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from .analysis import (
    imported_modules, is_inert_ipython_line, name_use, normalize, parse, to_python)
from .control import ControlCode, drop_lines
from ..errors import MissingInputError, StepDefinitionError, cell_label
from ..models import PipelineSpec, PreludeStatement, StepSpec
from .durations import parse_duration
from .parameters import parse_parameters

STEP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
MAX_NAME = 100  # step names become file names (runs/RUN/STEP.ipynb); paths fit in PATH_MAX
MODULE_REF = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*"
                        r"(@[A-Za-z0-9][A-Za-z0-9._+-]*)?$")
STEP_MAGIC = "%%step"

# A step that uses --module, before --in/--out inference (inputs/outputs hold only declared
# names), and the parameter values -> the step running the published code, and notes.
ModulePass = Callable[[StepSpec, dict[str, Any]], tuple[StepSpec, list[str]]]

# One table of %%step options: the IPython magic and the batch parser are both built from it.
STEP_OPTIONS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("name",), dict(help="step name, [A-Za-z_][A-Za-z0-9_-]*, unique in the notebook")),
    (("-i", "--in"), dict(dest="inputs", nargs="+", action="extend", default=None, metavar="VAR",
                          help="variables the step reads that other steps produce")),
    (("-o", "--out"), dict(dest="outputs", nargs="+", action="extend", default=None,
                           metavar="VAR",
                           help="variables the step produces")),
    (("--reads",), dict(nargs="+", action="extend", default=[], metavar="PATH",
                        help="files or folders the step reads (content-hashed)")),
    (("--writes",), dict(nargs="+", action="extend", default=[], metavar="PATH",
                         help="files or folders the step writes (stored and restored)")),
    (("--target",), dict(default="local", metavar="NAME", help="compute target (mlpipe.toml)")),
    (("--no-reuse",), dict(dest="no_reuse", action="store_true",
                           help="always execute, never reuse a stored result")),
    (("--module",), dict(default=None, metavar="NAME[@VERSION]",
                         help="use a published step from the module registry")),
    (("--timeout",), dict(default=None, metavar="DURATION",
                          help="stop the step after 90, 30s, 5m, 2h; it fails saying it timed "
                               "out (default: [run] timeout in mlpipe.toml, else none)")),
    (("--retries",), dict(default=None, metavar="N",
                          help="try a failing step up to N more times, each in a fresh kernel "
                               "(default: [run] retries in mlpipe.toml, else 0)")),
    (("--nondeterministic",), dict(action="store_true",
                                   help="random on purpose: `mlpipe verify` reports it instead "
                                        "of failing it")),
]
USAGE = ("%%step NAME [-i VAR ...] [-o VAR ...] [--reads PATH ...] [--writes PATH ...] "
         "[--target NAME] [--no-reuse] [--module NAME[@VERSION]] [--timeout DURATION] "
         "[--retries N] [--nondeterministic]")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse would print and sys.exit
        raise ValueError(message)


def _build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="%%step", add_help=False, allow_abbrev=False)
    for flags, kwargs in STEP_OPTIONS:
        p.add_argument(*flags, **kwargs)
    return p


_PARSER = _build_parser()


def step_help() -> str:
    """The `%%step` help: what the cell magic does, its usage and options."""
    return ("Run this cell as a pipeline step: reuse its stored result when nothing "
            "changed.\n\n" + _PARSER.format_help())


# The common shape of a %%step line, read without shlex and argparse (0.1 s of `status` on
# 1,000 steps): NAME first, then known options each with the values argparse would give it.
_LISTS = {"-i": "inputs", "--in": "inputs", "-o": "outputs", "--out": "outputs",
          "--reads": "reads", "--writes": "writes"}
_ONE = {"--target": "target", "--module": "module", "--timeout": "timeout",
        "--retries": "retries"}
_FLAGS = {"--no-reuse": "no_reuse", "--nondeterministic": "nondeterministic"}


def _plain_magic_line(line: str) -> argparse.Namespace | None:
    """The Namespace argparse gives a plain line (no quotes or escapes, only known options
    spelled in full, each value not starting with '-', no option twice); None for anything
    else, which argparse then reads, with its own error messages."""
    if "'" in line or '"' in line or "\\" in line or not (
            line.isascii() and line.replace("\t", " ").isprintable()):
        return None  # quoting, or whitespace that str.split and shlex split differently
    words = line.split()
    if not words or words[0].startswith("-"):
        return None
    found: dict[str, Any] = {"name": words[0], "inputs": None, "outputs": None, "reads": [],
                             "writes": [], "target": "local", "no_reuse": False,
                             "module": None, "timeout": None, "retries": None,
                             "nondeterministic": False}
    seen: set[str] = set()
    i = 1
    while i < len(words):
        word = words[i]
        dest = _LISTS.get(word) or _ONE.get(word) or _FLAGS.get(word)
        if dest is None or dest in seen:
            return None
        seen.add(dest)
        i += 1
        if word in _FLAGS:
            found[dest] = True
            continue
        j = i
        while j < len(words) and not words[j].startswith("-"):
            j += 1
        if j == i or (word in _ONE and j != i + 1):
            return None  # no value, or a second one argparse would not take
        found[dest] = words[i:j] if word in _LISTS else words[i]
        i = j
    return argparse.Namespace(**found)


def parse_magic_line(line: str, cell: int | None = None) -> argparse.Namespace:
    """Parse the arguments of a `%%step` line (without the `%%step` itself)."""
    try:
        args = _plain_magic_line(line) or _PARSER.parse_args(_join_values(shlex.split(line)))
    except ValueError as exc:
        raise StepDefinitionError(
            f"bad %%step line '{STEP_MAGIC} {line.strip()}': {exc}{_did_you_mean(str(exc))}. "
            f"Usage: {USAGE}", cell=cell) from None
    check_step_args(args, cell)
    return args


def _join_values(words: list[str]) -> list[str]:
    """`--timeout -5s` as `--timeout=-5s`: argparse would take -5s for an option and say only
    "expected one argument"; joined, the value gets its own error message."""
    out: list[str] = []
    for w in words:
        if out and out[-1] in ("--timeout", "--retries") and w.startswith("-") \
                and not w.startswith("--"):
            out[-1] += "=" + w
        else:
            out.append(w)
    return out


def _did_you_mean(message: str) -> str:
    """' (did you mean '--out'?)' for an unknown option close to a known one."""
    unknown = re.search(r"unrecognized arguments: (.*)", message)
    known = [f for flags, _ in STEP_OPTIONS for f in flags if f.startswith("--")]
    for word in (unknown.group(1).split() if unknown else []):
        if word.startswith("-"):
            match = difflib.get_close_matches(word.split("=")[0], known, n=1, cutoff=0.6)
            if match:
                return f" (did you mean '{match[0]}'?)"
    return ""


def salvage_magic_line(line: str) -> tuple[str, str] | None:
    """(step name, a readable `%%step` line) from a bad one: its name and the options that do
    read (`--outt x` dropped), so a step whose line has a typo still shows in the graph, with
    its edges, as invalid. None when not even a step name can be read."""
    try:
        args, _unknown = _PARSER.parse_known_args(shlex.split(line))
    except ValueError:
        return None
    if not isinstance(args.name, str) or not STEP_NAME.match(args.name):
        return None
    words = [args.name]
    for flag, values in (("--in", args.inputs), ("--out", args.outputs),
                         ("--reads", args.reads), ("--writes", args.writes)):
        good = [v for v in values or () if flag in ("--reads", "--writes") or v.isidentifier()]
        if good:
            words += [flag, *good]
    return args.name, shlex.join(words)


def check_step_args(args: argparse.Namespace, cell: int | None = None) -> None:
    if not STEP_NAME.match(args.name) or len(args.name) > MAX_NAME:
        raise StepDefinitionError(
            f"'{args.name[:MAX_NAME]}' is not a valid step name: use at most {MAX_NAME} "
            "letters, digits, '_' and '-', starting with a letter or '_'", cell=cell)
    for opt in ("inputs", "outputs"):
        for var in getattr(args, opt) or []:
            if not var.isidentifier() or keyword.iskeyword(var):
                flag = "--in" if opt == "inputs" else "--out"
                raise StepDefinitionError(
                    f"{flag} '{var}' is not a Python variable name", cell=cell, step=args.name)
    for flag, paths in (("--reads", args.reads), ("--writes", args.writes)):
        for path in paths:
            if "\0" in path or not path or len(path) > 1024 or any(
                    len(part) > 255 for part in path.split("/")):
                raise StepDefinitionError(
                    f"{flag} {path[:80]!r} is not a usable path (empty, a null byte, or too "
                    "long for the file system)", cell=cell, step=args.name)
    if args.module is not None and not MODULE_REF.match(args.module):
        raise StepDefinitionError(
            f"--module {args.module[:80]!r} is not NAME[@VERSION] (NAME: dotted identifiers, "
            "VERSION: letters, digits, '.', '_', '+', '-')", cell=cell, step=args.name)
    if args.timeout is not None:
        try:
            args.timeout = parse_duration(args.timeout)
        except ValueError as exc:
            raise StepDefinitionError(str(exc), cell=cell, step=args.name) from None
    if args.retries is not None:
        args.retries = parse_retries(args.retries, "--retries", cell, args.name)


def parse_retries(text: object, what: str, cell: int | None = None,
                  step: str | None = None) -> int:
    """A number of retries: a whole number, 0 or more."""
    try:
        n = int(str(text).strip()) if not isinstance(text, bool) else -1
    except ValueError:
        n = -1
    if n < 0:
        raise StepDefinitionError(
            f"{what} {text!r} is not a number of retries: give a whole number, 0 or more "
            "(--retries 2 tries a failing step up to twice more)", cell=cell, step=step)
    return n


def cell_source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def split_magic(source: str) -> tuple[str, str] | None:
    """(argument line, body) if the cell starts with %%step, else None. Read as IPython
    reads a cell magic: leading blank lines skipped, the magic's name ends at a space."""
    lines = source.splitlines(keepends=True)
    while lines and not lines[0].strip():
        lines.pop(0)
    stripped = "".join(lines)
    if not stripped.startswith(STEP_MAGIC):
        return None
    first, _, body = stripped.partition("\n")
    rest = first[len(STEP_MAGIC):].rstrip("\r")
    if rest and not rest[0].isspace():
        return None  # e.g. %%stepper: another magic
    if rest and rest[0] != " ":
        raise StepDefinitionError(
            f"'%%step' is followed by {rest[0]!r}; IPython would not find the magic. Put a "
            "space between %%step and the step name.")
    return rest.strip(), body


def read_notebook_json(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            nb = json.load(f)
    except FileNotFoundError:
        raise StepDefinitionError(f"notebook {path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise StepDefinitionError(f"{path} is not a notebook (invalid JSON: {exc})") from None
    except UnicodeDecodeError:
        raise StepDefinitionError(f"{path} is not a notebook (not UTF-8 text)") from None
    except OSError as exc:
        raise StepDefinitionError(f"cannot read notebook {path}: {exc.strerror or exc}") from None
    if not isinstance(nb, dict) or "cells" not in nb:
        raise StepDefinitionError(f"{path} is not a notebook (no 'cells')")
    if not isinstance(nb["cells"], list) or not all(
            isinstance(c, dict) and isinstance(c.get("source", ""), (str, list))
            for c in nb["cells"]):
        raise StepDefinitionError(f"{path} is not a notebook ('cells' is not a list of cells)")
    return nb


def _body_facts(body: str, what: str) -> dict[str, Any]:
    """The StepSpec fields that the static analysis of `body` gives (SyntaxError if invalid)."""
    tree = parse(body, what)
    use = name_use(tree)
    return dict(body=body, free_names=use.reads,
                bound_names=tuple(b for b in use.binds if b not in use.imports),
                imported_modules=tuple(imported_modules(tree)), normalized_body=normalize(tree))


def with_body(step: StepSpec, body: str, what: str) -> StepSpec:
    """The step with another body, and the analysis of that body."""
    try:
        return replace(step, **_body_facts(body, what))
    except SyntaxError as exc:
        raise StepDefinitionError(str(exc), cell=step.cell, step=step.name) from None


def _unresolved_step(cell: int, cell_id: str | None, line: str, body: str) -> StepSpec:
    """A `%%step` cell with only its declared --in/--out (inference comes later)."""
    args = parse_magic_line(line, cell=cell)
    try:
        facts = _body_facts(body, f"the body of step '{args.name}'")
    except SyntaxError as exc:
        raise StepDefinitionError(str(exc), cell=cell, step=args.name) from None
    return StepSpec(
        name=args.name, cell=cell, cell_id=cell_id, magic_line=line,
        inputs=tuple(args.inputs or ()), outputs=tuple(args.outputs or ()), **facts,
        reads=tuple(args.reads), writes=tuple(args.writes), target=args.target,
        reuse=not args.no_reuse, inputs_declared=args.inputs is not None,
        outputs_declared=args.outputs is not None, module=args.module, timeout=args.timeout,
        retries=args.retries, nondeterministic=args.nondeterministic)


def _prelude_statements(cell: int, source: str,
                        control: ControlCode) -> tuple[list[PreludeStatement], str]:
    """The cell's statements that count in keys, and the source step kernels run: the cell
    without its control code (blank when it is all control code)."""
    try:
        tree = parse(source, cell_label(cell))
    except SyntaxError as exc:
        raise StepDefinitionError(str(exc), cell=cell) from None
    out = []
    dashboard = control.cell(tree)
    for stmt in tree.body:
        if stmt in dashboard or is_inert_ipython_line(stmt):  # inert: runs, in no key
            continue
        use = name_use(ast.Module(body=[stmt], type_ignores=[]))
        defines = frozenset(use.binds) | ({"*"} if use.star_import else frozenset())
        out.append(PreludeStatement(cell, normalize(stmt), defines, frozenset(use.reads),
                                    tuple(imported_modules(stmt))))
    if dashboard:
        source = drop_lines(to_python(source), dashboard)
    return out, source


def _is_load_ext(src: str) -> bool:
    """A cell that only loads this extension: not part of any step's code."""
    return (src.lstrip().startswith("%load_ext") and "jupyter_mlpipe" in src
            and len(src.strip().splitlines()) == 1)


def parse_pipeline(nb: dict, path: Path, use_module: ModulePass) -> PipelineSpec:
    """Build a PipelineSpec from notebook JSON; raises StepDefinitionError on bad input."""
    kernel = (nb.get("metadata", {}).get("kernelspec") or {}).get("name") or "python3"
    raw: list[StepSpec] = []
    prelude: list[PreludeStatement] = []
    prelude_cells: list[tuple[int, str]] = []
    params_src: list[str] = []
    control = ControlCode()
    for i, cell in enumerate(nb["cells"]):
        if cell.get("cell_type") != "code":
            continue
        src = cell_source(cell)
        tags = set(cell.get("metadata", {}).get("tags", []))
        try:
            split = split_magic(src)
        except StepDefinitionError as exc:
            raise StepDefinitionError(exc.message, cell=i) from None
        if split is not None:
            raw.append(_unresolved_step(i, cell.get("id"), *split))
        elif tags & {"parameters", "injected-parameters"}:
            params_src.append(src)
        elif src.strip() and not _is_load_ext(src):
            statements, kernel_src = _prelude_statements(i, src, control)
            prelude.extend(statements)
            if kernel_src:
                prelude_cells.append((i, kernel_src))
    try:
        defaults = parse_parameters("\n".join(params_src))
    except SyntaxError as exc:
        raise StepDefinitionError(f"the parameters cell is not valid Python: {exc}") from None
    parameters = defaults.values
    notes: list[str] = []
    for i, step in enumerate(raw):
        if step.module:
            raw[i], module_notes = use_module(step, parameters)
            notes.extend(module_notes)
    steps, resolve_notes = _resolve(raw, prelude, set(parameters))
    return PipelineSpec(path, kernel, tuple(steps), tuple(prelude), tuple(prelude_cells),
                        parameters, "\n".join(params_src), tuple(notes + resolve_notes),
                        defaults.expressions, defaults.reads)


class _Others:
    """`v in others`: whether a step other than this one produces v."""

    def __init__(self, made: dict[str, int], own: set[str]):
        self.made, self.own = made, own

    def __contains__(self, v: object) -> bool:
        return self.made.get(v, 0) > (1 if v in self.own else 0)  # type: ignore[call-overload]


def _resolve(raw: list[StepSpec], prelude: list[PreludeStatement],
             params: set[str]) -> tuple[list[StepSpec], list[str]]:
    """Fill in omitted --in/--out, check names, and warn on undeclared reads."""
    seen: dict[str, int] = {}
    for r in raw:
        if r.name in seen:
            raise StepDefinitionError(
                f"step name '{r.name}' is already used by {cell_label(seen[r.name])}; "
                "step names must be unique", cell=r.cell, step=r.name)
        seen[r.name] = r.cell
    outputs: dict[str, tuple[str, ...]] = {}
    for r in raw:
        if r.outputs_declared:
            outputs[r.name] = tuple(dict.fromkeys(r.outputs))
        else:  # every top-level name it binds, so interactive and batch agree without context
            outputs[r.name] = tuple(b for b in r.bound_names if not b.startswith("_"))
    prelude_names = {n for s in prelude for n in s.defines}
    not_inputs = prelude_names | params
    made: dict[str, int] = {}  # var -> how many steps produce it
    for outs in outputs.values():
        for v in outs:
            made[v] = made.get(v, 0) + 1
    notes: list[str] = []
    steps = []
    for r in raw:
        name = r.name
        own = set(outputs[name])
        others = _Others(made, own)  # produced by another step (a set per step is O(n^2))
        if r.inputs_declared:
            inputs = list(dict.fromkeys(r.inputs))
            for v in inputs:
                if v not in others:
                    hint = "its own --out" if v in outputs[name] else ""
                    raise MissingInputError(name, v, cell=r.cell, hint=hint)
            for v in r.free_names:
                if v in others and v not in inputs and v not in not_inputs:
                    producer = next(s for s, outs in outputs.items() if s != name and v in outs)
                    msg = (f"step '{name}' ({cell_label(r.cell)}) reads '{v}', produced by step "
                           f"'{producer}', without declaring it: add '--in {v}'")
                    notes.append(msg)
                    warnings.warn(msg, stacklevel=2)
                    inputs.append(v)
        else:
            inputs = [v for v in r.free_names if v in others and v not in not_inputs]
        steps.append(replace(r, inputs=tuple(inputs), outputs=outputs[name]))
    return steps, notes
