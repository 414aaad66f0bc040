"""Which installed distribution provides an imported module, and its version: a manifest
records the distributions (and versions) a step's imports came from, not their files.
"""
from __future__ import annotations

import json
import os
import sys
import sysconfig

from .. import atomic

_dists: dict[str, list[str]] | None = None
DISTS_CACHE = "distributions.json"  # in the store: which distribution provides which module


def distributions_of(top_level: str, cache_dir: str | None = None) -> list[str]:
    """Installed distributions that provide an importable top-level name. Building the map
    reads every installed distribution's metadata (about 0.5 s), so it is kept in memory and
    in `cache_dir`, valid while the metadata folders on sys.path are the same (an install
    or upgrade adds, removes or renames one)."""
    global _dists
    if _dists is None:
        _dists = _cached_dists(cache_dir)
    return _dists.get(top_level, [])


def _cached_dists(cache_dir: str | None) -> dict[str, list[str]]:
    stamp = {p: _metadata_folders(p) for p in sys.path}
    path = os.path.join(cache_dir, DISTS_CACHE) if cache_dir else None
    try:
        with open(path or "", encoding="utf-8") as f:
            data = json.load(f)
        if data.get("stamp") == stamp:
            return data["map"]
    except (OSError, ValueError, KeyError):
        pass
    import importlib.metadata

    dists = importlib.metadata.packages_distributions()
    if path is not None:
        try:
            atomic.write_text(path, json.dumps({"stamp": stamp, "map": dists}))
        except OSError:
            pass  # a read-only store: build it again next time
    return dists


def _metadata_folders(folder: str) -> list[str]:
    try:
        with os.scandir(folder or ".") as entries:
            return sorted(e.name for e in entries if e.name.endswith((".dist-info", ".egg-info")))
    except OSError:
        return []


_STDLIB = os.path.realpath(sysconfig.get_paths()["stdlib"]) + os.sep
_SITE = tuple({os.path.realpath(sysconfig.get_paths()[k]) + os.sep for k in ("purelib", "platlib")})


def is_stdlib(name: str) -> bool:
    """Whether the loaded module `name` is the standard library's own (built in, or a file of
    the stdlib folder outside site-packages): no distribution provides it, so the manifest
    need not load the module -> distribution map for it (a step that imports only `time`
    then records its dists without reading that map: ~2 ms, ~15 ms right after an idle body)."""
    if name.partition(".")[0] not in sys.stdlib_module_names:
        return False
    path = getattr(sys.modules.get(name), "__file__", None)
    if not path:
        return name in sys.modules  # built in (or frozen); not loaded: ask the map
    real = os.path.realpath(path)
    return real.startswith(_STDLIB) and not real.startswith(_SITE)


def installed_version(dist: str) -> str | None:
    import importlib.metadata  # 10-60 ms of imports (email, zipfile, csv): only when asked

    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None
