"""What a step really used, recorded while it runs and checked before its result is reused.

The static key says what a step should depend on; like ccache's direct mode, each stored
result also keeps a manifest of what the step did depend on: project files it opened for
reading (an audit hook sees every `open`, `io.open_code` included), project modules it
imported wherever `sys.path` found them, the installed distributions (and versions) of the
packages it imported, and the environment variables its own code read. A result is reused
only while every entry still holds; otherwise the reasons say which one changed.
"""
from __future__ import annotations

import json
import os
import sys
import sysconfig
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import atomic
from ..pipeline.analysis import INSTALLED_FOLDERS, is_project_file
from ..store.serialize import file_digest, hasher, source_digest
from .loaded import imports_of, project_modules

__all__ = ["Manifest", "Recorder", "changes", "is_project_file", "source_digest",
           "undeclared_reads"]


@dataclass(frozen=True, slots=True)
class Manifest:
    """Dependencies found at run time, each with the digest or version it had then."""

    files: dict[str, str] = field(default_factory=dict)  # project path -> content digest
    modules: dict[str, str] = field(default_factory=dict)  # project path -> source digest
    dists: dict[str, str] = field(default_factory=dict)  # distribution -> version
    env: dict[str, str | None] = field(default_factory=dict)  # variable -> value digest
    prefix: str = ""  # sys.prefix of the Python that ran the step, whose dists these are
    wrote: tuple[str, ...] = ()  # project paths it opened for writing (not --writes): handoffs
    # what a step on a gateway target read there: {"target", "files": {abs path: sha256},
    # "env": {name: sha256}}, checked on that host before reuse (executors/remote_helper.py)
    remote: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"files": self.files, "modules": self.modules, "dists": self.dists,
                "env": self.env, "prefix": self.prefix, "wrote": list(self.wrote),
                "remote": self.remote}

    @property
    def remote_entries(self) -> int:
        return len(self.remote.get("files") or {}) + len(self.remote.get("env") or {})

    def merged(self, later: Manifest) -> Manifest:
        """This manifest (the prelude's, recorded first) with `later` (the step's) added; a
        file both read with different digests changed while the step ran, and counts as
        changed on every check (CHANGED_WHILE_RUNNING) until the step runs again."""
        files = dict(self.files)
        for rel, digest in later.files.items():
            files[rel] = digest if files.get(rel, digest) == digest else CHANGED_WHILE_RUNNING
        return Manifest(files, {**self.modules, **later.modules}, {**self.dists, **later.dists},
                        {**self.env, **later.env}, later.prefix or self.prefix,
                        tuple(sorted({*self.wrote, *later.wrote})))

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Manifest:
        data = data if isinstance(data, dict) else {}
        return cls(*(dict(data.get(k) or {}) for k in ("files", "modules", "dists", "env")),
                   prefix=str(data.get("prefix") or ""),
                   wrote=tuple(str(p) for p in data.get("wrote") or ()),
                   remote=dict(data.get("remote") or {}))


CHANGED_WHILE_RUNNING = "changed while the step ran"  # a digest no file ever has


def _stat(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def read_digest(path: str) -> str:
    """A file the code read: Python source by its AST (`%run setup.py`, `exec(open(...))`:
    a comment edit changes nothing it runs), anything else by its bytes."""
    return source_digest(path) if path.endswith(".py") else file_digest(path)


def env_digest(value: str | None) -> str | None:
    return None if value is None else hasher().update(value.encode()).hexdigest()


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


# ---- recording, inside the step's process ---------------------------------------------------
_active: list[Recorder] = []  # the recorder of the step running now (one at a time)
_hook_lock = threading.Lock()
_PACKAGE = os.path.dirname(os.path.dirname(os.path.realpath(__file__))) + os.sep  # jupyter_mlpipe's own code
_hook_installed = False


def _audit(event: str, args: tuple) -> None:
    if event != "open" or not _active:
        return
    path, mode, flags = args
    if isinstance(path, int):
        return
    if mode is None:  # os.open: the flags say
        writes = (flags or 0) & os.O_ACCMODE != os.O_RDONLY
        reads = (flags or 0) & os.O_ACCMODE != os.O_WRONLY
    else:
        writes = any(c in mode for c in "wax+")
        reads = "r" in mode or "+" in mode
    if writes:
        _active[-1].wrote_to(os.fsdecode(path))
    if reads:
        _active[-1].opened(os.fsdecode(path))


def _install_hook() -> None:
    """Audit hooks cannot be removed, so one hook serves every recorder of the process."""
    global _hook_installed
    with _hook_lock:
        if not _hook_installed:
            sys.addaudithook(_audit)
            _hook_installed = True
        _install_environ()


class _RecordingEnviron(os._Environ):  # type: ignore[name-defined]
    """os.environ's class while recording is installed: notes which variables the user's own
    code reads, for the recorder running now. The one os.environ object changes class (it is
    not replaced), so a module holding `from os import environ` is seen as well."""

    def __getitem__(self, key: str) -> str:
        if _active:
            _active[-1].env_read(key, sys._getframe(1))
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        if _active and isinstance(key, str):
            _active[-1].env_read(key, sys._getframe(1))
        return super().__contains__(key)


def _install_environ() -> None:
    if type(os.environ) is os._Environ:  # type: ignore[attr-defined]
        os.environ.__class__ = _RecordingEnviron


# Frames of the mapping machinery between a read and the code that asked for it.
_MAPPING_CODE = {"<frozen os>", "<frozen _collections_abc>", os.path.realpath(os.__file__),
                 os.path.realpath(__file__), os.path.realpath(sys.modules["_collections_abc"].__file__)}
_WHOLE_ENVIRONMENT = {"copy", "__iter__", "items", "values", "keys", "__repr__", "__eq__"}


class Recorder:
    """Records one step's dependencies between `start()` and `stop()`."""

    def __init__(self, root: str | os.PathLike, ignore: Iterable[str] = (),
                 stamp_reads: bool = False):
        """`ignore`: files and folders (relative to `root`, or absolute) that are not
        dependencies: the step's --writes, the store. `stamp_reads`: keep each file's stat
        when first read, so a file changed between its read and `manifest()` (a prelude read
        long before the step ends) is recorded as changed, not by its new digest."""
        self.root = os.path.realpath(root) + os.sep
        self.ignore = {os.path.realpath(os.path.join(self.root, p)) for p in ignore}
        self._ignored_folders = tuple(p + os.sep for p in self.ignore)
        self.files: set[str] = set()
        self.wrote: set[str] = set()
        self.env: set[str] = set()
        self._modules_before: set[str] = set()
        self.stamps: dict[str, tuple[int, int] | None] | None = {} if stamp_reads else None

    def opened(self, path: str) -> None:
        full = os.path.join(os.getcwd(), path)
        if full.startswith(INSTALLED_FOLDERS):  # most opens while importing: skip realpath
            return
        full = os.path.realpath(full)
        if (is_project_file(full, self.root) and full not in self.ignore
                and not full.startswith(self._ignored_folders)
                and self._opened_by_user(sys._getframe(2))):
            if self.stamps is not None and full not in self.files:
                self.stamps[full] = _stat(full)
            self.files.add(full)

    def wrote_to(self, path: str) -> None:
        """A file the step's own code opened for writing: a step below that reads it must
        wait for this one (run/handoffs.py)."""
        full = os.path.realpath(os.path.join(os.getcwd(), path))
        if (is_project_file(full, self.root) and full not in self.ignore
                and not full.startswith(self._ignored_folders)
                and self._opened_by_user(sys._getframe(2))):
            self.wrote.add(full)

    def _opened_by_user(self, frame: Any) -> bool:
        """Whether the nearest code that asked for this open is the step's (a cell or a project
        module), not jupyter_mlpipe's own (loading inputs, reading its settings): the first frame
        up the stack that is one or the other decides; none of either counts as the step's."""
        while frame is not None:
            name = frame.f_code.co_filename
            if name.startswith(_PACKAGE):
                return False
            if not name.startswith("<frozen") and self._is_user_code(name):
                return True
            frame = frame.f_back
        return True

    def env_read(self, key: str, frame: Any) -> None:
        while frame is not None:  # skip os.getenv, Mapping.get and this module
            name = frame.f_code.co_filename
            if name not in _MAPPING_CODE and os.path.realpath(name) not in _MAPPING_CODE:
                break
            if frame.f_code.co_name in _WHOLE_ENVIRONMENT:
                return  # os.environ.copy(), dict(os.environ): not a read of one variable
            frame = frame.f_back
        if frame is not None and self._is_user_code(frame.f_code.co_filename):
            self.env.add(key)

    def _is_user_code(self, filename: str) -> bool:
        """A notebook cell (IPython names them <ipython-input-..> or ipykernel_PID/...)
        or a project module."""
        if filename.startswith("<"):  # <frozen ...>, <string>, or a cell in plain IPython
            return filename.startswith("<ipython-input")
        if f"{os.sep}ipykernel_" in filename:
            return True
        return is_project_file(os.path.realpath(filename), self.root)

    def start(self) -> Recorder:
        _install_hook()
        self._modules_before = set(sys.modules)
        _active.append(self)
        return self

    def stop(self) -> None:
        if self in _active:
            _active.remove(self)

    @property
    def recording(self) -> bool:
        return self in _active

    def __enter__(self) -> Recorder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def manifest(self, imported: Iterable[str] = (), cache_dir: str | None = None,
                 root: str | None = None, new_modules: bool = True) -> Manifest:
        """What was used; `imported`: top-level modules the step and its prelude import
        (in a warm or forked kernel they were imported before the step started);
        `cache_dir`: where the module -> distribution map may be kept (the store); `root`:
        the folder the paths are relative to (default: this recorder's); `new_modules`: count
        the distributions of every module imported since start() (a process-wide recorder
        does not: a kernel's own start-up imports are not the prelude's).
        Every project module loaded in this process counts, whoever imported it (the kernel
        template, the prelude, a module a `src/` folder on sys.path provided, or the step),
        and so do the distributions its source imports."""
        root = os.path.realpath(root) + os.sep if root else self.root
        names = set(imported)
        if new_modules:
            names |= set(sys.modules) - self._modules_before
        modules: dict[str, str] = {}
        dists: dict[str, str] = {}
        project = project_modules(root)
        for _, path in project:
            modules[os.path.relpath(path, root)] = source_digest(path)
            names.update(imports_of(path))
        names.difference_update(name for name, _ in project)
        for name in sorted(names):
            mod = sys.modules.get(name)
            path = getattr(mod, "__file__", None) if mod is not None else None
            real = (os.path.realpath(path) if path and name != "__main__"
                    and not path.startswith(INSTALLED_FOLDERS) else None)
            if real and is_project_file(real, root):
                continue  # a project module that is gone: its importer is recorded
            if is_stdlib(name):
                continue
            for dist in distributions_of(name.partition(".")[0], cache_dir):
                if dist not in dists:
                    dists[dist] = installed_version(dist)
        dists = {d: v for d, v in sorted(dists.items()) if v is not None}
        files = {}
        for full in sorted(self.files):
            rel = os.path.relpath(full, root)
            if rel in modules or not os.path.isfile(full):
                continue
            stamps = self.stamps
            if stamps is not None and full in stamps and _stat(full) != stamps[full]:
                files[rel] = CHANGED_WHILE_RUNNING  # read, then changed: what was read is gone
            else:
                files[rel] = read_digest(full)
        env = {k: env_digest(self._environ_value(k)) for k in sorted(self.env)}
        wrote = tuple(sorted(os.path.relpath(p, root) for p in self.wrote))
        return Manifest(files, modules, dists, env, os.path.realpath(sys.prefix), wrote)

    @staticmethod
    def _environ_value(key: str) -> str | None:
        return os.environ.get(key)


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
    same_python = not manifest.prefix or manifest.prefix == os.path.realpath(sys.prefix)
    for dist, version in manifest.dists.items() if same_python else ():
        now = version_of(dist)
        if now != version:
            reasons.append(f"{dist} {version} -> {now}" if now else f"{dist} {version} uninstalled")
    for key, digest in manifest.env.items():
        if env_digest(env.get(key)) != digest:
            reasons.append(f"${key} changed")
    return reasons


def undeclared_reads(manifest: Manifest, declared: Iterable[str]) -> list[str]:
    """Files the step read without naming them in --reads (or a folder of --reads)."""
    folders = [d.rstrip("/") + "/" for d in declared]
    return [rel for rel in manifest.files
            if rel not in declared and not any(rel.startswith(f) for f in folders)]
