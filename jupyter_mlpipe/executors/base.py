"""The executor interface: run the steps of one compute target, report each one's outputs.

The runner schedules; an executor only executes. It gets a StepJob per step (`submit`, which
returns a future of a StepOutcome), a hint of how many more may come (`expect`), and `close`
at the end of the run. `probe` checks a target before any step of a run starts and returns its
environment, which is part of each step's cache key. Executors are built as
`Kind(pipeline, params, jobs, target)` by executors/registry.py; `params` holds only the
parameters the user overrode (`-p`): a step runs the notebook's parameters cell
(`pipeline.parameters_source`) and then sets those, as papermill does.
"""
from __future__ import annotations

import abc
import concurrent.futures as cf
import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import StepExecutionError, TargetError
from ..models import PipelineSpec, StepSpec
from ..store.displays import keepable
from ..targets import Target, base_env

STEP_TAG = "mlpipe-step-body"


@dataclass(frozen=True, slots=True)
class StepJob:
    run_id: str
    step: StepSpec
    key: str
    inputs: dict[str, str]  # variable -> artifact digest
    store_home: Path
    run_dir: Path
    imported: tuple[str, ...] = ()  # top-level modules the step and its prelude import
    timeout: float | None = None  # seconds the step may run (--timeout), None: no limit

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
    manifest: dict[str, Any] | None = None  # what the step really used (manifest.py)
    displays: list[dict[str, Any]] | None = None  # what the body cell showed


def body_outputs(nb: Any) -> list[dict[str, Any]]:
    """What the step's body cell showed in its executed notebook, to show again on reuse."""
    for c in (nb or {}).get("cells", []):
        if STEP_TAG in c.get("metadata", {}).get("tags", []):
            return keepable(c.get("outputs", []))
    return []


def body_seconds(nb: Any) -> float | None:
    """How long the step's body cell ran, from papermill's cell metadata."""
    for c in (nb or {}).get("cells", []):
        if STEP_TAG in c.get("metadata", {}).get("tags", []):
            return c["metadata"].get("papermill", {}).get("duration")
    return None


def read_result(job: StepJob, nb: Any = None) -> StepOutcome:
    """The outcome the step's kernel saved (in_kernel.save); nb: its executed notebook."""
    try:
        result = json.loads(job.result_path.read_text())
    except FileNotFoundError:
        raise StepExecutionError(job.step.name, "MissingResult",
                                 "the step finished but saved no outputs",
                                 notebook=str(job.notebook_path)) from None
    return StepOutcome(result["outputs"], result["writes"], str(job.notebook_path),
                       body_seconds(nb), dropped=result.get("dropped", []),
                       manifest=result.get("manifest"), displays=body_outputs(nb))


def require_modules(target: Target, *modules: str) -> None:
    """A target kind's optional dependencies are installed, else say how to install them."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise TargetError(f"target '{target.name}' ({target.kind}) needs {', '.join(missing)}: "
                          "pip install 'jupyter_mlpipe[targets]'")


class Executor(abc.ABC):
    """Runs the steps of one compute target. Built as `Kind(pipeline, params, jobs, target)`."""

    @staticmethod
    def probe(pipeline: PipelineSpec, target: Target, home: Path) -> dict[str, Any]:
        """Check before a run that the target answers; return its environment (for the key).

        Raise TargetError naming the target and the fix. Keys starting with _ are recorded
        facts, not part of the key. The default: the target's name, kernel and env vars."""
        return base_env(pipeline, target)

    def expect(self, n: int) -> None:
        """Hint: up to n more steps may be submitted (executors may start kernels early)."""

    @abc.abstractmethod
    def submit(self, job: StepJob) -> cf.Future:
        """Start the step; the future gives its StepOutcome or raises StepExecutionError."""

    @abc.abstractmethod
    def close(self, now: bool = False) -> None:
        """Release everything; now=True: cancel queued steps and kill running ones."""
