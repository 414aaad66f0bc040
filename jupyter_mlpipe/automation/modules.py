"""Versioned steps shared between notebooks (Azure ML's modules), so good code is reused.

Publish a step's code to a registry folder, resolve `%%step NAME --module N[@V]` into that
code, and manage versions (default, deprecated, disabled).

The registry folder (versioned.py; default `~/.mlpipe/modules`, or `$MLPIPE_MODULES`) keeps
each version's body, the prelude statements it needs, inputs, outputs and parameters.
A published version never changes: publishing other code under the same version fails.
"""
from __future__ import annotations

import time
from pathlib import Path

from ..pipeline.analysis import prelude_closure
from ..errors import MlpipeError

from ..pipeline.load import REGISTRY, load_pipeline

_CODE = ("body", "prelude", "inputs", "outputs", "reads", "writes", "parameters")


def publish(notebook: str | Path, step: str, name: str, version: str,
            description: str = "") -> dict:
    """Store step `step` of `notebook` as module `name@version`."""
    REGISTRY.check_name(name)
    REGISTRY.check_version(version)
    spec = load_pipeline(notebook)
    s = spec.step(step)
    if s.module:
        raise MlpipeError(f"step '{step}' already uses module {s.module}; publish its source")
    closure = prelude_closure(spec.prelude_above(s), set(s.free_names))
    used = set(s.free_names) | {n for st in closure for n in st.uses}
    record = {
        "name": name, "version": version, "description": description,
        "body": s.body, "prelude": [st.source for st in closure],
        "inputs": list(s.inputs), "outputs": list(s.outputs),
        "reads": list(s.reads), "writes": list(s.writes),
        "parameters": {n: v for n, v in spec.parameters.items() if n in used},
        "source": {"notebook": str(spec.path), "step": step}, "published_at": time.time(),
    }
    return REGISTRY.publish(record, lambda old, new: all(old.get(k) == new[k] for k in _CODE))


def list_modules(name: str | None = None) -> list[dict]:
    return [{"name": r["name"], "version": r["version"], "state": state, "default": default,
             "inputs": r["inputs"], "outputs": r["outputs"], "published_at": r["published_at"],
             "description": r.get("description", "")}
            for r, state, default in REGISTRY.listing(name)]
