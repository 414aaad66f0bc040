"""Recording what a step really used, inside the step's process (manifest.py says what a
manifest holds and checks it before reuse).

Python's audit hook sees every `open`, `io.open_code` and listing made through Python, and who
asked for it (the step's code, a project module, or jupyter_mlpipe's own); the read log
(kernels/readlog.py) adds what C libraries and subprocesses open; os.environ notes which
variables the user's own code reads. Paths are kept as the code used them.
"""
from __future__ import annotations

import importlib
import os
import sys
import threading
from collections.abc import Iterable
from typing import Any

from ..kernels import readlog
from ..pipeline import analysis
from ..pipeline.analysis import INSTALLED_FOLDERS, is_project_file
from ..store.serialize import file_digest, source_digest
from .distributions import distributions_of, installed_version, is_stdlib
from .loaded import imports_of, project_modules
from .manifest import CHANGED_WHILE_RUNNING, Manifest, env_digest, listing_digest
from .shell_env import COMMAND_EVENTS, named_variables

__all__ = ["Recorder"]


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


# ---- recording, inside the step's process ---------------------------------------------------
_active: list[Recorder] = []  # the recorder of the step running now (one at a time)
_logging: list[Recorder] = []  # recorders whose read log is open, oldest first
_env_before: dict[str, str | None] = {}  # the read log's variables before the first opened
_LOG_ENV = (readlog.LOG_VAR, readlog.SKIP_VAR, readlog.ROOT_VAR, "LD_PRELOAD")
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
            writes = (flags or 0) & os.O_ACCMODE != os.O_RDONLY
            reads = (flags or 0) & os.O_ACCMODE != os.O_WRONLY and not (flags or 0) & os.O_TRUNC
        else:  # "w+" truncates: it reads only what the step writes
            writes = any(c in mode for c in "wax+")
            reads = "w" not in mode and ("r" in mode or "+" in mode)
        if writes:
            _active[-1].wrote_to(os.fsdecode(path))
        if reads:
            _active[-1].opened(os.fsdecode(path))
    elif event in _LISTING_EVENTS:
        path = args[0] if args else None
        if not isinstance(path, int):
            _active[-1].listed(os.fsdecode(path) if path is not None else ".", sys._getframe(1))
    elif event == "socket.connect" and len(args) > 1 and isinstance(args[1], tuple) \
            and len(args[1]) >= 2 and isinstance(args[1][0], str):
        _active[-1].connected(f"{args[1][0]}:{args[1][1]}")
    elif event in COMMAND_EVENTS:  # a shell reads the variables its command line names
        _active[-1].env.update(named_variables(event, args) - _MACHINERY_ENV)


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


# Variables jupyter_mlpipe sets around a step for its read log (kernels/readlog.py), so a
# live kernel's env differs from a batch kernel's in them; never part of a manifest.
_MACHINERY_ENV = frozenset(_LOG_ENV)


class Recorder:
    """Records one step's dependencies between `start()` and `stop()`.

    Paths are kept as the code used them (made absolute with the working directory), so a
    symlink is recorded by its own name and, in `links`, by what it resolved to. Files
    anywhere count but the Python installation's (its versions are recorded instead), the
    kernel's pseudo-files, the store and jupyter_mlpipe's own. Python's own opens and
    listings are attributed by their caller (audit hook); opens below Python (C libraries,
    subprocesses) come from the read log (kernels/readlog.py) and count for the step."""

    def __init__(self, root: str | os.PathLike, ignore: Iterable[str] = (),
                 stamp_reads: bool = False):
        """`ignore`: files and folders (relative to `root`, or absolute) that are not
        dependencies: the step's --writes, the store. `stamp_reads`: keep each file's stat
        when first read, so a file changed between its read and `manifest()` (a prelude read
        long before the step ends) is recorded as changed, not by its new digest."""
        self.root = os.path.realpath(root) + os.sep
        self.ignore = {os.path.realpath(os.path.join(self.root, p)) for p in ignore}
        self._ignored_folders = tuple(p + os.sep for p in self.ignore)
        # (a project inside a kernel folder, as tests' temporary folders may be, is data)
        self._not_data = tuple(p for p in _NOT_DATA if not self.root.startswith(p))
        self.files: set[str] = set()
        self.listings: set[str] = set()
        self.probed: set[str] = set()  # project paths a stat or access call found absent
        self.found: set[str] = set()  # project paths one found, the step's code or not
        self.network: set[str] = set()
        self.wrote: set[str] = set()
        self.env: set[str] = set()
        self._seen: set[str] = set()  # every path Python opened or listed, the step's or not
        self._modules_before: set[str] = set()
        self.stamps: dict[str, tuple[int, int] | None] | None = {} if stamp_reads else None
        self._log: str | None = None
        self._log_offset = 0
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
            self._stamp(full)
            self.files.add(full)

    def _stamp(self, full: str) -> None:
        if self.stamps is not None and full not in self.files:
            self.stamps[full] = _stat(full)

    def wrote_to(self, path: str) -> None:
        """A file the step's own code opened for writing: a step below that reads it must
        wait for this one (run/handoffs.py)."""
        full = os.path.realpath(os.path.join(os.getcwd(), path))
        if (is_project_file(full, self.root) and full not in self.ignore
                and not full.startswith(self._ignored_folders)
                and self._opened_by_user(sys._getframe(2))):
            self.wrote.add(full)

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
        if key in _MACHINERY_ENV:  # what the read log itself sets: not the step's input
            return
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

    @property
    def recording(self) -> bool:
        return self in _active

    def start(self) -> Recorder:
        _install_hook()
        self._modules_before = set(sys.modules)
        self._start_read_log()
        _active.append(self)
        return self

    def stop(self) -> None:
        if self in _active:
            _active.remove(self)
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
        if not _logging:  # the first log named: what to put back once the last one stops
            _env_before.clear()
            _env_before.update({k: os.environ.get(k) for k in _LOG_ENV})
        _logging.append(self)
        os.environ[readlog.LOG_VAR] = self._log
        os.environ[readlog.ROOT_VAR] = self.root
        if readlog.SKIP_VAR not in os.environ:
            os.environ[readlog.SKIP_VAR] = readlog.skip_prefixes()
        lib = None if readlog.preloaded() else readlog.library()
        if lib and lib not in os.environ.get("LD_PRELOAD", ""):  # a live kernel's children
            os.environ["LD_PRELOAD"] = f"{lib} {os.environ.get('LD_PRELOAD', '')}".strip()

    def _stop_read_log(self) -> None:
        """The environment names the newest log still open, or none once the last one stops
        (in any order: a live kernel's prelude recorder outlives the steps it runs)."""
        if self._log is None:
            return
        if self in _logging:
            _logging.remove(self)
        if _logging:
            os.environ[readlog.LOG_VAR] = _logging[-1]._log or ""
            os.environ[readlog.ROOT_VAR] = _logging[-1].root
        else:
            for key, value in _env_before.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
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
            elif kind in "ST":
                if full.startswith(self.root) and not _tool_probe(full):  # outside: mostly a
                    (self.probed if kind == "S" else self.found).add(full)  # shell's PATH search
            elif kind == "A":
                self.files.add(full)  # not found: recorded as absent
            elif not os.path.isdir(full):  # a folder opened to fsync it (SQLite) is not listed
                self._stamp(full)
                self.files.add(full)

    def __enter__(self) -> Recorder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def key(self, full: str) -> str:
        return _key(full, self.root)

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
        self.drain_read_log()
        root = os.path.realpath(root) + os.sep if root else self.root
        names = set(imported)
        if new_modules:
            names |= set(sys.modules) - self._modules_before
        modules: dict[str, str] = {}
        dists: dict[str, str] = {}
        project = project_modules(root)
        for _, path in project:
            modules[_key(path, root)] = source_digest(path)
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
            provided = distributions_of(name.partition(".")[0], cache_dir)
            for dist in provided:
                if dist not in dists:
                    dists[dist] = installed_version(dist)
            if not provided and real and real.endswith(".py") and self.counts(real) \
                    and os.path.isfile(real):  # a module of no distribution, anywhere
                modules[_key(real, root)] = source_digest(real)
        dists = {d: v for d, v in sorted(dists.items()) if v is not None}
        files: dict[str, str] = {}
        links: dict[str, str] = {}
        absent: list[str] = []
        for full in sorted(self.files):
            rel = _key(full, root)
            if not os.path.lexists(full):
                absent.append(rel)  # looked for and not found, or deleted by the step
            if rel in modules or _key(os.path.realpath(full), root) in modules \
                    or not os.path.isfile(full):
                continue
            stamps = self.stamps
            if stamps is not None and full in stamps and _stat(full) != stamps[full]:
                files[rel] = CHANGED_WHILE_RUNNING  # read, then changed: what was read is gone
            else:
                files[rel] = read_digest(full)
            _note_link(full, rel, root, links)
        absent += [_key(full, root) for full in sorted(self.probed - self.files)
                   if not os.path.lexists(full)]  # found by then: the step made it
        present = [rel for full in sorted(self.found - self.files - self.listings - self.wrote)
                   if (rel := _key(full, root)) not in modules and not os.path.isabs(rel)
                   and rel != "." and os.path.lexists(full)]  # gone by then: the step removed it
        listings: dict[str, str] = {}
        for full in sorted(self.listings):
            if os.path.isdir(full):
                rel = _key(full, root)
                listings[rel] = listing_digest(full)
                _note_link(full, rel, root, links)
        env = {k: env_digest(self._environ_value(k)) for k in sorted(self.env)}
        wrote = tuple(sorted(os.path.relpath(p, root) for p in self.wrote))
        return Manifest(files, modules, dists, env, os.path.realpath(sys.prefix), listings,
                        links, sorted(self.network), sorted(absent), wrote, present=present)

    @staticmethod
    def _environ_value(key: str) -> str | None:
        return os.environ.get(key)


_SETTINGS_FILES = ("mlpipe.toml", "pyproject.toml")  # looked up by jupyter_mlpipe itself


def _tool_probe(full: str) -> bool:
    """A stat the machinery around the step makes: the project's settings (looked up while
    inputs load), code "files" such as <frozen posixpath> (tracebacks, frame checks)."""
    name = os.path.basename(full)
    return name.startswith("<") or name in _SETTINGS_FILES


def _key(full: str, root: str) -> str:
    """How the manifest names a path: relative to the project folder (`root`, ending with a
    separator) inside it, so a copied project is the same project; absolute outside it."""
    inside = full.startswith(root) or full == root[:-1]
    return os.path.relpath(full, root) if inside else full


def _note_link(full: str, rel: str, root: str, links: dict[str, str]) -> None:
    """Where a path that goes through a symlink led (re-pointing the link is a change even
    when the new target has the same content)."""
    real = os.path.realpath(full)
    if real != full:
        links[rel] = _key(real, root)
