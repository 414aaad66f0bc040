"""Published pipelines (Azure ML's published pipelines): a notebook's pipeline frozen as a named
version, run later with parameters (over REST) whatever happens to the notebook since.

Registry layout, as modules.py keeps modules (default `~/.mlpipe/pipelines`, or
`$MLPIPE_PIPELINES`):
  <name>/<version>.json   the frozen notebook (code cells, no outputs), its path, parameters
  <name>/index.json       {"default": version or null, "status": {version: state}}
A frozen version runs its own code against the notebook's folder (data, local modules) and
store, so it reuses every step result the notebook already has. Versions never change.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from .errors import MlpipeError, StepDefinitionError, UnknownStepError
from .models import PipelineSpec
from .modules import NAME, STATES, VERSION, load_pipeline, pipeline_from_json, split_ref
from .notebook import read_notebook_json
from .runner import RunResult
from .triggers import run_triggered


class UnknownPipelineError(UnknownStepError):
    """No published pipeline (or version) by that name (HTTP 404)."""


def registry() -> Path:
    return Path(os.environ.get("MLPIPE_PIPELINES") or "~/.mlpipe/pipelines").expanduser()


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def _index(name: str) -> dict:
    p = registry() / name / "index.json"
    return json.loads(p.read_text()) if p.is_file() else {"default": None, "status": {}}


def _versions(name: str) -> list[dict]:
    folder = registry() / name
    recs = [json.loads(p.read_text()) for p in folder.glob("*.json") if p.name != "index.json"]
    return sorted(recs, key=lambda r: r["published_at"])


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
    if not NAME.match(name):
        raise MlpipeError(f"'{name}' is not a valid pipeline name: letters, digits, '_', '.', '-'")
    path = Path(notebook).resolve()
    spec = load_pipeline(path)
    if version is None:
        numbers = [int(r["version"]) for r in _versions(name) if r["version"].isdigit()]
        version = str(max(numbers, default=0) + 1)
    if not VERSION.match(version):
        raise MlpipeError(f"'{version}' is not a valid version: e.g. 1, 1.2.0, 2024-01")
    record = {"name": name, "version": version, "description": description,
              "notebook": str(path), "frozen": _frozen(read_notebook_json(path)),
              "parameters": json.loads(json.dumps(parameters_schema(spec), default=repr)),
              "steps": [s.name for s in spec.steps], "published_at": time.time()}
    dest = registry() / name / f"{version}.json"
    if dest.is_file():
        old = json.loads(dest.read_text())
        if old["frozen"] == record["frozen"] and old["notebook"] == record["notebook"]:
            return old
        raise MlpipeError(f"pipeline {name}@{version} is already published with other code; "
                          "versions never change: publish it as a new version")
    _write(dest, record)
    index = _index(name)
    index["status"][version] = "active"
    _write(registry() / name / "index.json", index)
    return record


def default_version(name: str) -> str | None:
    index = _index(name)
    if index.get("default"):
        return index["default"]
    usable = [r["version"] for r in _versions(name)
              if index["status"].get(r["version"], "active") != "disabled"]
    return usable[-1] if usable else None


def resolve_pipeline(ref: str) -> dict:
    """The record of `N@V`, or of N's default version; refuses disabled versions."""
    name, version = split_ref(ref)
    if not NAME.match(name) or not (registry() / name).is_dir():
        raise UnknownPipelineError(f"no published pipeline '{name}' (`mlpipe publish NB "
                                   "--name N` publishes one; GET /mlpipe/api/pipelines lists)")
    version = version or default_version(name)
    if version is None:
        raise UnknownPipelineError(f"every version of pipeline '{name}' is disabled; enable "
                                   f"one with `mlpipe pipelines enable {name}@VERSION`")
    path = registry() / name / f"{version}.json"
    if version is None or not VERSION.match(version) or not path.is_file():
        raise UnknownPipelineError(f"pipeline '{name}' has no usable version '{version}'")
    if _index(name)["status"].get(version) == "disabled":
        raise StepDefinitionError(f"pipeline {name}@{version} is disabled; enable it with "
                                  f"`mlpipe pipelines enable {name}@{version}`")
    return json.loads(path.read_text())


def frozen_spec(record: dict) -> PipelineSpec:
    """The published pipeline, running in its notebook's folder with its store."""
    return pipeline_from_json(record["frozen"], Path(record["notebook"]))


def run_published(ref: str, params: dict[str, Any] | None = None, **options: Any) -> RunResult:
    record = resolve_pipeline(ref)
    return run_triggered(frozen_spec(record), f"published {record['name']}@{record['version']}",
                         params=params, kind="published", **options)


def set_state(ref: str, state: str) -> None:
    name, version = split_ref(ref)
    if state not in STATES:
        raise MlpipeError(f"unknown state '{state}'")
    if version is None or not (registry() / name / f"{version}.json").is_file():
        raise UnknownPipelineError(f"no published version '{ref}': give NAME@VERSION")
    index = _index(name)
    index["status"][version] = state
    if state == "disabled" and index.get("default") == version:
        index["default"] = None
    _write(registry() / name / "index.json", index)


def set_default(ref: str) -> None:
    name, version = split_ref(ref)
    if version is None or not (registry() / name / f"{version}.json").is_file():
        raise UnknownPipelineError(f"no published version '{ref}': give NAME@VERSION")
    index = _index(name)
    if index["status"].get(version) == "disabled":
        raise MlpipeError(f"{ref} is disabled; enable it before making it the default")
    index["default"] = version
    _write(registry() / name / "index.json", index)


def list_pipelines() -> list[dict]:
    root = registry()
    rows = []
    for name in sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        index, default = _index(name), default_version(name)
        for r in _versions(name):
            rows.append({"name": name, "version": r["version"],
                         "state": index["status"].get(r["version"], "active"),
                         "default": r["version"] == default, "notebook": r["notebook"],
                         "parameters": r["parameters"], "steps": r["steps"],
                         "published_at": r["published_at"], "description": r["description"]})
    return rows
