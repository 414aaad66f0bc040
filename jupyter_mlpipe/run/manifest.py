"""What a step really used, recorded while it runs and checked before its result is reused.

The static key says what a step should depend on; like ccache's direct mode, each stored
result also keeps a manifest of what the step did depend on: files it read wherever they are
(outside the Python installation), folders it listed, symlinks it went through, modules it
imported wherever `sys.path` found them, the installed distributions (and versions) of the
packages it imported, the environment variables its own code read, and the hosts it
connected to (named, not checkable). recorder.py records it in the step's process. A result is
reused only while every entry still holds; otherwise the reasons say which one changed.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..pipeline.analysis import is_project_file
from ..store.serialize import file_digest, hasher, source_digest
from .distributions import distributions_of, installed_version

__all__ = ["CHANGED_WHILE_RUNNING", "Manifest", "changes", "distributions_of",
           "installed_version", "is_project_file", "listing_digest", "source_digest",
           "undeclared_reads"]


@dataclass(frozen=True, slots=True)
class Manifest:
    """Dependencies found at run time, each with the digest or version it had then."""

    files: dict[str, str] = field(default_factory=dict)  # project path -> content digest
    modules: dict[str, str] = field(default_factory=dict)  # project path -> source digest
    dists: dict[str, str] = field(default_factory=dict)  # distribution -> version
    env: dict[str, str | None] = field(default_factory=dict)  # variable -> value digest
    prefix: str = ""  # sys.prefix of the Python that ran the step, whose dists these are
    listings: dict[str, str] = field(default_factory=dict)  # folder listed -> names digest
    links: dict[str, str] = field(default_factory=dict)  # path used -> the file it resolved to
    network: list[str] = field(default_factory=list)  # hosts connected to: named, not checked
    absent: list[str] = field(default_factory=list)  # looked for, not found: must stay absent
    wrote: tuple[str, ...] = ()  # project paths it opened for writing (not --writes): handoffs
    # what a step on a gateway target read there: {"target", "files": {abs path: sha256},
    # "env": {name: sha256}}, checked on that host before reuse (executors/remote_helper.py)
    remote: dict[str, Any] = field(default_factory=dict)
    present: list[str] = field(default_factory=list)  # looked at (a stat), found: must stay

    def to_json(self) -> dict[str, Any]:
        return {"files": self.files, "modules": self.modules, "dists": self.dists,
                "env": self.env, "prefix": self.prefix, "listings": self.listings,
                "links": self.links, "network": self.network, "absent": self.absent,
                "wrote": list(self.wrote),
                "remote": self.remote, "present": self.present}

    @property
    def remote_entries(self) -> int:
        return len(self.remote.get("files") or {}) + len(self.remote.get("env") or {})

    def merged(self, later: Manifest) -> Manifest:
        """This manifest (the prelude's, recorded first) with `later` (the step's) added; a
        file or listing both recorded with different digests changed while the step ran, and
        counts as changed on every check (CHANGED_WHILE_RUNNING) until the step runs again."""
        def union(mine: dict[str, str], theirs: dict[str, str]) -> dict[str, str]:
            both = dict(mine)
            for rel, digest in theirs.items():
                both[rel] = digest if both.get(rel, digest) == digest else CHANGED_WHILE_RUNNING
            return both

        return Manifest(union(self.files, later.files), {**self.modules, **later.modules},
                        {**self.dists, **later.dists}, {**self.env, **later.env},
                        later.prefix or self.prefix, union(self.listings, later.listings),
                        {**self.links, **later.links}, sorted({*self.network, *later.network}),
                        sorted({*self.absent, *later.absent}), tuple(sorted({*self.wrote, *later.wrote})),
                        present=sorted({*self.present, *later.present}))

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Manifest:
        data = data if isinstance(data, dict) else {}

        def table(name: str) -> dict:
            return dict(data.get(name) or {})

        return cls(table("files"), table("modules"), table("dists"), table("env"),
                   str(data.get("prefix") or ""), table("listings"), table("links"),
                   list(data.get("network") or []), list(data.get("absent") or []),
                   tuple(str(p) for p in data.get("wrote") or ()), table("remote"),
                   list(data.get("present") or []))


CHANGED_WHILE_RUNNING = "changed while the step ran"  # a digest no file ever has


def env_digest(value: str | None) -> str | None:
    return None if value is None else hasher().update(value.encode()).hexdigest()


def listing_digest(folder: str) -> str:
    """A folder's entry names (not their contents: the files read are recorded apart)."""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return ""
    return hasher().update("\0".join(names).encode()).hexdigest()


# ---- checking, before reuse -------------------------------------------------------------------
def changes(manifest: Manifest, root: Path, env: dict[str, str] | None = None,
            file_digest_of: Callable[[str], str] | None = None,
            source_digest_of: Callable[[Path], str] = source_digest,
            version_of: Callable[[str], str | None] = installed_version) -> list[str]:
    """Why a stored result no longer holds; [] when every dependency is as recorded.
    `env`: the environment the step would run with; `file_digest_of(rel)`,
    `source_digest_of(path)`, `version_of(dist)`: cached look-ups of a run."""
    reasons: list[str] = []
    env = dict(os.environ) if env is None else env
    for rel, digest in manifest.files.items():
        full = root / rel
        if not full.is_file():
            reasons.append(f"read {rel} (deleted)")
        elif rel.endswith(".py"):
            if source_digest_of(full) != digest:
                reasons.append(f"read {rel} (changed)")
        elif (file_digest_of(rel) if file_digest_of else file_digest(full)) != digest:
            reasons.append(f"read {rel} (changed)")
    for rel, digest in manifest.modules.items():
        full = root / rel
        if not full.is_file():
            reasons.append(f"module {rel} deleted")
        elif source_digest_of(full) != digest:
            reasons.append(f"module {rel} changed")
    reasons += _listing_and_link_changes(manifest, root)
    same_python = not manifest.prefix or manifest.prefix == os.path.realpath(sys.prefix)
    for dist, version in manifest.dists.items() if same_python else ():
        now = version_of(dist)
        if now != version:
            reasons.append(f"{dist} {version} -> {now}" if now else f"{dist} {version} uninstalled")
    for key, digest in manifest.env.items():
        if env_digest(env.get(key)) != digest:
            reasons.append(f"${key} changed")
    return reasons


def _listing_and_link_changes(manifest: Manifest, root: Path) -> list[str]:
    reasons = []
    for rel, digest in manifest.listings.items():
        full = root / rel
        if not full.is_dir():
            reasons.append(f"listed {rel} (deleted)")
        elif listing_digest(os.fspath(full)) != digest:
            reasons.append(f"listed {rel} (files added or removed)")
    reasons += [f"{rel} now exists (the step looked for it)" for rel in manifest.absent
                if os.path.lexists(root / rel)]
    reasons += [f"{rel} is gone (the step looked at it)" for rel in manifest.present
                if not os.path.lexists(root / rel)]
    for rel, target in manifest.links.items():
        real = os.path.realpath(root / rel)
        now = os.path.relpath(real, os.path.realpath(root)) if not os.path.isabs(target) else real
        if now != target:
            reasons.append(f"{rel} now points to {now} (was {target})")
    return reasons


def undeclared_reads(manifest: Manifest, declared: Iterable[str]) -> list[str]:
    """Project files the step read without naming them in --reads (or a folder of --reads),
    by the path its code used (a symlink by its own name). Files outside the project are
    checked all the same, but not hinted: many are a library's own (fonts, certificates)."""
    folders = [d.rstrip("/") + "/" for d in declared]
    return [rel for rel in manifest.files if not os.path.isabs(rel)
            and rel not in declared and not any(rel.startswith(f) for f in folders)]
