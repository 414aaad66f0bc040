"""The DAG of steps: who produces each input, a valid order (stdlib graphlib), selections."""
from __future__ import annotations

import bisect
import graphlib
from collections.abc import Iterable

from ..errors import CycleError, UnknownStepError
from ..models import PipelineSpec


class Graph:
    """Edges follow notebook semantics: an input comes from the nearest earlier step that
    produces it (as "Run All" would see it), or else from the first later one."""

    def __init__(self, spec: PipelineSpec):
        self.spec = spec
        self.names = [s.name for s in spec.steps]
        self.producer: dict[str, dict[str, str]] = {}  # step -> {input var -> producing step}
        self.file_producer: dict[str, dict[str, str]] = {}  # step -> {--reads path -> writer}
        made_at: dict[str, list[int]] = {}  # var -> positions of the steps producing it
        for i, step in enumerate(spec.steps):
            for var in step.outputs:
                made_at.setdefault(var, []).append(i)
        for i, step in enumerate(spec.steps):
            deps: dict[str, str] = {}
            for var in step.inputs:
                at = [j for j in made_at.get(var, []) if j != i]
                k = bisect.bisect_left(at, i)  # at[:k] come before step i, at[k:] after
                deps[var] = spec.steps[at[k - 1] if k else at[k]].name
            self.producer[step.name] = deps
            files: dict[str, str] = {}
            for path in step.reads:
                writers = [s for s in spec.steps if s is not step and
                           any(_overlaps(path, w) for w in s.writes)]
                if writers:
                    earlier = [s for s in writers if s.cell < step.cell]
                    files[path] = (earlier[-1] if earlier else writers[0]).name
            self.file_producer[step.name] = files
        self.upstream = {n: sorted(set(self.producer[n].values())
                                   | set(self.file_producer[n].values())) for n in self.names}
        self.downstream: dict[str, list[str]] = {n: [] for n in self.names}
        for n, ups in self.upstream.items():
            for u in ups:
                self.downstream[u].append(n)
        self._order = self._toposort()

    def _toposort(self) -> list[str]:
        sorter = graphlib.TopologicalSorter({n: self.upstream[n] for n in self.names})
        try:
            order = list(sorter.static_order())
        except graphlib.CycleError as exc:
            cycle = list(exc.args[1])
            raise CycleError(cycle[::-1]) from None
        position = {n: i for i, n in enumerate(self.names)}
        depth: dict[str, int] = {}  # longest path from a root; upstream comes first in `order`
        for n in order:
            depth[n] = 1 + max((depth[u] for u in self.upstream[n]), default=-1)
        # stable: among valid orders, prefer notebook order
        return sorted(order, key=lambda n: (depth[n], position[n]))

    @property
    def order(self) -> list[str]:
        return list(self._order)

    def check(self, names: Iterable[str]) -> list[str]:
        names = list(names)
        for n in names:
            if n not in self.upstream:
                raise UnknownStepError(
                    f"no step named '{n}' in {self.spec.path.name}; its steps are: "
                    + ", ".join(self.names))
        return names

    def ancestors(self, name: str) -> set[str]:
        return _reach(name, self.upstream)

    def descendants(self, name: str) -> set[str]:
        return _reach(name, self.downstream)

    def closure(self, names: Iterable[str]) -> set[str]:
        """The steps plus every step they need."""
        out: set[str] = set()
        for n in self.check(names):
            out.add(n)
            out |= self.ancestors(n)
        return out



def _overlaps(a: str, b: str) -> bool:
    """True if one path is the other or lies inside it."""
    a, b = a.rstrip("/").removeprefix("./"), b.rstrip("/").removeprefix("./")
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def _reach(start: str, edges: dict[str, list[str]]) -> set[str]:
    """Every node reachable from `start` along `edges` (not `start` itself)."""
    out: set[str] = set()
    todo = list(edges[start])
    while todo:
        n = todo.pop()
        if n not in out:
            out.add(n)
            todo.extend(edges[n])
    return out
