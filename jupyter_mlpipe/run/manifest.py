"""What a step really used, recorded while it runs and checked before its result is reused.

The static key says what a step should depend on; like ccache's direct mode, each stored
result also keeps a manifest of what the step did depend on: project files it opened for
reading (an audit hook sees every `open`, `io.open_code` included), project modules it
imported wherever `sys.path` found them, the installed distributions (and versions) of the
packages it imported, and the environment variables its own code read. A result is reused
only while every entry still holds; otherwise the reasons say which one changed.
"""
from __future__ import annotations

import importlib.metadata
import os
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..kernels import readlog
from ..pipeline import analysis
from ..pipeline.analysis import INSTALLED_FOLDERS, is_project_file
from ..store.serialize import file_digest, hasher, source_digest
from .distributions import distributions_of, installed_version, is_stdlib

__all__ = ["Manifest", "Recorder", "changes", "distributions_of", "installed_version",
           "is_project_file", "source_digest", "undeclared_reads"]


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

    def to_json(self) -> dict[str, Any]:
        return {"files": self.files, "modules": self.modules, "dists": self.dists,
                "env": self.env, "prefix": self.prefix, "listings": self.listings,
                "links": self.links, "network": self.network, "absent": self.absent}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Manifest:
        data = data if isinstance(data, dict) else {}

        def table(name: str) -> dict:
            return dict(data.get(name) or {})

        return cls(table("files"), table("modules"), table("dists"), table("env"),
                   str(data.get("prefix") or ""), table("listings"), table("links"),
                   list(data.get("network") or []), list(data.get("absent") or []))


def env_digest(value: str | None) -> str | None:
    return None if value is None else hasher().update(value.encode()).hexdigest()


# ---- recording, inside the step's process ---------------------------------------------------
_active: list[Recorder] = []  # the recorder of the step running now (one at a time)
_hook_lock = threading.Lock()
_PACKAGE = os.path.dirname(os.path.dirname(os.path.realpath(__file__))) + os.sep  # jupyter_mlpipe's own code
_hook_installed = False
_said_unrecorded: list[bool] = []  # whether this process said its native reads are not recorded
_IMPORT_MACHINERY = ("<frozen importlib", os.path.dirname(importlib.__file__) + os.sep,
                     os.path.dirname(os.path.realpath(importlib.__file__)) + os.sep)
_NOT_DATA = (*INSTALLED_FOLDERS, *analysis.NOT_DATA_FOLDERS, *analysis.kernel_folders(), _PACKAGE)
_LISTING_EVENTS = {"os.listdir", "os.scandir"}  # glob, os.walk and pathlib list through these


def _audit(event: str, args: tuple) -> None:
    if not _active:
        return
    if event == "open":
        path, mode, flags = args
        if isinstance(path, int):
            return
        if mode is None:  # os.open: the flags say
            if (flags or 0) & os.O_ACCMODE == os.O_WRONLY or (flags or 0) & os.O_TRUNC:
                return
        elif "w" in mode or ("r" not in mode and "+" not in mode):
            return  # "w+" truncates: it reads only what the step writes
        _active[-1].opened(os.fsdecode(path))
    elif event in _LISTING_EVENTS:
        path = args[0] if args else None
        if not isinstance(path, int):
            _active[-1].listed(os.fsdecode(path) if path is not None else ".", sys._getframe(1))
    elif event == "socket.connect" and len(args) > 1 and isinstance(args[1], tuple) \
            and len(args[1]) >= 2 and isinstance(args[1][0], str):
        _active[-1].connected(f"{args[1][0]}:{args[1][1]}")


def _install_hook() -> None:
    """Audit hooks cannot be removed, so one hook serves every recorder of the process."""
    global _hook_installed
    with _hook_lock:
        if not _hook_installed:
            sys.addaudithook(_audit)
            _hook_installed = True


class _RecordingEnviron(os._Environ):  # type: ignore[name-defined]
    """os.environ that notes which variables the user's own code reads."""

    def __init__(self, original: Any, recorder: Recorder):
        super().__init__(original._data, original.encodekey, original.decodekey,
                         original.encodevalue, original.decodevalue)
        self._recorder = recorder

    def __getitem__(self, key: str) -> str:
        self._recorder.env_read(key, sys._getframe(1))
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self._recorder.env_read(key, sys._getframe(1))
        return super().__contains__(key)


# Frames of the mapping machinery between a read and the code that asked for it.
_MAPPING_CODE = {"<frozen os>", "<frozen _collections_abc>", os.path.realpath(os.__file__),
                 os.path.realpath(__file__), os.path.realpath(sys.modules["_collections_abc"].__file__)}
_WHOLE_ENVIRONMENT = {"copy", "__iter__", "items", "values", "keys", "__repr__", "__eq__"}


class Recorder:
    """Records one step's dependencies between `start()` and `stop()`.

    Paths are kept as the code used them (made absolute with the working directory), so a
    symlink is recorded by its own name and, in `links`, by what it resolved to. Files
    anywhere count but the Python installation's (its versions are recorded instead), the
    kernel's pseudo-files, the store and jupyter_mlpipe's own. Python's own opens and
    listings are attributed by their caller (audit hook); opens below Python (C libraries,
    subprocesses) come from the read log (kernels/readlog.py) and count for the step."""

    def __init__(self, root: str | os.PathLike, ignore: Iterable[str] = ()):
        """`ignore`: files and folders (relative to `root`, or absolute) that are not
        dependencies: the step's --writes, the store."""
        self.root = os.path.realpath(root) + os.sep
        self.ignore = {os.path.realpath(os.path.join(self.root, p)) for p in ignore}
        self._ignored_folders = tuple(p + os.sep for p in self.ignore)
        # (a project inside a kernel folder, as tests' temporary folders may be, is data)
        self._not_data = tuple(p for p in _NOT_DATA if not self.root.startswith(p))
        self.files: set[str] = set()
        self.listings: set[str] = set()
        self.network: set[str] = set()
        self.env: set[str] = set()
        self._seen: set[str] = set()  # every path Python opened or listed, the step's or not
        self._modules_before: set[str] = set()
        self._environ: Any = None
        self._log: str | None = None
        self._log_offset = 0
        self._saved_env: dict[str, str | None] = {}
        self.native: bool | None = None  # whether reads below Python were recorded

    def counts(self, full: str) -> bool:
        """Whether a file or folder (absolute, as used) can be data of the step."""
        if full.startswith(self._not_data):
            return False
        real = os.path.realpath(full)
        if real.startswith(self._not_data) or readlog.is_log(real):
            return False
        return not any(p in self.ignore or p.startswith(self._ignored_folders)
                       or any(part in p + os.sep for part in analysis._IGNORED_PARTS)
                       for p in (full, real))

    def opened(self, path: str) -> None:
        full = os.path.normpath(os.path.join(os.getcwd(), path))
        if full.startswith(INSTALLED_FOLDERS):  # most opens while importing
            return
        self._seen.add(full)
        if self.counts(full) and self._opened_by_user(sys._getframe(2)):
            self.files.add(full)

    def listed(self, path: str, frame: Any) -> None:
        full = os.path.normpath(os.path.join(os.getcwd(), path))
        if full.startswith(INSTALLED_FOLDERS):
            return
        self._seen.add(full)
        if self.counts(full) and self._listed_by_user(frame):
            self.listings.add(full)

    def connected(self, address: str) -> None:
        if not address.endswith(":53"):  # name look-ups
            self.network.add(address)

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

    def _listed_by_user(self, frame: Any) -> bool:
        """As `_opened_by_user`, but the import system's own listings (of each sys.path
        folder, to find modules; importlib.metadata's search for installed distributions) are
        not the step's: a file added beside the notebook changes no import."""
        while frame is not None:
            name = frame.f_code.co_filename
            if name.startswith(_IMPORT_MACHINERY) or name.startswith(_PACKAGE):
                return False  # (_IMPORT_MACHINERY: importlib's folder and its frozen modules)
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
        self._start_read_log()
        self._environ = os.environ
        os.environ = _RecordingEnviron(os.environ, self)
        _active.append(self)
        return self

    def stop(self) -> None:
        if self in _active:
            _active.remove(self)
        if self._environ is not None:
            os.environ = self._environ
            self._environ = None
        self._stop_read_log()

    def _start_read_log(self) -> None:
        """Name a fresh read log in the environment: this process (preloaded, or hooked now)
        and the subprocesses it starts append what they open to it until `stop()`."""
        self.native = readlog.hook_this_process()
        if not self.native:
            if not _said_unrecorded:
                _said_unrecorded.append(True)
                print(readlog.status(), file=sys.stderr)
            return
        self._log = readlog.new_log()
        names = (readlog.LOG_VAR, readlog.SKIP_VAR, "LD_PRELOAD")
        self._saved_env = {k: os.environ.get(k) for k in names}
        os.environ[readlog.LOG_VAR] = self._log
        if readlog.SKIP_VAR not in os.environ:
            os.environ[readlog.SKIP_VAR] = readlog.skip_prefixes()
        lib = None if readlog.preloaded() else readlog.library()
        if lib and lib not in os.environ.get("LD_PRELOAD", ""):  # a live kernel's children
            os.environ["LD_PRELOAD"] = f"{lib} {os.environ.get('LD_PRELOAD', '')}".strip()

    def _stop_read_log(self) -> None:
        if self._log is None:
            return
        for key, value in self._saved_env.items():  # as before the step
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
        self.drain_read_log()
        try:
            os.unlink(self._log)
        except OSError:
            pass
        self._log = None

    def drain_read_log(self) -> None:
        """Take the records appended since the last drain (stop() drains; a recorder that
        never stops, such as a process-wide one, drains before each manifest)."""
        if self._log is None:
            return
        records, self._log_offset = readlog.read_log(self._log, self._log_offset)
        for kind, path in records:
            if kind == "N":
                self.connected(path)
                continue
            full = os.path.normpath(path)
            if full in self._seen or not self.counts(full):
                continue  # Python's own opens were attributed by their caller
            if kind == "D":
                self.listings.add(full)
            elif kind == "A":
                self.files.add(full)  # not found: recorded as absent
            elif not os.path.isdir(full):  # a folder opened to fsync it (SQLite) is not listed
                self.files.add(full)

    def __enter__(self) -> Recorder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def key(self, full: str) -> str:
        """How the manifest names a path: relative to the project folder inside it (a copied
        project is the same project), absolute outside it."""
        inside = full.startswith(self.root) or full == self.root[:-1]
        return os.path.relpath(full, self.root) if inside else full

    def manifest(self, imported: Iterable[str] = (), cache_dir: str | None = None) -> Manifest:
        """What was used; `imported`: top-level modules the step and its prelude import
        (in a warm or forked kernel they were imported before the step started);
        `cache_dir`: where the module -> distribution map may be kept (the store)."""
        self.drain_read_log()
        names = set(imported) | {m for m in set(sys.modules) - self._modules_before}
        modules: dict[str, str] = {}
        dists: dict[str, str] = {}
        for name in sorted(names):
            mod = sys.modules.get(name)
            path = getattr(mod, "__file__", None) if mod is not None else None
            real = (os.path.realpath(path) if path and name != "__main__"
                    and not path.startswith(INSTALLED_FOLDERS) else None)
            if real and is_project_file(real, self.root) and os.path.isfile(real):
                modules[self.key(real)] = source_digest(real)
                continue
            if is_stdlib(name):
                continue
            provided = distributions_of(name.partition(".")[0], cache_dir)
            for dist in provided:
                if dist not in dists:
                    dists[dist] = installed_version(dist)
            if not provided and real and real.endswith(".py") and self.counts(real) \
                    and os.path.isfile(real):  # a module of no distribution, anywhere
                modules[self.key(real)] = source_digest(real)
        dists = {d: v for d, v in sorted(dists.items()) if v is not None}
        files: dict[str, str] = {}
        links: dict[str, str] = {}
        absent: list[str] = []
        for full in sorted(self.files):
            rel = self.key(full)
            if not os.path.lexists(full):
                absent.append(rel)  # looked for and not found, or deleted by the step
            if rel in modules or self.key(os.path.realpath(full)) in modules \
                    or not os.path.isfile(full):
                continue
            files[rel] = file_digest(full)
            _note_link(full, rel, self, links)
        listings: dict[str, str] = {}
        for full in sorted(self.listings):
            if os.path.isdir(full):
                rel = self.key(full)
                listings[rel] = listing_digest(full)
                _note_link(full, rel, self, links)
        env = {k: env_digest(self._environ_value(k)) for k in sorted(self.env)}
        return Manifest(files, modules, dists, env, os.path.realpath(sys.prefix),
                        listings, links, sorted(self.network), absent)

    @staticmethod
    def _environ_value(key: str) -> str | None:
        return os.environ.get(key)


def _note_link(full: str, rel: str, recorder: Recorder, links: dict[str, str]) -> None:
    """Where a path that goes through a symlink led (re-pointing the link is a change even
    when the new target has the same content)."""
    real = os.path.realpath(full)
    if real != full:
        links[rel] = recorder.key(real)


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
