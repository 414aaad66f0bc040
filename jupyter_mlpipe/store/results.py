"""Step results in the store, for batch runs and `%%step` alike: one entry schema, reuse, record.

An entry is a step's stored result under its key: the digests of its outputs, the manifests of
the files it wrote, its timings, what it showed (printed text, tables, figures: displays.py), and the manifest of what it really used while it ran
(manifest.py: files read, project modules, distributions, environment variables), which is
checked before the entry is reused. Each carries ENTRY_VERSION; an entry without it, or with
another version, is treated as absent (the step is recomputed), never misread.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ..models import StepState, StepRun
from .displays import keepable
from .files import Store
from .remote import open_remote
from .usage import mark_used

ENTRY_VERSION = 2  # bump when the fields of an entry change meaning


@dataclass(frozen=True, slots=True)
class Computed:
    """What executing a step produced: output digests, written-file manifests, timings."""

    outputs: dict[str, str]
    writes: dict[str, dict]
    body_seconds: float | None = None  # time in the step's own cell
    exec_seconds: float | None = None  # from a ready kernel to outputs stored
    manifest: dict[str, Any] | None = None  # what the step really used (Manifest.to_json)
    displays: list[dict[str, Any]] | None = None  # what it showed (displays.py), shown on reuse


class Results:
    """The stored results of one notebook's steps (the `entries/` and `latest/` of a Store)."""

    def __init__(self, store: Store, notebook: Path, root: Path):
        self.store = store
        self.notebook = notebook.name
        self.root = root  # --writes paths are relative to it
        self.remote = open_remote(root)  # the shared store ([store] url), checked; or None
        self._lease: str | None = None

    @contextlib.contextmanager
    def lease(self, run_id: str) -> Iterator[None]:
        """While a run runs, its lease keeps `cache gc --remote` from evicting in the shared
        store (as the store lock does locally); renewed with each stored result."""
        if self.remote is None:
            yield
            return
        self._lease = self.remote.take_lease(run_id)
        try:
            yield
        finally:
            self.remote.drop_lease(self._lease)
            self._lease = None

    def get(self, key: str) -> dict | None:
        """The complete entry of the current version stored under `key`, or None."""
        entry = self.store.get_entry(key)
        if self.remote is not None:  # a remote hit is pulled (checked); a local one pushed
            self.remote.sync(key, self.store, entry)
            entry = entry or self.store.get_entry(key)
        if entry is None or entry.get("entry_version") != ENTRY_VERSION:
            return None
        return entry

    def reuse(self, step: StepRun, components: dict[str, Any], entry: dict) -> dict[str, str]:
        """Restore the entry's --writes files, mark `step` reused; returns its output digests."""
        for path, manifest in entry.get("writes", {}).items():
            self.store.restore_path(path, manifest, self.root)
        mark_used(self.store, entry["key"])  # `cache gc --max-size` evicts the least recent
        step.state, step.reused, step.finished = StepState.REUSED, True, time.time()
        step.key = entry["key"]
        step.outputs = dict(entry["outputs"])
        step.saved_seconds = entry.get("duration")
        step.reasons = (f"computed {when(entry.get('computed_at'))}",)
        self.mark_latest(step.name, entry["key"], components, entry.get("computed_at"),
                         entry.get("duration"))
        return step.outputs

    def record(self, step: StepRun, components: dict[str, Any], computed: Computed,
               run_id: str) -> None:
        """Store a computed result under `step.key` and mark `step` succeeded."""
        if step.key is None:
            raise ValueError(f"step '{step.name}' has no key: only a planned step is recorded")
        key = step.key
        step.state, step.outputs = StepState.SUCCEEDED, dict(computed.outputs)
        step.body_seconds, step.exec_seconds = computed.body_seconds, computed.exec_seconds
        now, duration = time.time(), step.duration
        self.store.put_entry({
            "entry_version": ENTRY_VERSION, "key": key, "step": step.name,
            "notebook": self.notebook, "run_id": run_id, "outputs": dict(computed.outputs),
            "writes": dict(computed.writes), "computed_at": now, "duration": duration,
            "body_seconds": computed.body_seconds, "exec_seconds": computed.exec_seconds,
            "components": components, "manifest": computed.manifest or {},
            "displays": keepable(computed.displays or [])})
        if self.remote is not None:
            self.remote.push(key, self.store)
            if self._lease is not None:
                self.remote.take_lease(run_id)
        self.mark_latest(step.name, key, components, now, duration)

    def mark_latest(self, step: str, key: str, components: dict[str, Any],
                    computed_at: float | None, duration: float | None) -> None:
        """Remember the step's current key components, which explain "stale" later."""
        latest = self.store.get_latest(self.notebook, step)
        if latest is None or latest.get("key") != key:
            self.store.set_latest(self.notebook, step, {
                "key": key, "components": components, "computed_at": computed_at,
                "duration": duration})


def when(ts: float | None) -> str:
    """A stored result's time as people read it, e.g. in "computed 2024-05-01 12:00"."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "earlier"
