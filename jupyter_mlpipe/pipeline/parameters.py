"""The parameters cell: its defaults as written, what each default reads, and the values a
run's kernels get (the cell as Python computes it, then the `-p` overrides, as papermill does)."""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from .analysis import to_python
from ..errors import StepDefinitionError
from ..models import PipelineSpec


@dataclass(frozen=True, slots=True)
class ParameterDefaults:
    """Each parameter's default: its value when a literal, else its source text."""

    values: dict[str, Any]
    expressions: frozenset[str] = frozenset()  # names whose default is not a literal
    reads: dict[str, frozenset[str]] = field(default_factory=dict)  # names each default reads


def parse_parameters(source: str) -> ParameterDefaults:
    """The assignments of a parameters cell (SyntaxError if it is not valid Python)."""
    values: dict[str, Any] = {}
    expressions: set[str] = set()
    reads: dict[str, frozenset[str]] = {}
    for stmt in ast.parse(source).body:
        if isinstance(stmt, ast.Assign):
            targets, value = stmt.targets, stmt.value
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            targets, value = [stmt.target], stmt.value
        else:
            continue
        for t in targets:
            if not isinstance(t, ast.Name):
                continue
            try:
                values[t.id] = ast.literal_eval(value)
                expressions.discard(t.id)
            except ValueError:  # not a literal: its source stands for it
                values[t.id] = ast.get_source_segment(source, value)
                expressions.add(t.id)
            reads[t.id] = frozenset(n.id for n in ast.walk(value)
                                    if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load))
    return ParameterDefaults(values, frozenset(expressions), reads)


def check_overrides(defaults: dict[str, Any], overrides: dict[str, Any]) -> None:
    """Every `-p NAME` is a parameter of the notebook."""
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        shown = [n if len(n) <= 80 else f"{n[:80]}... ({len(n):,} characters)" for n in unknown]
        raise StepDefinitionError(
            f"unknown parameter(s) {', '.join(shown)}: the parameters cell defines "
            + (", ".join(defaults) or "nothing") + ". Add them to the cell tagged "
            "'parameters', or fix the name.")


def as_json_sent(defaults: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """Values that came through JSON, typed like their literal defaults where JSON lost the
    type: JSON writes 2.0 as 2, so a float parameter (`C = 1.0`) given 2 gets 2.0."""
    return {k: float(v) if isinstance(defaults.get(k), float) and type(v) is int else v
            for k, v in values.items()}


def with_reads(names: set[str], reads: dict[str, frozenset[str]]) -> set[str]:
    """The parameters in `names` and those their defaults read, transitively."""
    todo, seen = list(names), set()
    while todo:
        n = todo.pop()
        if n in seen or n not in reads:
            continue
        seen.add(n)
        todo.extend(reads[n])
    return seen


def effective_values(spec: PipelineSpec, overrides: dict[str, Any]) -> dict[str, Any]:
    """The value of each parameter in a step's kernel: the cell run as Python, then the
    overrides. Literal defaults need no run; an expression that fails here (it may need
    the kernel) keeps its source text, so its key still changes when it is edited."""
    values = {**spec.parameters, **overrides}
    if not (spec.parameter_expressions - set(overrides)):
        return values
    namespace: dict[str, Any] = {}
    code = compile(to_python(spec.parameters_source), "<parameters>", "exec")
    try:  # the user's own cell, which every step's kernel runs too
        exec(code, namespace)  # noqa: S102
    except Exception:  # noqa: BLE001 - any failure: key by source, the kernel will report it
        return values
    computed = {n: namespace[n] for n in spec.parameters if n in namespace}
    return {**values, **computed, **overrides}
