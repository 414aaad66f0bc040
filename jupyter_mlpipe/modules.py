"""Versioned steps shared between notebooks (Azure ML's modules), so good code is reused.

Publish a step's code to a registry folder, resolve `%%step NAME --module N[@V]` into that
code, and manage versions (default, deprecated, disabled).

Registry layout (default `~/.mlpipe/modules`, or `$MLPIPE_MODULES`):
  <name>/<version>.json   body, the prelude statements it needs, inputs, outputs, parameters
  <name>/index.json       {"default": version or null, "status": {version: state}}
A published version never changes: publishing other code under the same version fails.

`load_pipeline` and `pipeline_from_json` are the loaders every caller uses: the notebook as
notebook.py parses it, with `--module` steps turned into their published code.
"""
from __future__ import annotations

import json
import os
import re
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

from .analysis import prelude_closure
from .errors import MlpipeError, StepDefinitionError, cell_label
from .models import PipelineSpec, StepSpec
from .notebook import parse_pipeline, read_notebook_json, with_body

VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
STATES = ("active", "deprecated", "disabled")


def registry() -> Path:
    return Path(os.environ.get("MLPIPE_MODULES") or "~/.mlpipe/modules").expanduser()


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


def split_ref(ref: str) -> tuple[str, str | None]:
    name, _, version = ref.partition("@")
    return name, version or None


def publish(notebook: str | Path, step: str, name: str, version: str,
            description: str = "") -> dict:
    """Store step `step` of `notebook` as module `name@version`."""
    if not NAME.match(name):
        raise MlpipeError(f"'{name}' is not a valid module name: letters, digits, '_', '.', '-'")
    if not VERSION.match(version) or "@" in version:
        raise MlpipeError(f"'{version}' is not a valid version: e.g. 1, 1.2.0, 2024-01")
    spec = load_pipeline(notebook)
    s = spec.step(step)
    if s.module:
        raise MlpipeError(f"step '{step}' already uses module {s.module}; publish its source")
    closure = prelude_closure(spec.prelude, set(s.free_names))
    used = set(s.free_names) | {n for st in closure for n in st.uses}
    record = {
        "name": name, "version": version, "description": description,
        "body": s.body, "prelude": [st.source for st in closure],
        "inputs": list(s.inputs), "outputs": list(s.outputs),
        "reads": list(s.reads), "writes": list(s.writes),
        "parameters": {n: v for n, v in spec.parameters.items() if n in used},
        "source": {"notebook": str(spec.path), "step": step}, "published_at": time.time(),
    }
    path = registry() / name / f"{version}.json"
    if path.is_file():
        old = json.loads(path.read_text())
        same = all(old.get(k) == record[k] for k in ("body", "prelude", "inputs", "outputs",
                                                       "reads", "writes", "parameters"))
        if same:
            return old
        raise MlpipeError(f"module {name}@{version} is already published with other code; "
                          "versions never change: publish it as a new version")
    _write(path, record)
    index = _index(name)
    index["status"][version] = "active"
    _write(registry() / name / "index.json", index)
    return record


def default_version(name: str) -> str | None:
    index = _index(name)
    if index.get("default"):
        return index["default"]
    for state in ("active", "deprecated"):  # newest active, else newest deprecated
        usable = [r["version"] for r in _versions(name)
                  if index["status"].get(r["version"], "active") == state]
        if usable:
            return usable[-1]
    return None


def resolve(ref: str) -> tuple[dict, list[str]]:
    """The record for `N@V` (or N's default version) and warnings; refuses disabled ones."""
    name, version = split_ref(ref)
    if not (registry() / name).is_dir():
        raise StepDefinitionError(f"--module {ref}: no module '{name}' in {registry()} "
                                  "(`mlpipe module ls` lists them; MLPIPE_MODULES sets the folder)")
    version = version or default_version(name)
    path = registry() / name / f"{version}.json"
    if version is None or not path.is_file():
        status = _index(name)["status"]
        known = ", ".join(f"{r['version']} ({status.get(r['version'], 'active')})"
                          for r in _versions(name)) or "none"
        if version is None:
            raise StepDefinitionError(f"--module {ref}: every version of '{name}' is disabled "
                                      f"(published: {known}); enable one with "
                                      f"`mlpipe module enable {name}@VERSION`")
        raise StepDefinitionError(f"--module {ref}: module '{name}' has no version "
                                  f"'{version}' (published: {known})")
    state = _index(name)["status"].get(version, "active")
    if state == "disabled":
        raise StepDefinitionError(
            f"--module {ref}: {name}@{version} is disabled and cannot run. Use another version "
            f"(`mlpipe module ls {name}`), or re-enable it with "
            f"`mlpipe module enable {name}@{version}`")
    notes = []
    if state == "deprecated":
        notes.append(f"module {name}@{version} is deprecated" + (
            f"; the default version is {default_version(name)}"
            if default_version(name) not in (None, version) else ""))
    return json.loads(path.read_text()), notes


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


def set_state(ref: str, state: str) -> None:
    name, version = split_ref(ref)
    if state not in STATES:
        raise MlpipeError(f"unknown state '{state}'")
    if version is None or not (registry() / name / f"{version}.json").is_file():
        raise MlpipeError(f"no module version '{ref}': give NAME@VERSION "
                          "(`mlpipe module ls` lists them)")
    index = _index(name)
    index["status"][version] = state
    if state == "disabled" and index.get("default") == version:
        index["default"] = None
    _write(registry() / name / "index.json", index)


def set_default(ref: str) -> None:
    name, version = split_ref(ref)
    if version is None or not (registry() / name / f"{version}.json").is_file():
        raise MlpipeError(f"no module version '{ref}': give NAME@VERSION")
    index = _index(name)
    if index["status"].get(version) == "disabled":
        raise MlpipeError(f"{ref} is disabled; enable it before making it the default")
    index["default"] = version
    _write(registry() / name / "index.json", index)


def list_modules(name: str | None = None) -> list[dict]:
    root = registry()
    names = [name] if name else sorted(p.name for p in root.iterdir() if p.is_dir()) \
        if root.is_dir() else []
    rows = []
    for n in names:
        index, default = _index(n), default_version(n)
        for r in _versions(n):
            rows.append({"name": n, "version": r["version"],
                         "state": index["status"].get(r["version"], "active"),
                         "default": r["version"] == default, "inputs": r["inputs"],
                         "outputs": r["outputs"], "published_at": r["published_at"],
                         "description": r.get("description", "")})
    return rows
