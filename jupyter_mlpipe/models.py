"""Frozen value objects shared by every layer: pipeline and step specs, states, run records."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UnknownStepError


class StepState(str, enum.Enum):
    """What a step is or did. Values are what the CLI, REST API and panel show."""

    CACHED = "cached"  # a stored result matches the current key
    STALE = "stale"  # would execute; `reasons` says why
    PENDING = "pending"  # waiting for upstream steps in a run
    RUNNING = "running"
    SUCCEEDED = "succeeded"  # executed in this run
    REUSED = "reused"  # restored from the store in this run
    FAILED = "failed"
    SKIPPED = "skipped"  # upstream failed, or not selected
    CANCELLED = "cancelled"  # the run was cancelled or interrupted before this step finished

    def __str__(self) -> str:  # so f-strings print "cached", not "StepState.CACHED"
        return self.value


FINAL_STATES = frozenset({StepState.SUCCEEDED, StepState.REUSED, StepState.FAILED,
                          StepState.SKIPPED, StepState.CANCELLED})


class RunState(str, enum.Enum):
    """What a whole run is or did. Values are what the history, CLI and REST API show."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"  # its cancel event was set (the panel's Cancel button)
    INTERRUPTED = "interrupted"  # Ctrl-C or SIGTERM

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class StepSpec:
    """One `%%step` cell, with inputs/outputs resolved (declared or inferred) and the
    static analysis of its body, done once when the notebook is read."""

    name: str
    cell: int  # index of the cell in the notebook
    cell_id: str | None
    body: str  # the cell without its magic line
    magic_line: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    free_names: tuple[str, ...]  # names the body reads before binding them, in order
    bound_names: tuple[str, ...]  # top-level names the body binds, imports excluded
    imported_modules: tuple[str, ...]  # dotted names of the modules the body imports
    normalized_body: str  # the body as the cache key hashes it (no comments or layout)
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    target: str = "local"
    reuse: bool = True
    inputs_declared: bool = True
    outputs_declared: bool = True
    module: str | None = None
    timeout: float | None = None  # seconds (--timeout); None: [run] timeout of mlpipe.toml
    retries: int | None = None  # more tries after a failure (--retries); None: [run] retries
    nondeterministic: bool = False  # random on purpose: `mlpipe verify` reports, not fails


@dataclass(frozen=True, slots=True)
class PreludeStatement:
    """One top-level statement of a prelude cell: what it defines, uses and imports."""

    cell: int
    source: str  # normalized
    defines: frozenset[str]
    uses: frozenset[str]
    imported_modules: tuple[str, ...]  # dotted names of the modules it imports


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
    parameter_expressions: frozenset[str] = frozenset()  # defaults that are not literals
    parameter_reads: dict[str, frozenset[str]] = field(default_factory=dict)  # by each default

    @property
    def root(self) -> Path:
        return self.path.parent

    def prelude_above(self, step: StepSpec) -> tuple[PreludeStatement, ...]:
        """The prelude statements a step sees: those in cells above it, as Run All runs them
        (a plain cell below a step cannot change it)."""
        return tuple(st for st in self.prelude if st.cell < step.cell)

    def prelude_cells_above(self, step: StepSpec) -> tuple[tuple[int, str], ...]:
        return tuple((i, src) for i, src in self.prelude_cells if i < step.cell)

    def step(self, name: str) -> StepSpec:
        for s in self.steps:
            if s.name == name:
                return s
        raise UnknownStepError(
            f"no step named '{name}' in {self.path.name}; its steps are: "
            + ", ".join(s.name for s in self.steps))


@dataclass(frozen=True, slots=True)
class StepStatus:
    """`mlpipe status` for one step: cached, or stale with human reasons."""

    name: str
    state: StepState
    reasons: tuple[str, ...] = ()
    key: str | None = None
    computed_at: float | None = None
    duration: float | None = None
    # stale only: True when its own key changed (it will re-run); False when only upstream
    # changed (it may be reused if upstream's new outputs equal the old: early cutoff)
    certain: bool = True

    @property
    def verdict(self) -> str:
        if self.state is StepState.CACHED:
            return "reused"
        return "will re-run" if self.certain else "may re-run"

    def describe(self) -> str:
        if self.state is StepState.CACHED:
            return "cached"
        return f"{self.state}: " + "; ".join(self.reasons) if self.reasons else str(self.state)


@dataclass(slots=True)
class StepRun:
    """What happened to one step in one run (mutable while the run goes on)."""

    name: str
    state: StepState = StepState.PENDING
    key: str | None = None
    started: float | None = None
    finished: float | None = None
    reused: bool = False
    saved_seconds: float | None = None  # for reuse: how long the stored result took to compute
    error: str | None = None
    traceback: str | None = None
    notebook: str | None = None  # executed step notebook
    outputs: dict[str, str] = field(default_factory=dict)  # variable -> artifact digest
    reasons: tuple[str, ...] = ()
    body_seconds: float | None = None  # time in the step's own cell, for overhead figures
    exec_seconds: float | None = None  # from getting a ready kernel to outputs stored
    attempts: int = 1  # tries so far (--retries): 1 unless an earlier try failed
    max_attempts: int = 1  # 1 + the step's retries
    attempt_errors: list[str] = field(default_factory=list)  # why each earlier try failed

    @property
    def duration(self) -> float | None:
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started
