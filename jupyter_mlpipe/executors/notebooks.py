"""The notebooks a step runs as: a warm-up part (parameters, prelude) and the step's own part.

warm-up: start recording what the process uses (in_kernel.begin_prelude), the parameters cell
         (papermill injects run parameters after it) and the prelude cells above the first
         step, which an executor may run ahead of time, before it knows which step comes;
step:    the prelude cells between the first step and this one (each step sees the cells
         above it, as Run All does; never one below it), load inputs from the store, the
         body, save outputs to the store (in_kernel.py).

nbformat is imported in the functions: it costs about 1 s (nbformat -> jsonschema, docs/performance.md),
and a warm re-run, which runs no step, loads the executor classes only to probe their targets.
"""
from __future__ import annotations

from typing import Any

from ..models import PipelineSpec
from . import heavy
from .base import STEP_TAG, StepJob

KERNEL_HELPER = "_mlpipe_kernel"


def code_cell(source: str, tags: list[str] | None = None) -> Any:
    heavy.import_nbformat()  # heavy: see the module docstring
    import nbformat

    cell = nbformat.v4.new_code_cell(source)
    if tags:
        cell.metadata["tags"] = tags
    return cell


def _new_notebook(kernel_name: str) -> Any:
    heavy.import_nbformat()  # heavy: see the module docstring
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": kernel_name, "display_name": kernel_name,
                                 "language": "python"}
    return nb


def _first_step_cell(pipeline: PipelineSpec) -> int:
    return min((s.cell for s in pipeline.steps), default=1 << 30)


def _prelude_cell(cell: int, src: str) -> Any:
    c = code_cell(src, ["mlpipe-prelude"])
    c.metadata["mlpipe"] = {"notebook_cell": cell}
    return c


def warmup_notebook(pipeline: PipelineSpec, record: bool = True) -> Any:
    """Parameters + the prelude above every step + the in-kernel helper import: independent
    of the step. `record`: start recording first (a kernel with jupyter_mlpipe installed)."""
    nb = _new_notebook(pipeline.kernel_name)
    nb.metadata["language_info"] = {"name": "python"}
    if record:  # first: what the parameters and prelude cells read counts for every step
        nb.cells.append(code_cell(f"import jupyter_mlpipe.interactive.in_kernel as "
                                  f"{KERNEL_HELPER}; {KERNEL_HELPER}.begin_prelude()",
                                  ["mlpipe-internal"]))
    nb.cells.append(code_cell(pipeline.parameters_source or "# no parameters", ["parameters"]))
    first = _first_step_cell(pipeline)
    for cell, src in pipeline.prelude_cells:
        if cell < first:
            nb.cells.append(_prelude_cell(cell, src))
    nb.cells.append(code_cell(f"import jupyter_mlpipe.interactive.in_kernel as {KERNEL_HELPER}",
                              ["mlpipe-internal"]))
    return nb


def step_notebook(job: StepJob, kernel_name: str, pipeline: PipelineSpec | None = None,
                  kernel_log: bool = True) -> Any:
    """The prelude cells between the first step and this one (of `pipeline`), load inputs,
    run the body, save outputs. `kernel_log` False: the kernel writes no live log (the
    executor writes it from the kernel's messages: live_log.py)."""
    s = job.step
    nb = _new_notebook(kernel_name)
    nb.metadata["mlpipe"] = {"step": s.name, "key": job.key, "run_id": job.run_id}
    if pipeline is not None:
        first = _first_step_cell(pipeline)
        for cell, src in pipeline.prelude_cells:
            if first < cell < s.cell:
                nb.cells.append(_prelude_cell(cell, src))
    home = str(job.store_home)
    # the step's printed output as it is printed, for the pipeline view's live log; not on a
    # worker whose run folder is its working directory (the project folder, maybe)
    log = (str(job.run_dir / f"{s.name}.log")
           if kernel_log and job.run_dir.is_absolute() else None)
    begin = (f"{KERNEL_HELPER}.begin({home!r}, {job.run_id!r}, {s.name!r}, "
             f"{list(s.writes)!r}, {list(job.imported)!r}, log={log!r})")
    load = "\n".join([begin] + [
        f"{var} = {KERNEL_HELPER}.load({home!r}, {d!r})" for var, d in job.inputs.items()])
    nb.cells.append(code_cell(load, ["mlpipe-inputs"]))
    body = code_cell(s.body, [STEP_TAG])
    body.metadata["mlpipe"] = {"notebook_cell": s.cell}
    nb.cells.append(body)
    nb.cells.append(code_cell(
        f"{KERNEL_HELPER}.save({home!r}, {s.name!r}, globals(), {list(s.outputs)!r}, "
        f"{s.outputs_declared!r}, {list(s.writes)!r}, {str(job.result_path)!r})",
        ["mlpipe-outputs"]))
    return nb
