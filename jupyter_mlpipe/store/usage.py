"""Cache size: each result's bytes and last use, and eviction down to a size (`cache gc`).

A result's last use is its entry file's modification time: set when it is stored, touched when
it is reused. Eviction holds the store's exclusive lock, which a run's shared lock excludes, so
nothing a running step needs is ever removed; an artifact shared by a kept result stays.
"""
from __future__ import annotations

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


def remote_results(remote: RemoteStore) -> list[ResultSize]:
    """The shared store's results with their artifacts' sizes (one listing of the bucket)."""
    import json

    files = {p[len(remote.root) + 1:]: info for p, info in
             remote.fs.find(remote.root, detail=True).items()}
    sizes: dict[str, int] = {}
    for rel, info in files.items():
        kind, _, name = rel.partition("/")
        base = name.rsplit("/", 1)[-1].split(".")[0]
        if kind in ("objects", "blobs") and not rel.endswith(".json"):
            sizes[f"{kind}/{base}"] = int(info.get("size") or 0)
    out = []
    for rel, info in files.items():
        if rel.startswith("entries/") and rel.endswith(".json"):
            e = json.loads(remote.fs.cat_file(f"{remote.root}/{rel}"))
            keys = tuple(f"{k}/{d}" for k, d in _digests(e))
            when = info.get("LastModified") or info.get("mtime") or 0
            out.append(ResultSize(e.get("key", ""), e.get("notebook", ""), e.get("step", ""),
                                  sum(sizes.get(k, 0) for k in keys),
                                  when.timestamp() if hasattr(when, "timestamp") else float(when),
                                  keys))
    return sorted(out, key=lambda r: r.last_used)


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
