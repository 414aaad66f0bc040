"""Published pipelines (Azure ML's published pipelines): a notebook's pipeline frozen as a named
version, run later with parameters (over REST) whatever happens to the notebook since.

The registry folder (versioned.py, as for modules; default `~/.mlpipe/pipelines`, or
`$MLPIPE_PIPELINES`) keeps each version's frozen notebook (code cells, no outputs), its path and
its parameters schema. A frozen version runs its own code against the notebook's folder (data, local modules) and
store, so it reuses every step result the notebook already has. Versions never change.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

from ..errors import StepDefinitionError, UnknownStepError
from ..models import PipelineSpec
from ..pipeline.load import load_pipeline, pipeline_from_json
from ..pipeline.notebook import read_notebook_json
from ..run.result import RunResult
from ..run.runner import RunOptions, run_pipeline
from ..pipeline.registry import VersionedRegistry, split_ref


class UnknownPipelineError(UnknownStepError):
    """No published pipeline (or version) by that name (HTTP 404)."""


REGISTRY = VersionedRegistry("MLPIPE_PIPELINES", "~/.mlpipe/pipelines", "pipeline",
                             "mlpipe pipelines", unknown=UnknownPipelineError)


def _frozen(nb: dict) -> dict:
    """The notebook as it runs: cells without outputs or execution counts."""
    cells = [{k: v for k, v in c.items() if k not in ("outputs", "execution_count")}
             for c in nb.get("cells", [])]
    return {**nb, "cells": cells}


def parameters_schema(spec: PipelineSpec) -> dict[str, dict[str, Any]]:
    return {n: {"default": v, "type": type(v).__name__} for n, v in spec.parameters.items()}


def publish_pipeline(notebook: str | os.PathLike, name: str, version: str | None = None,
                     description: str = "") -> dict:
    """Freeze the notebook's pipeline as `name@version` (default: the next whole number)."""
    REGISTRY.check_name(name)
    path = Path(notebook).resolve()
    spec = load_pipeline(path)
    if version is None:
        numbers = [int(r["version"]) for r in REGISTRY.versions(name) if r["version"].isdigit()]
        version = str(max(numbers, default=0) + 1)
    record = {"name": name, "version": version, "description": description,
              "notebook": str(path), "frozen": _frozen(read_notebook_json(path)),
              "parameters": json.loads(json.dumps(parameters_schema(spec), default=repr)),
              "steps": [s.name for s in spec.steps], "published_at": time.time()}
    return REGISTRY.publish(record, lambda old, new: (old["frozen"], old["notebook"])
                            == (new["frozen"], new["notebook"]))


def resolve_pipeline(ref: str) -> dict:
    """The record of `N@V`, or of N's default version; refuses disabled versions."""
    name, version = split_ref(ref)
    REGISTRY.check_name(name)  # a name too long for the disk is a 400, not an OSError
    if version is not None:
        REGISTRY.check_version(version)
    if not REGISTRY.exists(name):
        raise UnknownPipelineError(f"no published pipeline '{name}' (`mlpipe publish NB "
                                   "--name N` publishes one; GET /mlpipe/api/pipelines lists)")
    version = version or REGISTRY.default_version(name)
    if version is None:
        raise UnknownPipelineError(f"every version of pipeline '{name}' is disabled; enable "
                                   f"one with `mlpipe pipelines enable {name}@VERSION`")
    if not REGISTRY.has(name, version):
        raise UnknownPipelineError(f"pipeline '{name}' has no usable version '{version}'")
    if REGISTRY.state(name, version) == "disabled":
        raise StepDefinitionError(f"pipeline {name}@{version} is disabled; enable it with "
                                  f"`mlpipe pipelines enable {name}@{version}`")
    return REGISTRY.record(name, version)


def frozen_spec(record: dict) -> PipelineSpec:
    """The published pipeline, running in its notebook's folder with its store."""
    return pipeline_from_json(record["frozen"], Path(record["notebook"]))


def run_published(ref: str, options: RunOptions | None = None) -> RunResult:
    record = resolve_pipeline(ref)
    return run_pipeline(frozen_spec(record), dataclasses.replace(
        options or RunOptions(), kind="published",
        trigger=f"published {record['name']}@{record['version']}"))


def list_pipelines() -> list[dict]:
    return [{"name": r["name"], "version": r["version"], "state": state, "default": default,
             "notebook": r["notebook"], "parameters": r["parameters"], "steps": r["steps"],
             "published_at": r["published_at"], "description": r["description"]}
            for r, state, default in REGISTRY.listing()]
