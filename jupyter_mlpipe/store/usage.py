"""Cache size: each result's bytes and last use, and eviction down to a size (`cache gc`).

A result's last use is its entry file's modification time: set when it is stored, touched when
it is reused. Eviction holds the store's exclusive lock, which a run's shared lock excludes, so
nothing a running step needs is ever removed; an artifact shared by a kept result stays.
In the shared store (`cache gc --remote`), last use is the entry's upload or its last pull (the
used/ marker), and a running run's lease (remote.py) stands for the lock: while any lease is
live, nothing there is evicted.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from .files import Store
from .remote import RemoteStore


@dataclass(frozen=True, slots=True)
class ResultSize:
    """One stored result: its key, step, bytes (artifacts + files) and last use."""

    key: str
    notebook: str
    step: str
    size: int
    last_used: float
    digests: tuple[str, ...]


def _digests(entry: dict) -> list[tuple[str, str]]:
    out = [("objects", d) for d in entry.get("outputs", {}).values()]
    for m in entry.get("writes", {}).values():
        ms = [m] if m["type"] == "file" else list(m["files"].values())
        out.extend(("blobs", x["digest"]) for x in ms)
    return out


def mark_used(store: Store, key: str) -> None:
    """Record that the result under `key` was just used (reused or stored)."""
    try:
        os.utime(store.entries / key[:2] / f"{key}.json")
    except OSError:
        pass  # a result without a local entry file has no local last use


def local_results(store: Store) -> list[ResultSize]:
    """The local store's results, least recently used first."""
    out = []
    for path, e in store.iter_entries():
        size, digests = 0, []
        for kind, d in _digests(e):
            digests.append(f"{kind}/{d}")
            size += _size(_file(store, digests[-1]))
        out.append(ResultSize(e.get("key", path.stem), e.get("notebook", ""), e.get("step", ""),
                              size, path.stat().st_mtime, tuple(digests)))
    return sorted(out, key=lambda r: r.last_used)


def _remote_files(remote: RemoteStore) -> dict[str, dict]:
    """Every object of the shared store (one listing), by path relative to its root."""
    try:
        found = remote.fs.find(remote.root, detail=True)
    except FileNotFoundError:
        return {}
    return {p[len(remote.root) + 1:]: info for p, info in found.items()}


def _mtime(info: dict) -> float:
    when = info.get("LastModified") or info.get("mtime") or 0
    return when.timestamp() if hasattr(when, "timestamp") else float(when)


def _ref(rel: str) -> str:
    """objects/ab/<digest>.<b3> or .json, blobs/ab/<digest> -> objects/<digest>, blobs/..."""
    kind, _, name = rel.partition("/")
    return f"{kind}/{name.rsplit('/', 1)[-1].split('.')[0]}"


def remote_results(remote: RemoteStore, files: dict[str, dict] | None = None
                   ) -> list[ResultSize]:
    """The shared store's results with their artifacts' sizes, least recently used first
    (last use: its upload, or its last pull)."""
    files = _remote_files(remote) if files is None else files
    sizes: dict[str, int] = {}
    for rel, info in files.items():
        if rel.startswith(("objects/", "blobs/")) and not rel.endswith(".json"):
            sizes[_ref(rel)] = int(info.get("size") or 0)
    out = []
    for rel, info in files.items():
        if rel.startswith("entries/") and rel.endswith(".json"):
            e = json.loads(remote.fs.cat_file(f"{remote.root}/{rel}"))
            keys = tuple(f"{k}/{d}" for k, d in _digests(e))
            key = e.get("key", "")
            used = files.get(f"used/{key[:2]}/{key}")
            last = max(_mtime(info), _mtime(used) if used else 0.0)
            out.append(ResultSize(key, e.get("notebook", ""), e.get("step", ""),
                                  sum(sizes.get(k, 0) for k in keys), last, keys))
    return sorted(out, key=lambda r: r.last_used)


def evict_remote(remote: RemoteStore, max_size: int) -> dict:
    """Remove the shared store's least recently used results until its artifacts fit in
    `max_size` bytes; nothing while a running run holds a lease (it may need any of them).
    Each result goes entry first, so a reader never finds an entry without its data."""
    removed = {"entries": 0, "bytes": 0, "leases": len(remote.active_leases())}
    if removed["leases"]:
        return removed
    files = _remote_files(remote)
    paths: dict[str, list[str]] = {}
    for rel in files:
        if rel.startswith(("objects/", "blobs/")):
            paths.setdefault(_ref(rel), []).append(rel)
    users: dict[str, int] = {}
    results = remote_results(remote, files)
    for r in results:
        for d in r.digests:
            users[d] = users.get(d, 0) + 1
    total = sum(int(files[p].get("size") or 0) for d in users for p in paths.get(d, ()))
    for r in results:
        if total <= max_size:
            break
        gone = [f"entries/{r.key[:2]}/{r.key}.json", f"used/{r.key[:2]}/{r.key}"]
        for d in r.digests:
            users[d] -= 1
            if users[d] == 0:  # the record (.json) sorts after the data: remove it first
                gone.extend(sorted(paths.get(d, ()), key=lambda p: not p.endswith(".json")))
        for rel in gone:
            if rel in files:
                remote.fs.rm_file(f"{remote.root}/{rel}")
                n = int(files[rel].get("size") or 0) if rel.startswith(("objects/", "blobs/")) \
                    else 0
                total -= n
                removed["bytes"] += n
        removed["entries"] += 1
    return removed


def evict(store: Store, max_size: int) -> dict:
    """Remove least recently used results until the artifacts fit in `max_size` bytes."""
    removed = {"entries": 0, "bytes": 0}
    with store.lock(exclusive=True, wait=False):  # refused while a run is using the store
        results = local_results(store)
        users: dict[str, int] = {}
        for r in results:
            for d in r.digests:
                users[d] = users.get(d, 0) + 1
        total = sum(_size(_file(store, d)) for d in users)
        for r in results:
            if total <= max_size:
                break
            (store.entries / r.key[:2] / f"{r.key}.json").unlink(missing_ok=True)
            removed["entries"] += 1
            for d in r.digests:
                users[d] -= 1
                if users[d] == 0:
                    n = _size(_file(store, d))
                    _file(store, d).unlink(missing_ok=True)
                    total -= n
                    removed["bytes"] += n
    return removed


def _file(store: Store, ref: str) -> Path:
    """objects/<digest> or blobs/<digest> -> its sharded path in the local store."""
    kind, _, digest = ref.partition("/")
    return store.home / kind / digest[:2] / digest


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else 0


def listing(store: Store, remote: RemoteStore | None) -> list[str]:
    """`mlpipe cache ls`: each result, most recently used first, here and in the shared store."""
    latest = store.latest_keys()
    places: list[tuple[str, str | Path, list[ResultSize]]] = [
        ("local", store.home, local_results(store))]
    if remote is not None:
        places.append(("remote", remote.url, remote_results(remote)))
    lines = []
    for where, home, results in places:
        for r in reversed(results):
            mark = "*" if r.key in latest else " "
            lines.append(f"{mark} {r.key[:12]}  {r.notebook:<24} {r.step:<20} "
                         f"{r.size / 1e6:>9.1f} MB  used {age(r.last_used)}")
        total = sum(r.size for r in results)
        lines.append(f"{where}: {len(results)} entries (* = current), {total / 1e6:.1f} MB "
                     f"in {home}")
    return lines


def age(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "?"
