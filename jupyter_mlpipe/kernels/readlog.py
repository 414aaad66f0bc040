"""The read log: which files a step's process and its children open, seen below Python.

Python's audit hook sees `open()`, not the files C libraries open (Arrow's parquet reader,
SQLite, HDF5) nor those a subprocess opens (`!cat`, `awk`). readlog.c wraps libc's open family
and opendir and appends each path opened for reading to the file that MLPIPE_READLOG names;
it is compiled on first use with the system C compiler (`$CC`, else `cc`) into a per-user
cache folder, and put in LD_PRELOAD of every kernel and kernel template jupyter_mlpipe starts
(forked kernels inherit it, subprocesses get it through the environment). A live kernel that
jupyter_mlpipe did not start gets the same functions by rewriting its loaded libraries' GOT
slots (`hook_this_process`). The recorder (run/manifest.py) names a fresh log per step and
reads it when the step ends. Where no compiler exists, native reads are not recorded and
`status()` says so, with the fix, once per process.
"""
from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("readlog.c")
LOG_VAR = "MLPIPE_READLOG"
SKIP_VAR = "MLPIPE_READLOG_SKIP"
ROOT_VAR = "MLPIPE_READLOG_ROOT"  # the project folder: where a path found by a stat is logged
_LOG_PREFIX = "mlpipe-reads-"
_state: dict[str, object] = {}  # this process's compiled library, or why there is none


def cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "jupyter_mlpipe"


def _private_folder(folder: Path) -> None:
    """Create `folder` 0700, and refuse one another user owns or others may write to: a
    library there is loaded into every kernel."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = folder.stat()
    if st.st_uid != os.getuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise OSError(f"{folder} is not private to this user (owner {st.st_uid}, mode "
                      f"{stat.filemode(st.st_mode)}); remove it or set XDG_CACHE_HOME")


def _compile(folder: Path) -> Path:
    source = SOURCE.read_bytes()
    cc = os.environ.get("CC") or "cc"
    tag = hashlib.sha256(source + sysconfig.get_platform().encode() + cc.encode()).hexdigest()
    lib = folder / f"readlog-{tag[:16]}.so"
    if lib.is_file() and lib.stat().st_uid == os.getuid():
        return lib
    if shutil.which(cc) is None:
        raise OSError(f"no C compiler ('{cc}') on PATH")
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=folder)
    os.close(fd)
    try:
        r = subprocess.run([cc, "-O2", "-shared", "-fPIC", "-fvisibility=hidden",
                            "-Wl,-Bsymbolic", "-o", tmp, str(SOURCE), "-ldl"],
                           capture_output=True, text=True, timeout=120, check=False)
        if r.returncode != 0:
            raise OSError(f"'{cc}' failed: {(r.stderr or r.stdout).strip()[:300]}")
        # atomic: a concurrent run loads a whole library or none. Builds of other sources stay
        # (about 20 KB each): another installed version of jupyter_mlpipe may be using one.
        os.replace(tmp, lib)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return lib


def library() -> str | None:
    """The compiled interposer, or None (the reason is in `status()`)."""
    if "lib" not in _state:
        try:
            if not sys.platform.startswith("linux"):
                raise OSError(f"native reads are recorded on Linux only (this is {sys.platform})")
            folder = cache_folder()
            _private_folder(folder)
            _state["lib"] = str(_compile(folder))
        except (OSError, subprocess.SubprocessError) as exc:
            _state["lib"] = None
            _state["why"] = str(exc)
    return _state["lib"]  # type: ignore[return-value]


def status() -> str | None:
    """One line saying native reads are not recorded and how to fix it, or None."""
    if library() is not None:
        return None
    return (f"jupyter_mlpipe: files read by C libraries (pyarrow, sqlite3, h5py) and by "
            f"subprocesses are not recorded, so a change to them is not seen: {_state['why']}. "
            f"Install a C compiler (e.g. `apt-get install gcc`), or declare such files with "
            f"--reads")


def warn_once() -> None:
    if library() is None and not _state.get("warned"):
        _state["warned"] = True
        log.warning("%s", status())


def skip_prefixes() -> str:
    """Folders whose files are not data: the Python installation (its versions are recorded)
    and the kernel's pseudo-files."""
    from ..pipeline.analysis import INSTALLED_FOLDERS, NOT_DATA_FOLDERS

    return ":".join([*INSTALLED_FOLDERS, *NOT_DATA_FOLDERS])


def with_preload(env: dict[str, str]) -> dict[str, str]:
    """`env` with the interposer first in LD_PRELOAD (a kernel and its children record their
    reads while a step names a log; none is named outside steps)."""
    lib = library()
    if lib is None:
        warn_once()
        return env
    preload = env.get("LD_PRELOAD", "")
    if lib not in preload.replace(":", " ").split():
        preload = f"{lib} {preload}".strip()
    return {**env, "LD_PRELOAD": preload, SKIP_VAR: skip_prefixes()}


def preloaded() -> bool:
    """Whether this process runs with the interposer preloaded (its `open` is ours)."""
    if "preloaded" not in _state:
        try:
            _state["preloaded"] = hasattr(ctypes.CDLL(None), "mlpipe_readlog_version")
        except OSError:
            _state["preloaded"] = False
    return bool(_state["preloaded"])


def is_log(path: str) -> bool:
    """Whether `path` is a read log (a recorder reading its log opens it)."""
    return os.path.basename(path).startswith(_LOG_PREFIX)


def new_log() -> str:
    """A fresh log's name (the first record creates it, 0600): none is created for a step
    that opens nothing below Python."""
    n = _state["logs"] = int(_state.get("logs", 0)) + 1  # type: ignore[call-overload]
    return os.path.join(tempfile.gettempdir(),
                        f"{_LOG_PREFIX}{os.getpid()}-{n}-{os.urandom(6).hex()}")


def hook_this_process() -> bool:
    """Route this process's native opens through the interposer (a live kernel that was not
    started with it); True when its reads are recorded."""
    if "hooked" not in _state:
        hooked = preloaded()
        lib = None if hooked else library()
        if lib is not None:
            try:
                hooked = ctypes.CDLL(lib).mlpipe_readlog_hook() > 0
            except (OSError, AttributeError):
                hooked = False
        _state["hooked"] = hooked
    return bool(_state["hooked"])


def read_log(path: str, offset: int = 0) -> tuple[list[tuple[str, str]], int]:
    """The (kind, absolute path) records of a log from byte `offset` on ("R" a file opened
    for reading, "D" a folder listed, "A" a file an open did not find, "S" a path a stat or
    access call did not find, "T" a project path one found, "N" a host connected to), and the
    offset after the last whole record (a record being written meanwhile is read next time)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return [], offset
    whole = data.rfind(b"\0") + 1
    records = [(rec[:1].decode(), os.fsdecode(rec[1:]))
               for rec in data[:whole].split(b"\0") if len(rec) > 1]
    return records, offset + whole
