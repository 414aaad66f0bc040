"""The shared store on object storage (fsspec): step results under the same keys as `.mlpipe/`.

Remote layout under the store URL (s3://BUCKET/PREFIX, gs://..., az://..., file://...):
  objects/ab/<digest>.<b3>    an artifact's bytes; <b3>: blake3 of those bytes (16 hex digits)
  objects/ab/<digest>.json    {"name", "size", "blake3"}: which bytes are the artifact, checked
  blobs/ab/<digest>           raw bytes of a --writes file (the digest is of these bytes)
  entries/ab/<key>.json       the local entry file's bytes, unchanged (its signature included)
  used/ab/<key>               empty; written when a result is pulled: its last use
  leases/<run id>.json        a running run's lease: `cache gc --remote` evicts nothing meanwhile
This layer moves bytes and never unpickles: a file is checked against its blake3, an artifact
against its trailer (digest and signature), an entry against its signature, before any of it is
renamed into the local store; values are loaded only by the local store's reader. A result that
a key we do not trust signed is refused (noted once), recomputed, and left as it is remotely.
Order makes uploads atomic: the data objects (one PUT, or an S3 multipart upload that is visible
only once completed), then the small record naming them, then the entry naming those. A reader
that finds an entry finds complete objects; two writers of one key each publish a valid whole; a
connection lost mid-upload leaves only invisible parts (or unnamed objects) behind.
fsspec and its backends (s3fs, gcsfs, adlfs) are imported in the functions: they are optional
and heavy, and a project without a shared store never needs them.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import CacheError, UntrustedArtifactError
from .files import Store
from .signing import entry_trusted
from .project import store_table
from .serialize import TRAILER_BYTES, ArtifactDamaged, ArtifactUnsigned, check_trailer, file_digest
from .transfer import Received, receive

_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
# answers within seconds when the endpoint is down, instead of botocore's minutes of retries
_S3_DEFAULTS = {"config_kwargs": {"connect_timeout": 5, "read_timeout": 60,
                                  "retries": {"max_attempts": 2}}}


class RemoteStoreError(CacheError):
    """The shared store cannot be used: unreachable, credentials refused, no such bucket."""

    exit_code = 2


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """The [store] table of mlpipe.toml (or $MLPIPE_STORE): where results are shared."""

    url: str | None = None
    options: dict[str, Any] = field(default_factory=dict)  # fsspec storage options
    max_size: int | None = None  # bytes the local cache may hold (`cache gc`)
    source: str = "defaults"


def parse_size(text: str | int) -> int:
    """'20GB' -> 20_000_000_000; '512MiB' -> 536_870_912; 1000 -> 1000."""
    if isinstance(text, int):
        return text
    m = re.fullmatch(r"\s*([\d.]+)\s*([a-zA-Z]*)\s*", str(text))
    if not m or m.group(2).lower() not in _UNITS:
        raise CacheError(f"cannot read the size {text!r}: write e.g. 20GB, 512MiB or 1000000")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def store_config(root: Path) -> StoreConfig:
    """The project's store settings; $MLPIPE_STORE overrides the file's url."""
    source, table = store_table(root)
    if not isinstance(table, dict) or set(table) - {"url", "options", "max_size",
                                                    "trusted_keys"}:
        raise RemoteStoreError(f"{source}: [store] takes url, options, max_size and "
                               "trusted_keys")
    url = os.environ.get("MLPIPE_STORE") or table.get("url") or None
    options = dict(table.get("options", {}))
    env_options = os.environ.get("MLPIPE_STORE_OPTIONS")
    if env_options:
        options.update(json.loads(env_options))
    size = table.get("max_size")
    return StoreConfig(url, options, parse_size(size) if size is not None else None, source)


_OPEN: dict[str, "RemoteStore"] = {}
LEASE_HOURS = 6.0  # a run's lease lasts this long after its last stored result
_NOTED: set[str] = set()  # stores whose untrusted results were noted in this process
TRUST_FIX = ("To reuse your team's results, add the team key to MLPIPE_TRUSTED_KEYS or [store] "
             "trusted_keys, or share one key via MLPIPE_SECRET_FILE.")


def open_remote(root: Path) -> "RemoteStore | None":
    """The project's shared store, checked once per process; None when none is configured."""
    config = store_config(root)
    if not config.url:
        return None
    ident = json.dumps([config.url, config.options], sort_keys=True, default=str)
    if ident not in _OPEN:
        remote = RemoteStore(config.url, config.options)
        remote.check()
        _OPEN[ident] = remote
    return _OPEN[ident]


def _shard(kind: str, name: str) -> str:
    return f"{kind}/{name[:2]}/{name}"


class RemoteStore:
    """Results on object storage; moves checked bytes to and from a local Store."""

    def __init__(self, url: str, options: dict[str, Any] | None = None):
        import fsspec  # optional and heavy: see the module docstring

        options = dict(options or {})
        if url.startswith(("s3://", "s3a://")):
            options = {**_S3_DEFAULTS, **options}
        try:
            self.fs, self.root = fsspec.core.url_to_fs(url, **options)
        except (ImportError, ValueError) as exc:
            raise RemoteStoreError(
                f"shared store {url}: {exc}. Install its fsspec package (s3fs for s3://, gcsfs "
                "for gs://, adlfs for az://).") from None
        self.url, self.options = url, options
        self.root = self.root.rstrip("/")
        self._refused: set[str] = set()  # keys whose remote result we do not trust

    def _path(self, rel: str) -> str:
        return f"{self.root}/{rel}"

    def _fail(self, exc: BaseException, doing: str) -> RemoteStoreError:
        name = type(exc).__name__
        if isinstance(exc, PermissionError) or "AccessDenied" in str(exc) \
                or "InvalidAccessKeyId" in str(exc) or "SignatureDoesNotMatch" in str(exc):
            fix = ("the credentials were refused; set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY "
                   "(or [store.options]) to a key allowed to read and write it")
        elif isinstance(exc, FileNotFoundError):
            fix = "the bucket does not exist; create it, or fix [store] url / $MLPIPE_STORE"
        else:
            fix = ("it does not answer; check the network, AWS_ENDPOINT_URL or "
                   "[store.options] endpoint_url")
        return RemoteStoreError(f"shared store {self.url}: {doing} failed ({name}: {exc}); {fix}.")

    def check(self) -> None:
        """The bucket exists and answers with these credentials; else a RemoteStoreError."""
        bucket = self.root.split("/", 1)[0]
        try:
            if "file" in self.fs.protocol:  # a folder: nothing to ask
                self.fs.makedirs(self.root, exist_ok=True)
                return
            self.fs.info(bucket)
        except Exception as exc:  # botocore/aiohttp raise many types  # noqa: BLE001
            raise self._fail(exc, "opening the bucket") from None
        try:
            self.fs.ls(self.root, detail=False, refresh=True)
        except FileNotFoundError:
            pass  # the bucket answers; the prefix is only empty so far
        except Exception as exc:  # noqa: BLE001
            raise self._fail(exc, "listing the store") from None

    # ---- reading -----------------------------------------------------------------------
    def get_entry(self, key: str) -> dict | None:
        """The remote entry for `key`, or None."""
        try:
            return json.loads(self.fs.cat_file(self._path(_shard("entries", key) + ".json")))
        except FileNotFoundError:
            return None
        except ValueError:
            return None  # not an entry we can read: treated as absent
        except Exception as exc:  # noqa: BLE001 - network errors of every backend
            raise self._fail(exc, f"reading entry {key[:12]}") from None

    def _download(self, rel: str, dest: Path, store: Store, what: str,
                  check: Callable[[Received], None], tail: int = 0) -> None:
        """Stream `rel` to a temp file, hashing as it comes; `check` it, rename it to `dest`."""
        store.tmp.mkdir(parents=True, exist_ok=True)
        tmp = store.tmp / f"{os.getpid()}-{uuid.uuid4().hex}"
        try:
            try:
                got = receive(self.fs, self._path(rel), tmp, tail)
            except FileNotFoundError:
                raise CacheError(f"{what} is missing from {self.url}") from None
            except Exception as exc:  # noqa: BLE001
                raise self._fail(exc, f"downloading {what}") from None
            check(got)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)

    def fetch_value(self, digest: str, store: Store) -> None:
        """Copy one artifact into the local store, checked (not loaded): its bytes against the
        digest in its trailer and that trailer's signature against our trusted keys, in the
        pass that downloads it. An artifact no trusted key signed never lands locally."""
        if store.has_value(digest):
            return
        try:
            record = json.loads(self.fs.cat_file(self._path(_shard("objects", digest) + ".json")))
        except FileNotFoundError:
            raise CacheError(f"artifact {digest[:12]} is in neither {store.home} nor "
                             f"{self.url}; run the step that makes it again") from None
        except Exception as exc:  # noqa: BLE001
            raise self._fail(exc, f"reading artifact {digest[:12]}") from None
        what = f"artifact {digest[:12]}"
        where = f"{self.url}/{_shard('objects', record['name'])}"

        def check(got: Received) -> None:
            try:
                if got.size != record["size"]:
                    raise ArtifactDamaged(f"{got.size} bytes, not {record['size']}")
                check_trailer(digest, got.digest, got.tail, store.keys())
            except ArtifactDamaged as exc:
                raise CacheError(f"{what} from {self.url} does not match its digest ({exc}); "
                                 "it was not used") from None
            except ArtifactUnsigned:
                raise UntrustedArtifactError(digest, where, f"it is signed by a key you do not "
                                             f"trust. {TRUST_FIX}") from None

        self._download(_shard("objects", record["name"]), store.value_path(digest), store,
                       what, check, tail=TRAILER_BYTES)

    def fetch_blob(self, digest: str, store: Store) -> None:
        dest = store.blobs / digest[:2] / digest
        if dest.is_file():
            return

        def check(got: Received) -> None:
            if got.digest.hex() != digest:
                raise CacheError(f"file {digest[:12]} from {self.url} does not match its digest "
                                 f"({got.digest.hex()[:12]}); it was not used")

        self._download(_shard("blobs", digest), dest, store, f"file {digest[:12]}", check)

    def pull(self, key: str, store: Store) -> bool:
        """Copy the result stored under `key` into the local store; False if there is none, or
        if a key we do not trust signed it (noted once; nothing of it lands locally)."""
        raw = self._entry_bytes(key)
        if raw is None:
            return False
        try:
            entry = json.loads(raw)
            if not isinstance(entry, dict) or entry.get("key") != key:
                return False  # not an entry we can read: treated as absent
            if not entry_trusted(entry, store.keys()):
                raise UntrustedArtifactError(key, self.url, "its entry is signed by a key you "
                                             "do not trust")
            for digest in entry.get("outputs", {}).values():
                self.fetch_value(digest, store)
        except ValueError:
            return False
        except UntrustedArtifactError:
            self._refuse(key, entry)
            return False
        for digest in _blob_digests(entry):
            self.fetch_blob(digest, store)
        _write_local(store, store.entries / key[:2] / f"{key}.json", raw)  # its bytes, as signed
        self.mark_used(key)
        return True

    def _refuse(self, key: str, entry: dict) -> None:
        """Remember an untrusted result (push leaves it alone) and say so once per store."""
        self._refused.add(key)
        if self.url not in _NOTED:
            _NOTED.add(self.url)
            print(f"jupyter_mlpipe: note: {self.url} holds results signed by a key you do not "
                  f"trust (step '{entry.get('step', '?')}', entry {key[:12]}); they are "
                  f"recomputed here, never loaded. {TRUST_FIX}", file=sys.stderr)

    def _entry_bytes(self, key: str) -> bytes | None:
        try:
            return self.fs.cat_file(self._path(_shard("entries", key) + ".json"))
        except FileNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001
            raise self._fail(exc, f"reading entry {key[:12]}") from None

    # ---- writing -----------------------------------------------------------------------
    def has_entry(self, key: str) -> bool:
        try:
            return self.fs.exists(self._path(_shard("entries", key) + ".json"))
        except Exception as exc:  # noqa: BLE001
            raise self._fail(exc, f"looking up entry {key[:12]}") from None

    def _exists(self, rel: str) -> bool:
        return self.fs.exists(self._path(rel))

    def put_value(self, digest: str, store: Store) -> None:
        """Upload an artifact's bytes (streamed in parts), then the record that names them."""
        record_rel = _shard("objects", digest) + ".json"
        if self._exists(record_rel):
            return
        path = store.value_path(digest)
        b3 = file_digest(path)
        name = f"{digest}.{b3[:16]}"
        self.fs.put_file(str(path), self._path(_shard("objects", name)))
        record = {"name": name, "size": path.stat().st_size, "blake3": b3}
        self.fs.pipe_file(self._path(record_rel), json.dumps(record).encode())

    def put_blob(self, digest: str, store: Store) -> None:
        rel = _shard("blobs", digest)
        if not self._exists(rel):
            self.fs.put_file(str(store.blobs / digest[:2] / digest), self._path(rel))

    def push_data(self, outputs: dict[str, str], writes: dict[str, dict], store: Store) -> None:
        """Upload the artifacts and files a result names (those not there yet)."""
        try:
            for digest in outputs.values():
                self.put_value(digest, store)
            for digest in _blob_digests({"writes": writes}):
                self.put_blob(digest, store)
        except (CacheError, FileNotFoundError):
            raise
        except Exception as exc:  # noqa: BLE001
            raise self._fail(exc, "uploading") from None

    def push(self, key: str, store: Store) -> bool:
        """Upload the local result under `key`: its data first, its entry last."""
        if key in self._refused:
            return False  # the team's result stays: those who trust its key reuse it
        local = store.entries / key[:2] / f"{key}.json"
        try:
            raw = local.read_bytes()
        except FileNotFoundError:
            return False
        entry = json.loads(raw)
        self.push_data(entry.get("outputs", {}), entry.get("writes", {}), store)
        try:
            self.fs.pipe_file(self._path(_shard("entries", key) + ".json"), raw)
        except Exception as exc:  # noqa: BLE001
            raise self._fail(exc, f"uploading entry {key[:12]}") from None
        return True

    def push_notebook(self, store: Store, notebook: str) -> int:
        """Upload the current result of each step of `notebook`; returns how many."""
        folder = store.latest / notebook.replace(os.sep, "__").replace("/", "__")
        keys = {json.loads(p.read_bytes()).get("key") for p in folder.glob("*.json")}
        return sum(self.push(k, store) for k in sorted(k for k in keys if k))

    def sync(self, key: str, store: Store, local: dict | None) -> None:
        """Make both stores hold `key` when either does: pull a remote hit, push a local one."""
        if local is None:
            self.pull(key, store)
        elif not self.has_entry(key):
            self.push(key, store)


    # ---- last use and leases, for `cache gc --remote` (usage.py) --------------------------
    def mark_used(self, key: str) -> None:
        """Record that the result under `key` was just reused (an empty used/ object)."""
        try:
            self.fs.pipe_file(self._path(_shard("used", key)), b"")
        except Exception:  # noqa: BLE001 - a lost mark only makes eviction less exact
            pass

    def take_lease(self, run_id: str) -> str:
        """Announce a running run (or renew its lease); returns the lease's name."""
        now = time.time()
        lease = f"leases/{run_id}.json"
        body = {"run_id": run_id, "host": socket.gethostname(), "taken": now,
                "expires": now + LEASE_HOURS * 3600}
        try:
            self.fs.pipe_file(self._path(lease), json.dumps(body).encode())
        except Exception as exc:  # noqa: BLE001
            raise self._fail(exc, "taking a lease") from None
        return lease

    def drop_lease(self, lease: str) -> None:
        with contextlib.suppress(Exception):  # an expired lease stops counting by itself
            self.fs.rm_file(self._path(lease))

    def active_leases(self, now: float | None = None) -> list[str]:
        """The leases of runs still running (not yet expired)."""
        now = time.time() if now is None else now
        try:
            names = self.fs.find(self._path("leases"))
        except FileNotFoundError:
            return []
        active = []
        for name in names:
            with contextlib.suppress(Exception):  # one unreadable lease is one less
                if json.loads(self.fs.cat_file(name))["expires"] > now:
                    active.append(name[len(self.root) + 1:])
        return sorted(active)


def _blob_digests(entry: dict) -> list[str]:
    out: list[str] = []
    for m in entry.get("writes", {}).values():
        ms = [m] if m["type"] == "file" else list(m["files"].values())
        out.extend(x["digest"] for x in ms)
    return out


def _write_local(store: Store, dest: Path, data: bytes) -> None:
    store.tmp.mkdir(parents=True, exist_ok=True)
    tmp = store.tmp / f"{os.getpid()}-{uuid.uuid4().hex}"
    tmp.write_bytes(data)
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, dest)
