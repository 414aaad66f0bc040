"""Writing the no-op fast path's state (noop.py reads it): after a `status` that found every
step cached or a `run` that reused or computed them all, the stat of everything that decision
rested on, unless anything leaves a doubt. Called from the full path, which has imported what
it needs.
"""
from __future__ import annotations

import marshal
import os
import sys
from typing import Any

from .noop import (RACY_SECONDS, STATE_VERSION, content_sig, debug, env_sig, forget,
                   python_sig, stat_sig, state_path, watched_env)

PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # jupyter_mlpipe's code

class _Doubt(Exception):
    """Something the fast path could not re-check by stat: write no state."""


def remember(spec: Any, store: Any, keys: dict[str, str | None], command: str,
             params: list[list[str]], since: float) -> bool:
    """Write the state after a `status` found every step cached or a `run` reused or computed
    every step (`keys`: step -> key), unless anything leaves a doubt. `since`: when the
    command began; a path changed after (less RACY_SECONDS) may not be what was decided on."""
    notebook = os.fspath(spec.path)
    try:
        stamps = _Stamps(since - RACY_SECONDS)
        _stamp_pipeline(stamps, spec, store, keys, command)
        watched = watched_env()
        state = {"version": STATE_VERSION, "notebook": os.path.realpath(notebook),
                 "params": [list(p) for p in params], "python": python_sig(),
                 "watched": watched, "env": env_sig(sorted(set(watched) | stamps.env)),
                 "steps": [s.name for s in spec.steps], "stamps": stamps.list()}
    except _Doubt as doubt:
        debug(f"no state written: {doubt}")
        forget(notebook)
        return False
    from .. import atomic

    path = state_path(notebook)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic.write_bytes(path, marshal.dumps(state))
    except OSError:
        return False
    return True


class _Stamps:
    def __init__(self, racy_after: float):
        self.racy_after_ns = int(racy_after * 1e9)
        self.sigs: dict[str, list[int] | None] = {}
        self.digests: dict[str, str] = {}  # paths checked by content (see _stamp_notebook)
        self.env: set[str] = set()

    def add(self, path: str | os.PathLike, *, ours: bool = False, must_exist: bool = False) -> None:
        """Stamp a path. `ours`: written by the store, only ever replaced by a rename, so a
        recent change cannot hide in a stat; anything else changed recently is a doubt."""
        p = os.path.abspath(os.fspath(path))
        if p in self.sigs:
            return
        sig = stat_sig(p)
        if sig is None and must_exist:
            raise _Doubt(p)
        if sig is not None and not ours and max(sig[2], sig[3]) >= self.racy_after_ns:
            raise _Doubt(p)
        self.sigs[p] = sig

    def tree(self, path: str | os.PathLike) -> None:
        """A file, or a folder with every folder and file under it (a listing changes its
        folder's stat; an edit its file's)."""
        self.add(path, must_exist=True)
        if os.path.isdir(path):
            for folder, dirs, files in os.walk(path):
                for name in dirs + files:
                    if name in dirs and os.path.islink(os.path.join(folder, name)):
                        raise _Doubt(name)  # a linked folder's files are not walked here
                    self.add(os.path.join(folder, name))

    def add_content(self, path: str | os.PathLike, digest: str) -> None:
        """Stamp a file by its content: `digest` of the bytes the command decided on."""
        p = os.path.abspath(os.fspath(path))
        self.sigs[p] = stat_sig(p)
        self.digests[p] = digest

    def list(self) -> list[list[Any]]:
        return [[p, s, self.digests[p]] if p in self.digests else [p, s]
                for p, s in sorted(self.sigs.items())]


def _stamp_pipeline(stamps: _Stamps, spec: Any, store: Any, keys: dict[str, str | None],
                    command: str) -> None:
    root = spec.root
    _stamp_notebook(stamps, spec)
    stamps.add(root)  # a project module that appears beside the notebook shadows an import
    for name in ("mlpipe.toml", "pyproject.toml"):  # targets, store url, trusted keys
        stamps.add(root / name)
    for folder in sys.path:  # an install, upgrade or removal renames metadata folders here
        stamps.add(folder or os.getcwd(), ours=True)
    _stamp_code(stamps)
    _stamp_keys(stamps, store)
    from ..store.remote import open_remote

    if open_remote(root) is not None:
        raise _Doubt("a shared store: its entries may change elsewhere")
    _stamp_targets(stamps, spec, store)
    for step in spec.steps:
        key = keys.get(step.name)
        if key is None or getattr(step, "module", None) or not step.reuse:
            raise _Doubt(step.name)  # not decided, code from the module registry, --no-reuse
        if step.writes and command != "run":
            raise _Doubt("only a run restores --writes files")
        entry = store.get_entry(key)
        if entry is None:
            raise _Doubt(key)
        for f in _entry_files(store, entry):
            stamps.add(f, ours=True, must_exist=True)
        for rel in list(step.reads) + list(step.writes):
            stamps.tree(root / rel)
        components = entry.get("components") or {}
        for rel in components.get("modules", {}):
            _stamp_module(stamps, root / rel, root)
        _stamp_manifest(stamps, entry.get("manifest") or {}, root)


def _stamp_notebook(stamps: _Stamps, spec: Any) -> None:
    """The notebook by its stat; saved just before the command began (the edit-then-run loop),
    by its content, if that content parses to the pipeline the command decided on: read,
    parsed and read again unchanged (the full path has imported the parser already)."""
    try:
        stamps.add(spec.path, must_exist=True)
        return
    except _Doubt:
        pass
    from ..pipeline.load import load_pipeline

    before = content_sig(os.fspath(spec.path))
    try:
        again = load_pipeline(spec.path)
    except Exception:  # noqa: BLE001 - unreadable now: what the run decided on is unknown
        raise _Doubt(f"{spec.path}: changed while the command ran") from None
    if before is None or again != spec or content_sig(os.fspath(spec.path)) != before:
        raise _Doubt(f"{spec.path}: changed while the command ran")
    stamps.add_content(spec.path, before)


def _entry_files(store: Any, entry: dict) -> list[str]:
    """What Store.get_entry(key) reads: the entry, its artifacts, its --writes blobs (the
    layout of store/files.py: entries/ab/KEY.json, objects/ab/DIGEST, blobs/ab/DIGEST)."""
    def shard(folder: Any, name: str) -> str:
        return os.path.join(folder, name[:2], name)

    blobs = [x for m in entry.get("writes", {}).values()
             for x in ([m] if m["type"] == "file" else m["files"].values())]
    return ([shard(store.entries, entry["key"] + ".json")]
            + [shard(store.objects, d) for d in entry["outputs"].values()]
            + [shard(store.blobs, x["digest"]) for x in blobs])


def _stamp_code(stamps: _Stamps) -> None:
    """jupyter_mlpipe's own code: a new version may decide otherwise."""
    for folder, dirs, files in os.walk(PACKAGE):
        dirs[:] = [d for d in dirs if d not in ("__pycache__", "labextension", "static")]
        stamps.add(folder)
        for name in files:
            if name.endswith(".py"):
                stamps.add(os.path.join(folder, name))


def _stamp_keys(stamps: _Stamps, store: Any) -> None:
    """The signing keys: another key makes every entry untrusted."""
    from ..store import signing

    stamps.add(signing.secret_path(), ours=True, must_exist=True)
    for path in signing.project_trusted_keys(store.root):
        stamps.add(path)


def _stamp_targets(stamps: _Stamps, spec: Any, store: Any) -> None:
    """Local targets only: a kernelspec's kernel.json and the executable it starts."""
    import shutil

    from jupyter_core.paths import jupyter_path

    from ..targets.config import load_targets

    config = load_targets(spec.root)
    for name in sorted({s.target for s in spec.steps}):
        t = config.get(name)
        if t.kind != "local" or t.gpus:
            raise _Doubt(f"target {name}: its environment is probed, not stat-able")
        kernel = t.kernel_name(spec)
        for folder in jupyter_path("kernels"):
            stamps.add(os.path.join(folder, kernel, "kernel.json"))
            stamps.add(folder, ours=True)
        stamps.add(os.path.join(store.home, "targets", f"{name}.json"), ours=True)
        stamps.add(os.path.realpath(sys.executable), ours=True)
        for folder in jupyter_path("kernels"):
            try:
                import json

                with open(os.path.join(folder, kernel, "kernel.json"), encoding="utf-8") as f:
                    exe = shutil.which((json.load(f).get("argv") or ["python"])[0])
            except (OSError, ValueError, AttributeError, IndexError, TypeError):
                continue
            if exe:
                stamps.add(os.path.realpath(exe), ours=True)
            break  # the first kernel.json found is the one used


def _stamp_module(stamps: _Stamps, path: Any, root: Any) -> None:
    """A project module and the folders up to the project's (a sibling module appearing)."""
    stamps.add(path, must_exist=True)
    folder = os.path.dirname(os.path.abspath(path))
    top = os.path.abspath(root)
    while folder.startswith(top + os.sep):
        stamps.add(folder)
        folder = os.path.dirname(folder)


def _stamp_manifest(stamps: _Stamps, manifest: dict, root: Any) -> None:
    """Each manifest entry by its kind; a kind not known here, or a value of a shape not
    known, is a doubt (the full path knows what it means; this module may not yet)."""
    for kind, entries in manifest.items():
        handler = _MANIFEST_KINDS.get(kind)
        if handler is None:
            if entries:  # an empty section of a new kind decides nothing
                raise _Doubt(f"manifest kind {kind!r}")
            continue
        handler(stamps, entries, root)


def _files(stamps: _Stamps, entries: Any, root: Any) -> None:
    if not isinstance(entries, dict) or not all(isinstance(v, str) for v in entries.values()):
        raise _Doubt("manifest files")
    for rel in entries:
        stamps.add(os.path.join(root, rel), must_exist=True)


def _modules(stamps: _Stamps, entries: Any, root: Any) -> None:
    if not isinstance(entries, dict) or not all(isinstance(v, str) for v in entries.values()):
        raise _Doubt("manifest modules")
    for rel in entries:
        _stamp_module(stamps, os.path.join(root, rel), root)


def _dists(stamps: _Stamps, entries: Any, root: Any) -> None:
    """A distribution's version is its metadata folder's name and content."""
    import importlib.metadata

    if not isinstance(entries, dict):
        raise _Doubt("manifest dists")
    for dist in entries:
        try:
            found = importlib.metadata.distribution(dist)
        except importlib.metadata.PackageNotFoundError:
            raise _Doubt(dist) from None
        folder = getattr(found, "_path", None)
        if folder is None:
            raise _Doubt(dist)
        stamps.add(folder, ours=True, must_exist=True)
        stamps.add(os.path.join(folder, "METADATA"), ours=True)


def _env(stamps: _Stamps, entries: Any, root: Any) -> None:
    if not isinstance(entries, dict):
        raise _Doubt("manifest env")
    stamps.env.update(entries)


def _prefix(stamps: _Stamps, entries: Any, root: Any) -> None:
    if not isinstance(entries, str):
        raise _Doubt("manifest prefix")  # the Python itself is in python_sig()


def _paths(entries: Any, kind: str) -> list[str]:
    """A manifest entry that is a list of paths, or a doubt."""
    if not isinstance(entries, list) or not all(isinstance(p, str) for p in entries):
        raise _Doubt(f"manifest {kind}")
    return entries


def _wrote(stamps: _Stamps, entries: Any, root: Any) -> None:
    """Files the step wrote: they only order handoffs between steps that execute (the reader's
    own manifest has what it read, stamped there), so a no-op does not depend on them."""
    _paths(entries, "wrote")


def _remote(stamps: _Stamps, entries: Any, root: Any) -> None:
    """What a step read on a gateway's host is checked there: not by a local stat."""
    if not isinstance(entries, dict) or entries.get("files") or entries.get("env"):
        raise _Doubt("manifest remote")


def _absent(stamps: _Stamps, entries: Any, root: Any) -> None:
    """Paths the step looked for and did not find: they must still be absent."""
    for rel in _paths(entries, "absent"):
        stamps.add(os.path.join(root, rel))


def _present(stamps: _Stamps, entries: Any, root: Any) -> None:
    """Paths the step looked at (a stat) and found: they must still be there."""
    for rel in _paths(entries, "present"):
        stamps.add(os.path.join(root, rel), must_exist=True)


_MANIFEST_KINDS = {"files": _files, "modules": _modules, "dists": _dists, "env": _env,
                   "prefix": _prefix, "wrote": _wrote, "remote": _remote, "absent": _absent,
                   "present": _present}
