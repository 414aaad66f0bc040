"""papermill as the executors use it: run a notebook on a started kernel, keep one executed
notebook per step, and turn papermill's errors into the step's own.

The papermill engine `mlpipe` (engine.py) is registered once, by the `papermill.engine` entry
point in pyproject.toml. papermill and nbformat are imported in the functions: they cost about
1.2 s (nbformat -> jsonschema, docs/performance.md), and a warm re-run, which runs no step, loads the
executor classes only to probe their targets.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ..pipeline.analysis import strip_ansi
from ..pipeline.durations import fmt_duration
from ..errors import StepExecutionError
from . import heavy
from .base import StepJob

ENGINE = "mlpipe"  # the entry point's name (pyproject.toml: papermill.engine)


def run_papermill(nb: Any, out: Path | None, kernel_name: str, km, kc,
                  parameters: dict[str, Any] | None = None,
                  timeout: float | None = None, log: Any = None) -> Any:
    """papermill on a started, connected kernel (MlpipeEngine); out=None keeps it in memory.
    `timeout`: seconds each cell may run (nbclient raises CellTimeoutError past it).
    `log`: a file-like object given the printed output as it arrives (live_log.py)."""
    heavy.import_notebooks()  # heavy: see the module docstring
    import papermill

    executed = papermill.execute_notebook(
        nb, str(out) if out else None, parameters=parameters or None, engine_name=ENGINE,
        kernel_name=kernel_name, km=km, kc=kc, progress_bar=False,
        request_save_on_cell_execute=False, log_output=False, execution_timeout=timeout,
        stdout_file=log, stderr_file=log)
    return forget_input(executed)


def forget_input(nb: Any) -> Any:
    """papermill records its input as metadata; given a notebook in memory, that is a copy of it."""
    meta = nb.get("metadata", {}).get("papermill")
    if meta is not None and not isinstance(meta.get("input_path"), (str, type(None))):
        meta["input_path"] = None
    return nb


def save_combined(warm: Any, out: Path, executed: Any = None) -> None:
    """Keep one executed notebook per step: warm-up cells, then the step's own cells."""
    heavy.import_nbformat()  # heavy: see the module docstring
    import nbformat

    if executed is None:
        try:
            executed = nbformat.read(out, as_version=4)
        except (OSError, ValueError):
            return
    if warm is not None:
        executed.cells = list(warm.cells) + list(executed.cells)
    nbformat.write(forget_input(executed), out)


# Errors that jupyter_mlpipe raises in its own cells (saving outputs): their message names
# the variable and the fix, and a traceback would only show our frames.
OWN_ERRORS = frozenset({"UnpicklableOutputError", "InputChangedError"})


def error_from_papermill(step: str, exc: Exception, notebook: str) -> StepExecutionError:
    """The cell's own exception and traceback, without papermill's wrapping."""
    tb = "\n".join(strip_ansi(line) for line in getattr(exc, "traceback", []) or [])
    if getattr(exc, "ename", None) in OWN_ERRORS:
        tb = ""
    evalue = strip_ansi(getattr(exc, "evalue", str(exc)))
    if not evalue and getattr(exc, "ename", None) == "CellExecutionError":
        # IPython's usage errors (an unknown %magic, bad magic arguments) print to stderr and
        # leave no error output: name the cell, so the message is not empty
        source = (getattr(exc, "source", "") or "").strip().splitlines()
        evalue = ("a cell failed with an IPython usage error (an unknown %magic or bad magic "
                  f"arguments?), which shows no traceback: {' / '.join(source[:3])}")
    return StepExecutionError(step, getattr(exc, "ename", type(exc).__name__), evalue, tb,
                              notebook)


def timeout_error(step: str, timeout: float | None, notebook: str, how: str) -> StepExecutionError:
    """A step stopped at its --timeout; `how` says what stopped it."""
    return StepExecutionError(
        step, "TimeoutError", f"timed out after {fmt_duration(timeout or 0)} ({how}). Make it "
        "faster, or raise its --timeout (or [run] timeout in mlpipe.toml)", notebook=notebook)


def warmup_error(job: StepJob, error: Exception) -> StepExecutionError:
    """A failure of the parameters or prelude cells, reported on the step that needed them."""
    # papermill raised it only if papermill is imported: a run stopping while it still
    # imports (~1 s under load) must not wait for that import to report a stopped kernel
    raised_by = sys.modules.get("papermill.exceptions")
    if raised_by is not None and isinstance(error, raised_by.PapermillExecutionError):
        err = error_from_papermill(job.step.name, error, "")
        return StepExecutionError(
            job.step.name, err.ename,
            f"{err.evalue} (in the parameters or prelude cells, which run before every step)",
            err.traceback)
    return StepExecutionError(job.step.name, type(error).__name__, str(error))
