"""`mlpipe verify`: audit the cache by executing stored steps again and comparing outputs.

Each selected step whose result is stored (for the current code and parameters) runs again
from its stored inputs in a fresh kernel of its target, as a run would execute it; the digests
of its outputs and --writes files are compared with the stored ones. A difference means the
step is not deterministic, or depends on something its key and manifest miss. Stored entries
are never changed: the new outputs are only compared (their values land in the
content-addressed store as any value does, unreferenced until `cache gc`), and files the steps
wrote are put back as stored. Steps marked `--nondeterministic` are reported, not failed.
"""
from __future__ import annotations

import concurrent.futures as cf
import random
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from ..errors import MlpipeError, NotStoredError, StepDefinitionError, StepExecutionError
from ..executors.base import StepJob
from ..models import PipelineSpec
from ..pipeline.parameters import check_overrides
from ..store.files import Store
from ..store.findings import record_findings
from ..store.history import History
from ..targets import recorded_envs
from .defaults import load_run_defaults
from .plan import Decision, Planner

SAME, DIFFERS, RANDOM, FAILED = "same", "differs", "nondeterministic", "failed"


@dataclass(frozen=True, slots=True)
class StepCheck:
    """One step verified: SAME, DIFFERS, RANDOM (differs, but --nondeterministic) or FAILED."""

    name: str
    verdict: str
    differing: tuple[str, ...] = ()  # output variables and --writes paths that differ
    error: str | None = None
    seconds: float | None = None
    notebook: str | None = None  # the executed notebook of this check


@dataclass(slots=True)
class VerifyReport:
    notebook: str
    checks: list[StepCheck] = field(default_factory=list)
    not_stored: list[str] = field(default_factory=list)  # stale steps: nothing to compare
    skipped: list[str] = field(default_factory=list)  # stored, left out by --sample
    seconds: float = 0.0
    run_dir: str = ""  # the executed notebooks of this verification

    @property
    def failed(self) -> list[StepCheck]:
        return [c for c in self.checks if c.verdict in (DIFFERS, FAILED)]

    @property
    def ok(self) -> bool:
        return not self.failed


def parse_fraction(text: str) -> float:
    """--sample F: a fraction of the stored steps, more than 0 and at most 1."""
    try:
        f = float(text)
    except ValueError:
        f = -1.0
    if not 0 < f <= 1:
        raise StepDefinitionError(
            f"--sample {text!r} is not a fraction: give a number more than 0 and at most 1 "
            "(--sample 0.2 re-executes a fifth of the stored steps), or --all")
    return f


def stored_steps(spec: PipelineSpec, planner: Planner) -> tuple[dict[str, Decision], dict]:
    """The steps whose result is stored now (each decision has its entry), in run order, and
    every stored step's outputs."""
    outputs: dict[str, dict[str, str]] = {}
    stored: dict[str, Decision] = {}
    for name in planner.graph.order:
        if any(u not in outputs for u in planner.graph.upstream[name]):
            continue
        try:
            d = planner.decide(name, outputs)
        except StepDefinitionError:  # e.g. a --reads file is missing: not stored now
            continue
        step = spec.step(name)
        if d.entry is None and not step.reuse:  # --no-reuse: its last result is still stored
            entry = planner.results.get(d.key)
            if entry is not None and not planner.manifest_changes(step, entry):
                d.entry = entry
        if d.entry is not None:
            outputs[name] = d.entry["outputs"]
            stored[name] = d
    return stored, outputs


def _differing(entry: dict, outputs: dict[str, str], writes: dict[str, dict]) -> list[str]:
    def digests(manifest: dict) -> Any:
        if manifest.get("type") == "dir":
            return {rel: m["digest"] for rel, m in manifest["files"].items()}
        return manifest.get("digest")

    old_out, old_writes = entry.get("outputs", {}), entry.get("writes", {})
    names = [v for v in sorted(set(old_out) | set(outputs)) if old_out.get(v) != outputs.get(v)]
    names += [p for p in sorted(set(old_writes) | set(writes))
              if digests(old_writes.get(p, {})) != digests(writes.get(p, {}))]
    return names


def verify(spec: PipelineSpec, params: dict[str, Any] | None = None,
           sample: float | None = None, jobs: int | None = None,
           seed: int | None = None) -> VerifyReport:
    """Re-execute stored steps (all, or a random `sample` fraction) and compare their outputs."""
    from ..executors.routing import RoutingExecutor  # one executor per target, as a run's
    from .runner import default_jobs

    params = dict(params or {})
    check_overrides(spec.parameters, params)
    t0 = time.perf_counter()
    store = Store.for_notebook(spec.path)
    report = VerifyReport(spec.path.name)
    history = History(store.home)
    try:
        planner = Planner(spec, store, history, params, recorded_envs(spec, store.home))
        stored, outputs = stored_steps(spec, planner)
    finally:
        history.close()
    report.not_stored = [n for n in planner.graph.order if n not in stored]
    entries = {n: d.entry for n, d in stored.items() if d.entry is not None}
    if not stored:
        raise NotStoredError(
            f"nothing of {spec.path.name} is stored for the current code and parameters (never "
            f"run, or everything changed since): run `mlpipe run {spec.path.name}` first, then "
            "verify what it stored")
    chosen = list(stored)
    if sample is not None and sample < 1:
        k = max(1, round(sample * len(chosen)))
        picked = set(random.Random(seed).sample(chosen, k))
        report.skipped = [n for n in chosen if n not in picked]
        chosen = [n for n in chosen if n in picked]
    defaults = load_run_defaults(spec.root)
    run_id = f"verify-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
    run_dir = store.home / "verify" / run_id
    report.run_dir = str(run_dir)
    n_jobs = jobs or default_jobs()
    with store.lock():
        executor = RoutingExecutor(spec, params, n_jobs)
        futures: dict[cf.Future, tuple[str, float]] = {}
        try:
            executor.expect(len(chosen))
            for name in chosen:
                step = spec.step(name)
                job = StepJob(run_id, step, stored[name].key,
                              planner.input_digests(name, outputs), store.home, run_dir,
                              planner.imported(name), defaults.timeout_of(step))
                futures[executor.submit(job)] = (name, time.perf_counter())
                executor.expect(len(chosen) - len(futures))
            done: dict[str, StepCheck] = {}
            for fut in cf.as_completed(futures):
                name, started = futures[fut]
                done[name] = _check(spec, name, entries[name], fut,
                                    time.perf_counter() - started, run_dir)
        finally:
            executor.close(now=False)
            for name in chosen:  # the files the steps wrote go back to what is stored
                for path, manifest in (entries[name].get("writes") or {}).items():
                    try:
                        store.restore_path(path, manifest, spec.root)
                    except MlpipeError:
                        pass  # reported by `mlpipe status`; verify changes nothing stored
    report.checks = [done[n] for n in chosen]
    record_findings(store.home, spec.path.name, {  # for the panel's marks
        c.name: {"key": stored[c.name].key, "verdict": c.verdict,
                 "differing": list(c.differing)} for c in report.checks})
    report.seconds = time.perf_counter() - t0
    return report


def _check(spec: PipelineSpec, name: str, entry: dict, fut: cf.Future, took: float,
           run_dir) -> StepCheck:
    notebook = str(run_dir / f"{name}.ipynb")
    try:
        outcome = fut.result()
    except StepExecutionError as exc:
        return StepCheck(name, FAILED, error=str(exc).splitlines()[0], seconds=took,
                         notebook=notebook)
    except MlpipeError as exc:
        return StepCheck(name, FAILED, error=str(exc), seconds=took, notebook=notebook)
    took = outcome.exec_seconds or took  # from a ready kernel: not the wait for one
    differing = tuple(_differing(entry, outcome.outputs, outcome.writes))
    if not differing:
        return StepCheck(name, SAME, seconds=took, notebook=notebook)
    verdict = RANDOM if spec.step(name).nondeterministic else DIFFERS
    return StepCheck(name, verdict, differing, seconds=took, notebook=notebook)
