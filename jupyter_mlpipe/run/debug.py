"""A step opened in place: its stored inputs and the run's parameters, in a notebook or kernel.

`mlpipe debug NB STEP`, `%mlpipe load STEP` and the panel's "Debug in notebook" share
`stored_inputs`: the digests of the inputs STEP gets now, taken from the store only. Nothing
is executed upstream: an input whose producer has no stored result (for the current code and
the run's parameters) is named with the command that makes it. The parameters are those of
the latest run of the notebook for which every input is stored (else the defaults), so a
step that failed in a `-p` run is opened with that run's values.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import NotStoredError
from ..models import PipelineSpec, StepSpec
from ..store.files import Store
from ..store.history import History
from ..targets import recorded_envs
from .plan import Planner

LOADER = "_mlpipe_load"


@dataclass(frozen=True, slots=True)
class StoredInputs:
    """What STEP would get if it ran now: input digests (and producers), parameter overrides."""

    step: StepSpec
    inputs: dict[str, str]  # variable -> artifact digest
    producers: dict[str, str]  # variable -> step that produced it
    overrides: dict[str, Any]  # parameters that differ from the notebook's defaults
    run_id: str | None  # the run whose parameters these are; None: the defaults
    store_home: Path


def _candidate_overrides(spec: PipelineSpec, history: History) -> list[tuple[str | None, dict]]:
    """The overrides of the notebook's recent runs, newest first, then the defaults."""
    seen: list[dict] = []
    out: list[tuple[str | None, dict]] = []
    for run in history.runs(str(spec.path), limit=50):
        over = {k: v for k, v in (run.get("params") or {}).items()
                if k in spec.parameters and k not in spec.parameter_expressions
                and v != spec.parameters[k]}
        if over not in seen:
            seen.append(over)
            out.append((run["run_id"], over))
    if {} not in seen:
        out.append((None, {}))
    return out


def _missing(spec: PipelineSpec, planner: Planner, step: StepSpec) -> dict[str, str] | str:
    """The step's input digests, or the first upstream step with no stored result."""
    needed = planner.graph.closure([step.name]) - {step.name}
    outputs: dict[str, dict[str, str]] = {}
    for name in planner.graph.order:
        if name not in needed:
            continue
        d = planner.decide(name, outputs)
        if d.entry is None:
            return name
        outputs[name] = d.entry["outputs"]
    return planner.input_digests(step.name, outputs)


def stored_inputs(spec: PipelineSpec, step_name: str) -> StoredInputs:
    """STEP's inputs as stored now; NotStoredError naming what is missing and the command."""
    step = spec.step(step_name)  # UnknownStepError names the notebook's steps
    store = Store.for_notebook(spec.path)
    history = History(store.home)
    try:
        env = recorded_envs(spec, store.home)
        missing: list[tuple[str, dict]] = []  # (first upstream not stored, overrides) each
        for run_id, over in _candidate_overrides(spec, history):
            planner = Planner(spec, store, history, over, env)
            found = _missing(spec, planner, step)
            if isinstance(found, dict):
                producers = dict(planner.graph.producer[step.name])
                return StoredInputs(step, found, producers, over, run_id, store.home)
            missing.append((found, over))
    finally:
        history.close()
    producer, over = missing[0]  # the newest run's parameters (the defaults if none ran)
    vars_ = [v for v, p in planner.graph.producer[step.name].items()
             if p == producer or producer in planner.graph.closure([p])]
    params = "".join(f" -p {k} {v!r}" for k, v in over.items())
    raise NotStoredError(
        f"step '{step.name}' has no stored inputs: {', '.join(repr(v) for v in vars_)} "
        f"needs step '{producer}', which has no stored result for the current code and "
        f"parameters. Nothing was executed. Run `mlpipe run {spec.path.name} --only "
        f"{producer}{params}` first, then debug '{step.name}' again.")


def parameter_values(spec: PipelineSpec, found: StoredInputs) -> dict[str, Any]:
    """The run's parameter values that can be set as values (defaults that are expressions
    are left to the parameters cell)."""
    values = {k: v for k, v in spec.parameters.items() if k not in spec.parameter_expressions}
    return {**values, **found.overrides}


def debug_notebook(spec: PipelineSpec, found: StoredInputs) -> dict:
    """The notebook (JSON) that opens STEP: parameters, prelude, inputs, body, as plain cells;
    in the order a batch step runs them."""
    step = found.step
    source = spec.parameters_source or "# no parameters"
    if found.overrides:
        source += "\n# the parameters of run " + (found.run_id or "?") + "\n" + "\n".join(
            f"{k} = {v!r}" for k, v in found.overrides.items())
    home = str(found.store_home)
    load = [f"from jupyter_mlpipe.interactive.in_kernel import load as {LOADER}"] + [
        f"{var} = {LOADER}({home!r}, {digest!r})  # stored by step '{found.producers[var]}'"
        for var, digest in found.inputs.items()]
    produced = (f"the inputs and parameters of run {found.run_id}" if found.run_id
                else "the stored inputs, with the notebook's default parameters")
    cells = [
        _markdown(f"# Debug step `{step.name}` of `{spec.path.name}`\n\nWritten by "
                  f"`mlpipe debug`: {produced}, then the prelude and the step's body as plain "
                  "cells, in the order a pipeline run runs them. Run it top to bottom and you "
                  "are inside the step. Edits here do not change the pipeline; copy fixes back "
                  f"into `{spec.path.name}`."),
        _code(source, {"tags": ["parameters"]}),
        *[_code(src, {"mlpipe": {"notebook_cell": cell}})
          for cell, src in spec.prelude_cells_above(step)],
        _code("\n".join(load), {"tags": ["mlpipe-inputs"]}),
        _code(step.body, {"mlpipe": {"notebook_cell": step.cell, "step": step.name}}),
    ]
    kernel = spec.kernel_name
    return {"nbformat": 4, "nbformat_minor": 5, "cells": cells, "metadata": {
        "kernelspec": {"name": kernel, "display_name": kernel, "language": "python"},
        "language_info": {"name": "python"},
        "mlpipe": {"debug_of": spec.path.name, "step": step.name, "run_id": found.run_id}}}


def debug_path(spec: PipelineSpec, step: str) -> Path:
    return spec.path.with_name(f"{spec.path.stem}.debug-{step}.ipynb")


def write_debug_notebook(spec: PipelineSpec, step_name: str) -> Path:
    """Write the debug notebook of STEP beside the notebook (replacing an older one)."""
    found = stored_inputs(spec, step_name)
    dest = debug_path(spec, step_name)
    from .. import atomic

    atomic.write_text(dest, json.dumps(debug_notebook(spec, found), indent=1) + "\n")
    return dest


def _code(source: str, metadata: dict) -> dict:
    return {"cell_type": "code", "execution_count": None, "id": _id(), "metadata": metadata,
            "outputs": [], "source": source}


def _markdown(source: str) -> dict:
    return {"cell_type": "markdown", "id": _id(), "metadata": {}, "source": source}


def _id() -> str:
    import secrets

    return secrets.token_hex(4)
