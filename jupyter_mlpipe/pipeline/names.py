"""Names a step body reads that nothing defines (no step, prelude, parameter or builtin):
found before any step runs, instead of a NameError after its upstream steps ran."""
from __future__ import annotations

import ast
import re

from .analysis import BUILTINS, name_use, parse, runs_hidden_code
from ..errors import StepDefinitionError
from ..models import PipelineSpec, StepSpec

# names IPython puts in a kernel's namespace besides get_ipython, display, In and Out
_IPYTHON_NAME = re.compile(r"^(_+|_i+|_i?\d+|_(ih|oh|dh)|exit|quit|__\w+__)$")


def _read_when_run(tree: ast.AST) -> set[str]:
    """Names read by code that runs when the cell runs: not inside function or lambda bodies
    (which may never be called), but their defaults and decorators."""
    out: set[str] = set()
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            a = node.args
            todo.extend(a.defaults + [d for d in a.kw_defaults if d is not None])
            todo.extend(getattr(node, "decorator_list", []))
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            out.add(node.id)
        todo.extend(ast.iter_child_nodes(node))
    return out


def _bound_anywhere(tree: ast.AST) -> set[str]:
    """Every name the code binds at any depth, or declares global (conservative)."""
    out: set[str] = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load):
            out.add(n.id)
        elif isinstance(n, ast.Global):
            out.update(n.names)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(n.name)
        elif isinstance(n, ast.alias):
            out.add((n.asname or n.name).split(".")[0])
    return out


def _defined_outside(spec: PipelineSpec) -> set[str] | None:
    """Names the prelude, the parameters cell and all steps define; None when the prelude or
    the parameters cell may define names the AST does not show (exec, %run, import *)."""
    defined = set(spec.parameters) | BUILTINS
    sources = [src for _, src in spec.prelude_cells] + [spec.parameters_source]
    for src in sources:
        try:
            tree = parse(src)
        except SyntaxError:
            return None
        if runs_hidden_code(tree) or name_use(tree).star_import:
            return None
        defined |= _bound_anywhere(tree)
    for s in spec.steps:
        defined |= set(s.outputs) | set(s.bound_names) | _bound_anywhere(parse(s.body))
    return defined


def undefined_names(spec: PipelineSpec) -> list[tuple[StepSpec, str]]:
    """(step, name) for each name a step reads when it runs that nothing defines."""
    defined = _defined_outside(spec)
    if defined is None:
        return []
    found = []
    for step in spec.steps:
        tree = parse(step.body)
        if runs_hidden_code(tree) or name_use(tree).star_import:
            continue
        run_reads = _read_when_run(tree)
        for name in step.free_names:
            if name in run_reads and name not in defined and not _IPYTHON_NAME.match(name):
                found.append((step, name))
    return found


def check_names(spec: PipelineSpec) -> None:
    """Raise StepDefinitionError (exit 2) for the first name nothing defines."""
    found = undefined_names(spec)
    if not found:
        return
    step, name = found[0]
    more = (f" ({len(found) - 1} more such name(s): "
            + ", ".join(f"'{n}' in step '{s.name}'" for s, n in found[1:4]) + ")"
            if len(found) > 1 else "")
    raise StepDefinitionError(
        f"reads '{name}', which nothing defines: no step produces it, and neither the "
        f"prelude, the parameters cell nor Python's builtins define it. Nothing was run. "
        f"Define '{name}' (in a step, the prelude or the parameters cell), or fix the "
        f"name{more}.", cell=step.cell, step=step.name)
