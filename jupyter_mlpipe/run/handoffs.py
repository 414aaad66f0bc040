"""Files handed between steps without --writes: which steps must finish before another is
decided and started.

A step B that reads a file a step A above it writes (no --writes/--reads pair, so no edge in
the graph) sees A's new file in a plain top-to-bottom run. The runner therefore decides B
only once A is done in this run, and never runs them at once. What A writes and B reads is
known from their last manifests (files opened for writing and for reading); a step with no
manifest yet (never run, or run before these were recorded) is judged by its source instead:
a path-like string literal that both bodies contain ('data/mid.csv').
"""
from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterable

from ..models import PipelineSpec, StepSpec
from ..pipeline.graph import Graph
from .manifest import Manifest


def path_literals(step: StepSpec) -> set[str]:
    """String constants of the body that look like a relative or absolute file path."""
    if "'" not in step.body and '"' not in step.body:
        return set()  # no string at all: nothing to parse
    try:
        tree = ast.parse(step.body)
    except SyntaxError:
        return set()
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            v = node.value.strip()
            if v and "\n" not in v and len(v) < 260 and ("/" in v or "." in v.lstrip(".")):
                found.add(v.lstrip("./") if v.startswith("./") else v)
    return found


def handoffs(spec: PipelineSpec, graph: Graph, selected: Iterable[str],
             manifests: dict[str, Manifest | None]) -> dict[str, set[str]]:
    """For each selected step, the selected steps above it that it must wait for.
    `manifests`: each step's last manifest (None: it has none).

    Two steps that both have a manifest are paired by what one wrote and the other read;
    otherwise by a path literal both bodies hold. Candidates come from an index of each, so a
    long pipeline costs what its shared paths cost, not every pair of steps."""
    chosen = set(selected)
    names = [n for n in graph.names if n in chosen]
    position = {n: i for i, n in enumerate(names)}
    by_name = {s.name: s for s in spec.steps}  # spec.step(n) looks through every step
    steps = {n: by_name[n] for n in names}
    literals = {n: path_literals(steps[n]) for n in names}
    by_literal: dict[str, list[str]] = defaultdict(list)
    writers: dict[str, list[str]] = defaultdict(list)  # a path -> steps whose manifest wrote it
    for n in names:
        for literal in literals[n]:
            by_literal[literal].append(n)
        m = manifests.get(n)
        for path in (m.wrote if m is not None else ()):
            writers[path].append(n)
    waits: dict[str, set[str]] = {n: set() for n in names}

    def before(n: str) -> set[str]:
        """Everything n waits for, through the graph and the waits so far."""
        seen: set[str] = set()
        todo = [n]
        while todo:
            m = todo.pop()
            for u in [*graph.upstream[m], *waits.get(m, ())]:
                if u not in seen:
                    seen.add(u)
                    todo.append(u)
        return seen

    for b in names:
        mb = manifests.get(b)
        candidates: set[str] = set()
        if mb is not None:
            for path in {*mb.files, *steps[b].reads}:
                candidates.update(writers.get(path, ()))
        for literal in literals[b]:
            candidates.update(a for a in by_literal[literal]
                              if mb is None or manifests.get(a) is None)
        for a in sorted(candidates, key=position.__getitem__):
            if a == b or steps[a].cell >= steps[b].cell or b in before(a):
                continue  # only a step above, and never a cycle (no deadlock)
            waits[b].add(a)
    return waits
