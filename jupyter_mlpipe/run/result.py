"""What a run did: its id, state and each step's record; the outputs of a step, loaded from
the store on demand."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import MlpipeError, UnknownStepError
from ..models import RunState, StepRun, StepState
from ..store.files import Store


@dataclass
class RunResult:
    """One run: its id, state, and what happened to each step."""

    run_id: str
    notebook: Path
    store_home: Path
    params: dict[str, Any]
    steps: dict[str, StepRun] = field(default_factory=dict)
    state: RunState = RunState.RUNNING
    started: float = field(default_factory=time.time)
    finished: float | None = None

    @property
    def ok(self) -> bool:
        return self.state is RunState.SUCCEEDED

    @property
    def failed(self) -> list[StepRun]:
        return [s for s in self.steps.values() if s.state is StepState.FAILED]

    def outputs(self, step: str) -> dict[str, Any]:
        """The step's output values, loaded from the store."""
        if step not in self.steps:
            raise UnknownStepError(f"step '{step}' was not part of run {self.run_id}; "
                                   "its steps are: " + ", ".join(self.steps))
        s = self.steps[step]
        if s.state not in (StepState.SUCCEEDED, StepState.REUSED):
            raise MlpipeError(f"step '{step}' has no outputs in run {self.run_id}: it {s.state}")
        store = Store(self.store_home)
        return {var: store.get_value(d) for var, d in s.outputs.items()}

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for s in self.steps.values():
            counts[str(s.state)] = counts.get(str(s.state), 0) + 1
        took = (self.finished or time.time()) - self.started
        parts = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        return f"run {self.run_id} {self.state} in {took:.1f}s ({parts})"
