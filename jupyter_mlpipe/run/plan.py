"""Reuse decisions: a step's key from its upstream digests, and whether the store has it.

Shared by `status` (no execution: a step below a stale one is stale too, since its input
may change) and the runner (which decides each step once its upstream is done, so a
re-executed step whose output is unchanged lets its downstream be reused: early cutoff).
A key hit is reused only while the entry's manifest (what the step really read, imported and
looked up in the environment when it ran) still holds.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

from ..pipeline.analysis import prelude_closure
from ..errors import StepDefinitionError
from ..pipeline.graph import Graph
from .handoffs import handoffs
from .keys import KeyContext, make_key, why_stale
from .manifest import Manifest, changes, installed_version, undeclared_reads
from ..models import PipelineSpec, StepSpec, StepState, StepStatus
from ..store.files import DAMAGED, UNSIGNED, Store
from ..store.history import History
from ..store.results import Results


@dataclass(slots=True)
class Decision:
    key: str
    components: dict[str, Any]
    entry: dict | None  # the stored result to reuse, or None
    reasons: list[str]
    # project modules (relative to the notebook folder) its last result imported, beside its
    # key's: their bytecode is checked before it executes (bytecode.py)
    imported_before: tuple[str, ...] = ()

    @property
    def hit(self) -> bool:
        return self.entry is not None


class _Stale(Exception):
    def __init__(self, reasons: list[str], certain: bool):
        self.reasons = reasons
        self.certain = certain  # its own key changed, not only (maybe) its inputs


class Planner:
    def __init__(self, spec: PipelineSpec, store: Store, history: History | None = None,
                 params: dict[str, Any] | None = None, env: dict[str, dict] | None = None):
        self.spec = spec
        self.graph = Graph(spec)
        self.store = store
        self.results = Results(store, spec.path, spec.root)
        self.ctx = KeyContext(spec, params, history, env)
        self.notebook = spec.path.name
        self._static: dict[str, dict[str, Any]] = {}
        self._versions: dict[str, str | None] = {}  # distribution -> installed version
        # asks a remote target whether what a step read there still holds (the runner's);
        # None (status, a live kernel): such a step is stale until a run checks it
        self.remote_check: Callable[[StepSpec, dict], list[str]] | None = None

    def static(self, name: str) -> dict[str, Any]:
        if name not in self._static:
            self._static[name] = self.ctx.static_parts(self.spec.step(name))
        return self._static[name]

    def input_digests(self, name: str, outputs: dict[str, dict[str, str]]) -> dict[str, str]:
        """Digests of a step's inputs, from its producers' outputs (all must be known)."""
        return {var: outputs[producer][var]
                for var, producer in self.graph.producer[name].items()}

    def decide(self, name: str, outputs: dict[str, dict[str, str]],
               force: bool = False) -> Decision:
        step = self.spec.step(name)
        key, components = make_key(self.static(name), self.input_digests(name, outputs))
        if force:
            return Decision(key, components, None, ["forced (--force)"])
        if not step.reuse:
            return Decision(key, components, None, ["--no-reuse"])
        entry = self.results.get(key)
        if entry is not None:
            reasons = self.manifest_changes(step, entry)
            return Decision(key, components, None if reasons else entry, reasons,
                            _modules_of(entry))
        latest = self.store.get_latest(self.notebook, name)
        old = latest.get("components") if latest else None
        reasons = why_stale(old, components, self.graph.producer[name])
        if latest and latest.get("key") == key:
            reasons = [self._lost_reason(name, key)]
        return Decision(key, components, None, reasons, _modules_of(latest))

    def manifest_changes(self, step: StepSpec, entry: dict) -> list[str]:
        """What the stored result really used and is no longer as it was ([] if all holds).
        The environment: this process's, overlaid with the target's `env` (mlpipe.toml)."""
        manifest = Manifest.from_json(entry.get("manifest"))
        if manifest == Manifest():
            return []
        env = {**os.environ, **self.ctx.env.get(step.target, {}).get("env", {})}
        reasons = changes(manifest, self.spec.root, env,
                          file_digest_of=lambda rel: self.ctx.read_digest(rel, step.name),
                          source_digest_of=self.ctx.module_digest, version_of=self._version)
        if manifest.remote_entries and not reasons:
            target = manifest.remote.get("target", step.target)
            reasons = (self.remote_check(step, manifest.remote) if self.remote_check else
                       [f"what it read on target '{target}' is checked there when it runs"])
        return reasons

    def _version(self, dist: str) -> str | None:
        if dist not in self._versions:
            self._versions[dist] = installed_version(dist)
        return self._versions[dist]

    def imported(self, name: str) -> tuple[str, ...]:
        """Modules a step and its prelude closure import, and their top-level packages (for
        its manifest: a warm kernel imported them before the step started)."""
        step = self.spec.step(name)
        closure = prelude_closure(self.spec.prelude_above(step), set(step.free_names))
        mods = list(step.imported_modules) + [m for st in closure for m in st.imported_modules]
        return tuple(sorted(set(mods) | {m.partition(".")[0] for m in mods}))

    def handoffs(self, names: list[str]) -> dict[str, set[str]]:
        """For each of `names`, the steps above it that write a file it reads (handoffs.py)."""
        found: dict[str, Manifest | None] = {}
        for name in names:
            latest = self.store.get_latest(self.notebook, name)
            data = self.store.entry_manifest(latest["key"]) if latest else None
            found[name] = (Manifest.from_json(data)  # None: it does not say what it wrote
                           if isinstance(data, dict) and "wrote" in data else None)
        return handoffs(self.spec, self.graph, names, found)

    def _lost_reason(self, name: str, key: str) -> str:
        """Why the result stored under an unchanged key cannot be reused, for `status`."""
        problem = self.store.entry_problem(key)
        if problem == DAMAGED:
            return f"stored result damaged (re-run '{name}')"
        if problem == UNSIGNED:
            return "stored result unsigned (made with another key or an older version)"
        return "stored result removed"

    def status(self) -> list[StepStatus]:
        """Each step in order: cached, or stale with the reasons; a stale step below a stale
        one whose own key parts did not change is not `certain` to re-run (early cutoff)."""
        outputs: dict[str, dict[str, str]] = {}
        stale: set[str] = set()
        result: list[StepStatus] = []
        writers = self.handoffs(self.graph.order)
        for name in self._handoff_order(self.graph.order, writers):
            stale_up = [u for u in self.graph.upstream[name] if u in stale]
            handed = sorted(a for a in writers[name] if a in stale and a not in stale_up)
            try:
                if stale_up or handed:
                    own = self._static_reasons(name)
                    raise _Stale([f"upstream '{u}' is stale" for u in stale_up]
                                 + [f"'{a}' above it rewrites a file it reads and is stale"
                                    for a in handed] + own, bool(own))
                d = self.decide(name, outputs)
            except (_Stale, StepDefinitionError) as exc:  # e.g. a --reads file is missing
                stale.add(name)
                reasons = exc.reasons if isinstance(exc, _Stale) else [exc.message]
                certain = exc.certain if isinstance(exc, _Stale) else True
                result.append(StepStatus(name, StepState.STALE, tuple(reasons), certain=certain))
                continue
            if d.entry is not None:
                outputs[name] = d.entry["outputs"]
                result.append(StepStatus(name, StepState.CACHED, (), d.key,
                                         d.entry.get("computed_at"), d.entry.get("duration")))
            else:
                stale.add(name)
                result.append(StepStatus(name, StepState.STALE, tuple(d.reasons), d.key))
        order = {n: i for i, n in enumerate(s.name for s in self.spec.steps)}
        return sorted(result, key=lambda s: order[s.name])

    def _handoff_order(self, order: list[str], writers: dict[str, set[str]]) -> list[str]:
        """The graph order, each step after the steps above it that it waits for."""
        done: list[str] = []
        finished: set[str] = set()  # done, as a set: this ran in O(n^3) on a long chain
        todo = list(order)
        while todo:
            name = next((n for n in todo if writers[n] <= finished
                         and finished.issuperset(self.graph.upstream[n])), todo[0])
            todo.remove(name)
            done.append(name)
            finished.add(name)
        return done

    def _static_reasons(self, name: str) -> list[str]:
        """Reasons other than inputs, for a step whose inputs are not known yet."""
        latest = self.store.get_latest(self.notebook, name)
        if latest is None:
            return ["never run"]
        _, now = make_key(self.static(name), {})
        old = {**latest["components"], "inputs": {}}
        reasons = why_stale(old, now)
        return [] if reasons == ["no stored result for this key"] else reasons


def undeclared_read_warnings(step: StepSpec, manifest: dict | None) -> list[str]:
    """One line per file the step read without declaring it in --reads, and one naming the
    hosts it connected to: what it read there cannot be checked before reuse."""
    recorded = Manifest.from_json(manifest)
    lines = [f"jupyter_mlpipe: step '{step.name}' read {rel} without declaring it: add "
             f"`--reads {rel}` to its %%step line so `mlpipe status` sees it change"
             for rel in undeclared_reads(recorded, step.reads)]
    if recorded.network and step.reuse:
        hosts = ", ".join(recorded.network[:3]) + (" ..." if len(recorded.network) > 3 else "")
        lines.append(f"jupyter_mlpipe: step '{step.name}' connected to {hosts}; what it read "
                     f"over the network cannot be checked, so its stored result would be reused "
                     f"after that data changed: pass a parameter that changes with the data "
                     f"(e.g. a snapshot date) or mark the step --no-reuse")
    return lines


def _modules_of(entry: dict | None) -> tuple[str, ...]:
    """The project modules a stored result's manifest says its step imported."""
    manifest = (entry or {}).get("manifest") or {}
    return tuple(manifest.get("modules") or ())
