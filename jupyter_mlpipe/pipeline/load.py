"""Load a notebook as a pipeline: the notebook as notebook.py parses it, with each
`%%step NAME --module N[@V]` turned into the published code it names.

`load_pipeline` and `pipeline_from_json` are the loaders every door uses (CLI, API, server,
magic, automation). Published steps live in a registry folder (registry.py; default
`~/.mlpipe/modules`, or `$MLPIPE_MODULES`); automation/modules.py publishes to it.
"""
from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import MlpipeError, StepDefinitionError, cell_label
from ..models import PipelineSpec, StepSpec
from .notebook import parse_pipeline, read_notebook_json, with_body
from .registry import VersionedRegistry, split_ref

REGISTRY = VersionedRegistry("MLPIPE_MODULES", "~/.mlpipe/modules", "module", "mlpipe module")


def resolve(ref: str) -> tuple[dict, list[str]]:
    """The record for `N@V` (or N's default version) and warnings; refuses disabled ones."""
    name, version = split_ref(ref)
    try:  # before the name reaches the disk (a 200-character one is an OSError there)
        REGISTRY.check_name(name)
        if version is not None:
            REGISTRY.check_version(version)
    except MlpipeError as exc:
        raise StepDefinitionError(f"--module {ref[:120]}: {exc}") from None
    if not REGISTRY.exists(name):
        raise StepDefinitionError(f"--module {ref}: no module '{name}' in {REGISTRY.root} "
                                  "(`mlpipe module ls` lists them; MLPIPE_MODULES sets the folder)")
    version = version or REGISTRY.default_version(name)
    if version is None or not REGISTRY.has(name, version):
        known = ", ".join(f"{r['version']} ({state})"
                          for r, state, _ in REGISTRY.listing(name)) or "none"
        if version is None:
            raise StepDefinitionError(f"--module {ref}: every version of '{name}' is disabled "
                                      f"(published: {known}); enable one with "
                                      f"`mlpipe module enable {name}@VERSION`")
        raise StepDefinitionError(f"--module {ref}: module '{name}' has no version "
                                  f"'{version}' (published: {known})")
    state = REGISTRY.state(name, version)
    if state == "disabled":
        raise StepDefinitionError(
            f"--module {ref}: {name}@{version} is disabled and cannot run. Use another version "
            f"(`mlpipe module ls {name}`), or re-enable it with "
            f"`mlpipe module enable {name}@{version}`")
    notes = []
    if state == "deprecated":
        default = REGISTRY.default_version(name)
        notes.append(f"module {name}@{version} is deprecated" + (
            f"; the default version is {default}" if default not in (None, version) else ""))
    return REGISTRY.record(name, version), notes


def module_code(record: dict, parameters: dict[str, Any]) -> str:
    """The step's code: the prelude it needs, defaults of parameters the notebook lacks, body."""
    lines = list(record["prelude"])
    for n, v in record.get("parameters", {}).items():
        if n not in parameters:
            lines.append(f"{n} = {v!r}")
    header = "\n".join(lines)
    return (header + "\n" if header else "") + record["body"]


def use_module(step: StepSpec, parameters: dict[str, Any]) -> tuple[StepSpec, list[str]]:
    """`--module N[@V]`: the published code becomes the step's body (and so its key)."""
    if step.module is None:  # not a module step: nothing to resolve
        return step, []
    try:
        record, notes = resolve(step.module)
    except StepDefinitionError as exc:
        raise StepDefinitionError(exc.message, cell=step.cell, step=step.name) from None
    if step.normalized_body.strip():  # a comment-only body (IPython needs one) is fine
        notes.append(f"step '{step.name}' ({cell_label(step.cell)}) uses --module {step.module}; "
                     "the code in its cell is ignored")
    step = with_body(step, module_code(record, parameters), f"module {step.module}")
    declared: dict[str, Any] = {}
    for opt in ("inputs", "outputs"):  # the cell's own --in/--out win, else the module's
        if not getattr(step, f"{opt}_declared") and record[opt]:
            declared[opt], declared[f"{opt}_declared"] = tuple(record[opt]), True
    step = replace(step, **declared, reads=step.reads or tuple(record.get("reads", [])),
                   writes=step.writes or tuple(record.get("writes", [])))
    for n in notes:
        warnings.warn(n, stacklevel=3)
    return step, notes


def pipeline_from_json(nb: dict, path: Path) -> PipelineSpec:
    """The pipeline of notebook JSON, `--module` steps included; StepDefinitionError if bad."""
    return parse_pipeline(nb, path, use_module)


def load_pipeline(path: str | Path) -> PipelineSpec:
    """The pipeline of the notebook at `path`, `--module` steps included."""
    path = Path(path).resolve()
    return pipeline_from_json(read_notebook_json(path), path)
