"""The executor interface: run one step's generated notebook somewhere, return its outputs.

The runner schedules; an executor only executes. A step notebook has two parts:
  warm-up: the parameters cell (papermill injects run parameters after it) and the prelude,
           which an executor may run ahead of time, before it knows which step comes;
  step:    load inputs from the store, the body, save outputs to the store.
`Executor.run_step` owns the lifecycle (record the executed notebook, map errors, read the
result) with try/finally; subclasses implement `execute`.
"""
from __future__ import annotations

import abc
import concurrent.futures as cf
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import StepExecutionError
from ..models import PipelineSpec, StepSpec

STEP_TAG = "mlpipe-step-body"


@dataclass(frozen=True, slots=True)
class StepJob:
    run_id: str
    step: StepSpec
    key: str
    inputs: dict[str, str]  # variable -> artifact digest
    store_home: Path
    run_dir: Path

    @property
    def result_path(self) -> Path:
        return self.run_dir / f"{self.step.name}.result.json"

    @property
    def notebook_path(self) -> Path:
        return self.run_dir / f"{self.step.name}.ipynb"


@dataclass(slots=True)
class StepOutcome:
    outputs: dict[str, str]
    writes: dict[str, Any]
    notebook: str
    body_seconds: float | None = None
    exec_seconds: float | None = None  # set by executors that know when the step got a kernel
    dropped: list[str] = field(default_factory=list)


def _code(source: str, tags: list[str] | None = None) -> dict:
    import nbformat

    cell = nbformat.v4.new_code_cell(source)
    if tags:
        cell.metadata["tags"] = tags
    return cell


def warmup_notebook(pipeline: PipelineSpec) -> Any:
    """Parameters + prelude + the kernel helper import: independent of the step."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": pipeline.kernel_name, "display_name": pipeline.kernel_name,
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells.append(_code(pipeline.parameters_source or "# no parameters", ["parameters"]))
    for cell, src in pipeline.prelude_cells:
        c = _code(src, ["mlpipe-prelude"])
        c.metadata["mlpipe"] = {"notebook_cell": cell}
        nb.cells.append(c)
    nb.cells.append(_code("import jupyter_mlpipe.kernel as _mlpipe_kernel", ["mlpipe-internal"]))
    return nb


def step_notebook(job: StepJob, kernel_name: str) -> Any:
    """Load inputs, run the body, save outputs."""
    import nbformat

    s = job.step
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": kernel_name, "display_name": kernel_name,
                                 "language": "python"}
    nb.metadata["mlpipe"] = {"step": s.name, "key": job.key, "run_id": job.run_id}
    home = str(job.store_home)
    load = "\n".join([f"_mlpipe_kernel.begin({home!r}, {job.run_id!r}, {s.name!r})"] + [
        f"{var} = _mlpipe_kernel.load({home!r}, {d!r})" for var, d in job.inputs.items()])
    nb.cells.append(_code(load, ["mlpipe-inputs"]))
    body = _code(s.body, [STEP_TAG])
    body.metadata["mlpipe"] = {"notebook_cell": s.cell}
    nb.cells.append(body)
    nb.cells.append(_code(
        f"_mlpipe_kernel.save({home!r}, {s.name!r}, globals(), {list(s.outputs)!r}, "
        f"{s.outputs_declared!r}, {list(s.writes)!r}, {str(job.result_path)!r})",
        ["mlpipe-outputs"]))
    return nb


def body_seconds(nb: Any) -> float | None:
    for c in nb.cells:
        if STEP_TAG in c.get("metadata", {}).get("tags", []):
            return c.metadata.get("papermill", {}).get("duration")
    return None


def error_from_papermill(step: str, exc: Exception, notebook: str) -> StepExecutionError:
    """The cell's own exception and traceback, without papermill's wrapping."""
    from ..analysis import strip_ansi

    tb = "\n".join(strip_ansi(line) for line in getattr(exc, "traceback", []) or [])
    return StepExecutionError(step, getattr(exc, "ename", type(exc).__name__),
                              strip_ansi(getattr(exc, "evalue", str(exc))), tb, notebook)


class Executor(abc.ABC):
    """Runs jobs on up to `jobs` workers. Subclasses implement `execute`."""

    def __init__(self, pipeline: PipelineSpec, params: dict[str, Any], jobs: int):
        self.pipeline = pipeline
        self.params = params
        self.jobs = max(1, jobs)
        self._pool = cf.ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="mlpipe-step")

    def expect(self, n: int) -> None:
        """Hint: up to n more steps may be submitted (executors may start kernels early)."""

    def submit(self, job: StepJob) -> cf.Future:
        return self._pool.submit(self.run_step, job)

    def run_step(self, job: StepJob) -> StepOutcome:
        job.run_dir.mkdir(parents=True, exist_ok=True)
        nb = self.execute(job)
        return self.read_result(job, nb)

    def read_result(self, job: StepJob, nb: Any) -> StepOutcome:
        try:
            result = json.loads(job.result_path.read_text())
        except FileNotFoundError:
            raise StepExecutionError(job.step.name, "MissingResult",
                                     "the step finished but saved no outputs",
                                     notebook=str(job.notebook_path)) from None
        return StepOutcome(result["outputs"], result["writes"], str(job.notebook_path),
                           body_seconds(nb), result.get("dropped", []))

    @abc.abstractmethod
    def execute(self, job: StepJob) -> Any:
        """Run the step; return the executed notebook, written to job.notebook_path.
        Raise StepExecutionError on failure."""

    def close(self, now: bool = False) -> None:
        self._pool.shutdown(wait=not now, cancel_futures=now)
