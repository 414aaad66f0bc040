"""The Python API: `Pipeline.from_notebook(path)` with steps, graph, status() and run()."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import MlpipeError
from .pipeline.graph import Graph
from .models import PipelineSpec, StepSpec, StepStatus
from .pipeline.load import load_pipeline
from .pipeline.parameters import check_overrides
from .run.plan import Planner
from .store.files import Store
from .store.history import History
from .targets import recorded_envs

TYPE_CHECKING = False
if TYPE_CHECKING:  # imported where used: `mlpipe status` needs neither runs nor sweeps
    from .automation.sweep import SweepResult
    from .run.result import RunResult
    from .run.runner import Listener


class Pipeline:
    """A notebook seen as a pipeline. Re-reads nothing: call from_notebook again after edits."""

    def __init__(self, spec: PipelineSpec):
        self.spec = spec
        self._graph: Graph | None = None

    @classmethod
    def from_notebook(cls, path: str | Path, convert: bool = False) -> "Pipeline":
        if convert:
            from .convert.converter import convert_notebook  # plain notebooks only

            return cls(convert_notebook(path).spec)
        return cls(load_pipeline(path))

    @property
    def path(self) -> Path:
        return self.spec.path

    @property
    def steps(self) -> list[StepSpec]:
        return list(self.spec.steps)

    @property
    def graph(self) -> Graph:
        if self._graph is None:
            self._graph = Graph(self.spec)
        return self._graph

    @property
    def parameters(self) -> dict[str, Any]:
        return dict(self.spec.parameters)

    @property
    def store(self) -> Store:
        return Store.for_notebook(self.spec.path)

    def status(self, params: dict[str, Any] | None = None) -> list[StepStatus]:
        check_overrides(self.spec.parameters, params or {})
        history = History(self.store.home)
        try:
            env = recorded_envs(self.spec, self.store.home)  # same target env as `run` keys
            return Planner(self.spec, self.store, history, params, env).status()
        finally:
            history.close()

    def run(self, jobs: int | None = None, params: dict[str, Any] | None = None,
            only: list[str] | str | None = None, force: bool = False, fail_fast: bool = False,
            listener: Listener | None = None) -> RunResult:
        if isinstance(only, str):
            only = [only]
        from .run.runner import RunOptions, prepare_run  # kernels and locks: runs only

        options = RunOptions(params=params, jobs=jobs, only=only, force=force,
                             fail_fast=fail_fast)
        return prepare_run(self.spec, options).execute(listener)

    def sweep(self, grid: dict[str, list[Any]], jobs: int | None = None,
              params: dict[str, Any] | None = None, only: list[str] | str | None = None,
              force: bool = False, fail_fast: bool = False) -> SweepResult:
        """Run every point of the grid {name: [values]}; steps no swept parameter reaches run
        once. The result's points hold each run id and its metrics."""
        from .automation.sweep import run_sweep
        from .run.runner import RunOptions

        if isinstance(only, str):
            only = [only]
        return run_sweep(self.spec, grid, RunOptions(params=params, jobs=jobs, only=only,
                                                     force=force, fail_fast=fail_fast))

    def runs(self, limit: int = 20) -> list[dict]:
        history = History(self.store.home)
        try:
            return history.runs(str(self.spec.path), limit)
        finally:
            history.close()

    def to_graphviz(self):
        """The graph as a `graphviz.Digraph`, each node coloured by its status."""
        from .pipeline.graph_view import to_graphviz  # imports the graphviz package

        return to_graphviz(self.graph, {s.name: str(s.state) for s in self.status()})

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        """Jupyter shows the graph as an SVG (kept in the saved notebook); text elsewhere."""
        from .pipeline.graph_view import svg

        bundle = {"text/plain": repr(self)}
        try:
            bundle["image/svg+xml"] = svg(self.to_graphviz())
        except MlpipeError as exc:  # no Graphviz binary: say how to get the picture
            bundle["text/plain"] += f"\n({exc})"
        return bundle

    def widget(self):
        from .interactive.widget import PipelineWidget  # ipywidgets: only when a widget is asked for

        return PipelineWidget(self)

    def __repr__(self) -> str:
        return f"<Pipeline {self.spec.path.name}: {', '.join(self.graph.order)}>"
