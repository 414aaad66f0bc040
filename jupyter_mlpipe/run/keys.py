"""The cache key: a digest of everything that can change a step's results, and the
human reasons why a stored result no longer matches ("why stale")."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..pipeline.analysis import module_files, prelude_closure
from ..models import PipelineSpec, PreludeStatement, StepSpec
from ..pipeline.parameters import effective_values, with_reads
from ..store import serialize
from ..store.files import CACHE_FORMAT_VERSION
from ..store.history import History
from ..store.reads import path_digest


def _h(text: str) -> str:
    return serialize.hasher().update(text.encode()).hexdigest()


def _label(st: PreludeStatement) -> str:
    first = st.source.splitlines()[0] if st.source else ""
    return first if len(first) <= 60 else first[:57] + "..."


class KeyContext:
    """What keys of one pipeline share: the spec, parameter values, digest caches.

    `params`: the overrides of a batch run, or every live value in a kernel; the others are
    computed from the parameters cell, so both give the same key for the same values."""

    def __init__(self, spec: PipelineSpec, params: dict[str, Any] | None = None,
                 history: History | None = None, env: dict[str, dict] | None = None,
                 prelude_override: dict[str, str] | None = None):
        self.spec = spec
        self.params = effective_values(spec, params or {})
        self.history = history
        self.env = env or {}
        self._reads: dict[str, str] = {}
        self._modules: dict[Path, str] = {}
        self.prelude_override = prelude_override or {}  # saved source -> live source

    def read_digest(self, rel: str, step: str) -> str:
        """A file's or folder's digest, stat-cached across runs and cached within this one."""
        if rel not in self._reads:
            self._reads[rel] = path_digest(rel, self.spec.root, self.history, step)
        return self._reads[rel]

    def forget_digests(self) -> None:
        """After a step executed: files and modules may have changed since they were hashed
        (the stat cache under read_digest still saves re-reading unchanged ones)."""
        self._reads.clear()
        self._modules.clear()

    def module_digest(self, path: Path) -> str:
        """A project module by its AST: comment and layout edits do not re-run its users."""
        if path not in self._modules:
            self._modules[path] = serialize.source_digest(path)
        return self._modules[path]

    def _param_digest(self, name: str, value: Any) -> str:
        try:
            return serialize.digest_value(value)
        except Exception:  # noqa: BLE001 - e.g. a lock or module: it stands by its source
            return _h(f"unpicklable {type(value).__qualname__}: "
                      + str(self.spec.parameters.get(name, repr(value))))

    def static_parts(self, step: StepSpec) -> dict[str, Any]:
        """Every key component except input digests (known only once upstream has run)."""
        closure = prelude_closure(self.spec.prelude_above(step), set(step.free_names))
        used = set(step.free_names) | {n for st in closure for n in st.uses}
        read = with_reads(used & set(self.params), self.spec.parameter_reads)
        params = {n: self.params[n] for n in sorted(read)}
        modules: dict[str, str] = {}
        root = self.spec.root
        for imports in [step.imported_modules] + [st.imported_modules for st in closure]:
            for f in module_files(imports, root):
                modules[f.relative_to(root.resolve()).as_posix()] = self.module_digest(f)
        prelude = [[_label(st), _h(self.prelude_override.get(st.source, st.source))]
                   for st in closure]
        return {
            "version": CACHE_FORMAT_VERSION,
            "body": _h(step.normalized_body),
            "options": {"in": sorted(step.inputs), "out": sorted(step.outputs),
                        "reads": list(step.reads), "writes": list(step.writes)},
            "env": self.env.get(step.target, {"target": step.target,
                                              "kernel": self.spec.kernel_name}),
            "reads": {p: self.read_digest(p, step.name) for p in step.reads},
            "prelude": prelude,
            "modules": modules,
            "params": {n: self._param_digest(n, v) for n, v in params.items()},
            "param_values": {n: _short_repr(v) for n, v in params.items()},
        }


def _short_repr(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 40 else r[:37] + "..."


def make_key(static: dict[str, Any], inputs: dict[str, str]) -> tuple[str, dict[str, Any]]:
    components = {**static, "inputs": dict(sorted(inputs.items()))}
    hashed = {k: v for k, v in components.items() if k != "param_values"}
    return _h(json.dumps(hashed, sort_keys=True)), components


def why_stale(old: dict | None, new: dict, producers: dict[str, str] | None = None) -> list[str]:
    """Human reasons a step's new key differs from the last recorded one."""
    if old is None:
        return ["never run"]
    reasons: list[str] = []
    if old.get("version") != new.get("version"):
        return ["cache format changed"]
    if old.get("body") != new.get("body"):
        reasons.append("body changed")
    if old.get("options") != new.get("options"):
        changed = [k for k in new["options"] if old.get("options", {}).get(k) != new["options"][k]]
        reasons.append("options changed (" + ", ".join(f"--{c}" for c in changed) + ")")
    if old.get("env") != new.get("env"):
        reasons.append("target environment changed")
    for var, d in new.get("inputs", {}).items():
        if old.get("inputs", {}).get(var) != d:
            src = f" (from '{producers[var]}')" if producers and var in producers else ""
            reasons.append(f"input '{var}'{src} changed")
    for p, d in new.get("reads", {}).items():
        if old.get("reads", {}).get(p) != d:
            reasons.append(f"{p} changed")
    old_prelude = {tuple(x) for x in old.get("prelude", [])}
    changed_prelude = [lbl for lbl, d in new.get("prelude", []) if (lbl, d) not in old_prelude]
    if changed_prelude or len(old.get("prelude", [])) != len(new.get("prelude", [])):
        what = ", ".join(changed_prelude[:3]) or "a statement was removed"
        reasons.append(f"prelude changed ({what})")
    for m, d in new.get("modules", {}).items():
        if old.get("modules", {}).get(m) != d:
            reasons.append(f"module {m} changed")
    for n, d in new.get("params", {}).items():
        if old.get("params", {}).get(n) != d:
            before = old.get("param_values", {}).get(n, "?")
            after = new.get("param_values", {}).get(n, "?")
            reasons.append(f"parameter '{n}' changed ({before} -> {after})")
    for n in set(old.get("params", {})) - set(new.get("params", {})):
        reasons.append(f"no longer reads parameter '{n}'")
    return reasons or ["no stored result for this key"]
