"""The on-disk store: artifacts and files by content digest, cache entries by key.

Layout under the store home (`.mlpipe/` beside the notebook, or `$MLPIPE_HOME`):
  objects/ab/<digest>   pickled values (see serialize.py)
  blobs/ab/<digest>     raw bytes of files a step --writes
  entries/ab/<key>.json one cached step result: output digests, written files, timings
  latest/<notebook>/<step>.json   the last key components of a step, to explain "stale"
  locks/ab/<key>.lock   held by the run computing that key (single flight across runs)
  runs/<run id>/<step>.ipynb      executed step notebooks
  history.sqlite        run history (history.py)
Every write goes to tmp/ first and is renamed into place, so a killed run never leaves a
half-written file under a name a later run would trust. Artifacts and entries are signed
(signing.py); blobs are checked against their names (their content digests) when restored.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import stat
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from .. import atomic
from ..errors import CacheError, DamagedArtifactError, UnpicklableOutputError, UntrustedArtifactError
from . import health, serialize, signing
from .space import full_disk_error, is_full
if TYPE_CHECKING:  # imported where a lock is taken
    import filelock

CACHE_FORMAT_VERSION = 1
REMOVED, DAMAGED, UNSIGNED = "removed", "damaged", "unsigned"  # Store.entry_problem


def store_home(notebook: str | os.PathLike) -> Path:
    env = os.environ.get("MLPIPE_HOME")
    return Path(env).expanduser().resolve() if env else Path(notebook).resolve().parent / ".mlpipe"


def _shard(root: Path, name: str, suffix: str = "") -> Path:
    return root / name[:2] / (name + suffix)


class Store:
    def __init__(self, home: str | os.PathLike, root: str | os.PathLike | None = None):
        self.home = Path(home)
        # the project folder, whose mlpipe.toml may list trusted keys (signing.py)
        self.root = Path(root) if root else (
            self.home.parent if self.home.name == ".mlpipe" else Path.cwd())
        self.objects = self.home / "objects"
        self.blobs = self.home / "blobs"
        self.entries = self.home / "entries"
        self.latest = self.home / "latest"
        self.runs = self.home / "runs"
        self.tmp = self.home / "tmp"
        self.locks = self.home / "locks"
        self.verified = self.home / "verified"  # stat stamps of artifacts found intact

    def keys(self) -> signing.Keys:
        """The keys that sign and verify here (the user's, and the project's trusted ones)."""
        return signing.keys(self.root)

    @classmethod
    def for_notebook(cls, notebook: str | os.PathLike) -> "Store":
        """The notebook's store, checked usable first (StoreUnusableError names the fix)."""
        home = store_home(notebook)
        health.check_home(home)
        return cls(home, Path(notebook).resolve().parent)

    # ---- atomic writes -----------------------------------------------------------------
    @contextlib.contextmanager
    def _temp(self, what: str) -> Iterator[tuple[Any, Path]]:
        """Yield (open file, its path) in tmp/; on any failure remove it and say why.
        The caller renames it into place before the block ends."""
        self.tmp.mkdir(parents=True, exist_ok=True)
        tmp = self.tmp / f"{os.getpid()}-{uuid.uuid4().hex}"
        try:
            with open(tmp, "wb") as f:
                yield f, tmp
        except OSError as exc:
            if is_full(exc, self.home):
                raise full_disk_error(self.home, f"storing {what}", self.home) from None
            raise CacheError(f"cannot store {what} in {self.home}: {exc}") from None
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()  # already renamed on success

    @staticmethod
    def _publish(f: Any, tmp: Path, dest: Path) -> None:
        f.close()
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, dest)

    @contextlib.contextmanager
    def _atomic(self, dest: Path, what: str) -> Iterator[Any]:
        with self._temp(what) as (f, tmp):
            yield f
            self._publish(f, tmp, dest)

    def _write_json(self, dest: Path, data: dict, what: str) -> None:
        with self._atomic(dest, what) as f:
            f.write(json.dumps(data, indent=1, sort_keys=True).encode())

    # ---- values ------------------------------------------------------------------------
    def put_value(self, value: Any, step: str = "?", variable: str = "?") -> str:
        """Store a value, signed; returns its content digest. Same content is stored once
        (a damaged copy under the same name is replaced)."""
        try:
            s = serialize.dumps(value)
        except Exception as exc:  # pickling raises many types
            raise UnpicklableOutputError(step, variable, f"{type(exc).__name__}: {exc}") from None
        what = f"output '{variable}' of step '{step}' ({s.nbytes:,} bytes)"
        keys = self.keys()
        with self._temp(what) as (f, tmp):
            digest = serialize.digest_and_write(value, s, f, keys)
            dest = _shard(self.objects, digest)
            if not self.verify_value(digest):
                self._publish(f, tmp, dest)
        return digest

    def adopt_value(self, tmp: Path, digest: str, content: bytes) -> None:
        """Sign a received artifact body (tmp, whose bytes hash to `content`) and move it into
        place as `digest`."""
        with open(tmp, "ab") as f:
            serialize.write_trailer(f, digest, content, self.keys())
        if self.verify_value(digest):
            tmp.unlink()
        else:
            dest = _shard(self.objects, digest)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, dest)

    def has_value(self, digest: str) -> bool:
        return _shard(self.objects, digest).is_file()

    def value_path(self, digest: str) -> Path:
        return _shard(self.objects, digest)

    def verify_value(self, digest: str) -> bool:
        """Whether the artifact exists, is intact and signed by a trusted key (not loaded)."""
        return self._value_problem(digest) is None

    def _value_problem(self, digest: str) -> str | None:
        """None if the artifact is usable, else REMOVED, DAMAGED or UNSIGNED."""
        path = _shard(self.objects, digest)

        def check() -> str | None:
            try:
                with open(path, "rb") as f:
                    serialize.check_artifact(f, digest, self.keys())
            except serialize.ArtifactUnsigned:
                _note_unsigned(self.home)
                return UNSIGNED
            except FileNotFoundError:
                return REMOVED
            except (OSError, ValueError, EOFError):
                return DAMAGED
            return None

        return self._checked(path, _shard(self.verified, digest), check)

    def _checked(self, path: Path, marker: Path, check: Callable[[], str | None]) -> str | None:
        """`check()` of a stored file, remembered: a file found intact is not hashed again (by
        this or a later process) while its size, mtime, ctime and inode stay as they were, as
        git's index trusts a stat, so a warm re-run does not re-read every artifact. Rewriting
        or replacing the file changes its ctime or inode; loading always checks the bytes."""
        try:
            st = path.stat()
        except OSError:
            return REMOVED
        keys = signing.fingerprint(self.keys())  # a check vouches for the keys it used only
        stamp = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, keys]
        if _verified.get(str(path)) == stamp or _read_stamp(marker) == stamp:
            return None
        problem = check()
        if problem is None:
            _verified[str(path)] = stamp
            with contextlib.suppress(OSError):  # a read-only store: hash again next time
                atomic.write_text(marker, json.dumps(stamp))
        return problem

    def get_value(self, digest: str) -> Any:
        """Load an artifact, after checking its bytes and its signature; never unpickles
        anything damaged, unsigned or signed by an untrusted key."""
        path = _shard(self.objects, digest)
        try:
            with open(path, "rb") as f:
                return serialize.read_artifact(f, digest, self.keys())
        except FileNotFoundError:
            raise CacheError(
                f"artifact {digest[:12]} is missing from {self.objects}; it was removed "
                "(`mlpipe cache clear`?). Run the pipeline again (`mlpipe run NOTEBOOK`): "
                "the step that produces it is recomputed.") from None
        except serialize.ArtifactUnsigned as exc:
            raise UntrustedArtifactError(digest, path, str(exc)) from None
        except (serialize.ArtifactDamaged, EOFError) as exc:
            raise DamagedArtifactError(digest, path, str(exc)) from None
        except OSError as exc:
            raise CacheError(f"cannot read artifact {path}: {exc.strerror or exc}") from None

    # ---- files a step writes -----------------------------------------------------------
    def put_path(self, path: Path, root: Path) -> dict:
        """Store a file or folder; returns its manifest (relative names -> digest, mode)."""
        full = (root / path).resolve()
        if full.is_dir():
            files = {}
            for p in sorted(full.rglob("*")):
                if p.is_file():
                    files[p.relative_to(full).as_posix()] = self._put_blob(p)
            return {"type": "dir", "files": files}
        if full.is_file():
            return {"type": "file", **self._put_blob(full)}
        raise CacheError(f"declared --writes {path} but the step did not create it")

    def _put_blob(self, p: Path) -> dict:
        digest = serialize.file_digest(p)
        dest = _shard(self.blobs, digest)
        if not dest.exists():
            with self._atomic(dest, f"file {p}") as f, open(p, "rb") as src:
                shutil.copyfileobj(src, f, 1 << 20)
        return {"digest": digest, "mode": stat.S_IMODE(p.stat().st_mode)}

    def restore_path(self, path: str, manifest: dict, root: Path) -> None:
        full = root / path
        items = ([(full, manifest)] if manifest["type"] == "file"
                 else [(full / rel, m) for rel, m in manifest["files"].items()])
        for dest, m in items:
            if dest.is_file() and serialize.file_digest(dest) == m["digest"]:
                continue
            blob = _shard(self.blobs, m["digest"])
            if not blob.is_file():
                raise CacheError(f"stored copy of {dest} is missing; run the step with --force")
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.mlpipe-{uuid.uuid4().hex[:8]}")
            shutil.copyfile(blob, tmp)
            if serialize.file_digest(tmp) != m["digest"]:  # the copy, checked: no race
                tmp.unlink()
                raise DamagedArtifactError(m["digest"], blob, f"the stored copy of {dest} does "
                                           "not match its digest")
            os.chmod(tmp, m["mode"])
            os.replace(tmp, dest)

    def has_blobs(self, manifest: dict) -> bool:
        """Whether every stored file of a --writes manifest exists and is intact."""
        ms = [manifest] if manifest["type"] == "file" else list(manifest["files"].values())
        return all(self._blob_intact(m["digest"]) for m in ms)

    def _blob_intact(self, digest: str) -> bool:
        path = _shard(self.blobs, digest)
        return self._checked(path, _shard(self.verified, f"{digest}.blob"), lambda: None
                             if serialize.file_digest(path) == digest else DAMAGED) is None

    # ---- cache entries -----------------------------------------------------------------
    def put_entry(self, entry: dict) -> None:
        entry = {**entry, "format": CACHE_FORMAT_VERSION}
        entry["signature"] = signing.sign_entry(self.keys(), entry)
        self._write_json(_shard(self.entries, entry["key"], ".json"), entry,
                         f"the cache entry of step '{entry.get('step')}'")

    def get_entry(self, key: str) -> dict | None:
        """The entry for a key, if it is complete, signed by a trusted key, and every artifact
        and file it names is intact. Anything else counts as absent: the step is recomputed."""
        try:
            with open(_shard(self.entries, key, ".json"), "rb") as f:
                entry = json.loads(f.read())
        except (OSError, ValueError):
            return None
        if not _well_formed(entry, key):
            return None  # older format, or damaged: recompute, never misread
        if not signing.entry_trusted(entry, self.keys()):
            _note_unsigned(self.home)
            return None
        del entry["signature"]
        if not all(self.verify_value(d) for d in entry["outputs"].values()):
            return None
        if not all(self.has_blobs(m) for m in entry.get("writes", {}).values()):
            return None
        return entry

    def entry_manifest(self, key: str) -> dict | None:
        """The manifest an entry records, read without verifying the entry: a scheduling
        hint only (run/handoffs.py); whether the entry is reused is decided by get_entry."""
        try:
            with open(_shard(self.entries, key, ".json"), "rb") as f:
                entry = json.loads(f.read())
        except (OSError, ValueError):
            return None
        manifest = entry.get("manifest") if isinstance(entry, dict) else None
        return manifest if isinstance(manifest, dict) else None

    def entry_problem(self, key: str) -> str:
        """Why get_entry(key) finds nothing: REMOVED (the entry or a file it names is gone),
        DAMAGED (bytes changed since written) or UNSIGNED (no trusted key signed it, or an
        older format)."""
        try:
            with open(_shard(self.entries, key, ".json"), "rb") as f:
                entry = json.loads(f.read())
        except FileNotFoundError:
            return REMOVED
        except (OSError, ValueError):
            return DAMAGED
        if isinstance(entry, dict) and entry.get("format") != CACHE_FORMAT_VERSION:
            return UNSIGNED
        if not _well_formed(entry, key):
            return DAMAGED
        if not signing.entry_trusted(entry, self.keys()):
            return UNSIGNED
        problems = [self._value_problem(d) for d in entry["outputs"].values()]
        for m in entry.get("writes", {}).values():
            ms = [m] if m["type"] == "file" else list(m["files"].values())
            problems += [None if self._blob_intact(b["digest"]) else
                         REMOVED if not _shard(self.blobs, b["digest"]).exists() else DAMAGED
                         for b in ms]
        return next((p for p in (DAMAGED, UNSIGNED, REMOVED) if p in problems), REMOVED)

    def set_latest(self, notebook: str, step: str, record: dict) -> None:
        self._write_json(self.latest / _safe(notebook) / f"{step}.json", record,
                         f"the status record of step '{step}'")

    def get_latest(self, notebook: str, step: str) -> dict | None:
        try:
            with open(self.latest / _safe(notebook) / f"{step}.json", "rb") as f:
                return json.loads(f.read())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    # ---- maintenance -------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, exclusive: bool = False, wait: bool = True) -> Iterator[None]:
        """Runs hold a shared lock; `cache gc/clear` an exclusive one, so they never delete
        what a run is about to reference. Released by the OS if the holder dies."""
        import filelock  # 10-30 ms of imports: only commands that lock pay them
        path = self.home / "lock"
        try:
            self.home.mkdir(parents=True, exist_ok=True)
            rw = filelock.ReadWriteLock(path, is_singleton=False)
            (rw.acquire_write if exclusive else rw.acquire_read)(blocking=wait)
        except filelock.Timeout:
            raise CacheError(f"a run is using {self.home}; try again when it ends") from None
        except (OSError, ValueError, sqlite3.Error) as exc:
            raise CacheError(f"cannot lock the store {self.home} ({path}: {exc}). Remove what "
                             "is in the way, or set MLPIPE_HOME to another folder.") from None
        try:
            yield
        finally:
            rw.release()
            rw.close()

    def flight(self, key: str) -> filelock.BaseFileLock:
        """The lock a run holds while it computes `key`, so that another run needing the same
        result waits and reuses it instead of computing it too."""
        path = _shard(self.locks, key, ".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        import filelock
        return filelock.FileLock(path, thread_local=False)

    def iter_entries(self) -> Iterator[tuple[Path, dict]]:
        for p in sorted(self.entries.glob("*/*.json")):
            try:
                yield p, json.loads(p.read_bytes())
            except (OSError, json.JSONDecodeError):
                continue

    def latest_keys(self) -> set[str]:
        keys = set()
        for p in self.latest.glob("*/*.json"):
            with contextlib.suppress(OSError, json.JSONDecodeError):
                keys.add(json.loads(p.read_bytes()).get("key"))
        return keys

    def gc(self, older_than_days: float = 7.0, now: float | None = None) -> dict:
        """Drop superseded entries older than the cutoff, then unreferenced artifacts."""
        now = now or time.time()
        removed = {"entries": 0, "objects": 0, "blobs": 0, "bytes": 0}
        with self.lock(exclusive=True, wait=False):
            keep_keys = self.latest_keys()
            referenced: set[str] = set()
            for p, e in self.iter_entries():
                old = now - e.get("computed_at", 0) > older_than_days * 86400
                if e.get("key") not in keep_keys and old or e.get("format") != CACHE_FORMAT_VERSION:
                    p.unlink()
                    removed["entries"] += 1
                    continue
                referenced.update(e.get("outputs", {}).values())
                for m in e.get("writes", {}).values():
                    ms = [m] if m["type"] == "file" else m["files"].values()
                    referenced.update(x["digest"] for x in ms)
            for kind, root in (("objects", self.objects), ("blobs", self.blobs)):
                for p in root.glob("*/*"):
                    if p.name not in referenced:
                        removed["bytes"] += p.stat().st_size
                        p.unlink()
                        removed[kind] += 1
            shutil.rmtree(self.tmp, ignore_errors=True)
            removed["runs"] = 0
            for d in self.runs.glob("*"):  # executed step notebooks of old runs
                if d.is_dir() and now - d.stat().st_mtime > older_than_days * 86400:
                    shutil.rmtree(d, ignore_errors=True)
                    removed["runs"] += 1
        return removed

    def clear(self) -> None:
        with self.lock(exclusive=True, wait=False):
            for d in (self.objects, self.blobs, self.entries, self.latest, self.tmp,
                      self.verified):
                shutil.rmtree(d, ignore_errors=True)

    def usage(self) -> dict:
        def size(root: Path) -> tuple[int, int]:
            files = [p for p in root.glob("*/*") if p.is_file()]
            return len(files), sum(p.stat().st_size for p in files)

        return {"objects": size(self.objects), "blobs": size(self.blobs)}


_verified: dict[str, list[object]] = {}  # path -> stat (and keys) when last found intact


def _read_stamp(marker: Path) -> list[object] | None:
    try:
        return json.loads(marker.read_text())
    except (OSError, ValueError):
        return None
_noted: set[Path] = set()


def _note_unsigned(home: Path) -> None:
    if home not in _noted:
        _noted.add(home)
        print(f"jupyter_mlpipe: note: {home} holds results that no trusted key signed (written "
              "before signing, or by someone else); they are recomputed, never loaded.",
              file=sys.stderr)


def _well_formed(entry: Any, key: str) -> bool:
    return (isinstance(entry, dict) and entry.get("format") == CACHE_FORMAT_VERSION
            and entry.get("key") == key and isinstance(entry.get("outputs"), dict)
            and all(isinstance(d, str) for d in entry["outputs"].values())
            and isinstance(entry.get("writes", {}), dict))


def _safe(notebook: str) -> str:
    return notebook.replace(os.sep, "__").replace("/", "__")


