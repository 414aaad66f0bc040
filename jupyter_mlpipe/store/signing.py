"""Signatures on what the store writes: the per-user secret, trusted team keys, keyed blake3.

Loading a pickle runs code, so the store signs every artifact and cache entry it writes with a
secret kept outside the project (as Jupyter signs notebooks) and loads nothing whose signature
none of the trusted keys verifies.

- The signing key: `$MLPIPE_SECRET_FILE`, else `<jupyter data dir>/jupyter_mlpipe/secret`,
  created on first use with 0600 permissions (32 random bytes, hex). A team sharing a store
  points MLPIPE_SECRET_FILE at one team key file.
- Extra keys that verify (not sign): `$MLPIPE_TRUSTED_KEYS`, key files separated by
  os.pathsep (a teammate's secret, an older team key), and `[store] trusted_keys = [paths]`
  in the project's mlpipe.toml (or [tool.mlpipe.store] of pyproject.toml), relative paths
  read from the folder of that file.
A signature is blake3 in keyed mode over a purpose tag and the signed bytes.
"""
from __future__ import annotations

import contextlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import blake3

from ..errors import CacheError, UnsafeFolderError
from ..private import private_dir
from .project import store_table

KEY_BYTES = 32


@dataclass(frozen=True, slots=True)
class Keys:
    """The key that signs, and every key that verifies (the signing key first)."""

    signing: bytes
    trusted: tuple[bytes, ...]

    def sign(self, purpose: bytes, data: bytes) -> str:
        return _mac(self.signing, purpose, data)

    def verifies(self, purpose: bytes, data: bytes, signature: object) -> bool:
        return isinstance(signature, str) and any(
            hmac.compare_digest(_mac(k, purpose, data), signature) for k in self.trusted)


def fingerprint(keys: Keys) -> str:
    """Which keys sign and verify, as a short digest (never the keys themselves)."""
    return blake3.blake3(b"\0".join((keys.signing, *keys.trusted))).hexdigest()[:16]


def sign_entry(keys: Keys, entry: dict) -> str:
    """The signature of a cache entry (every field but "signature", in canonical JSON)."""
    return keys.sign(b"entry", _canonical(entry))


def entry_trusted(entry: dict, keys: Keys) -> bool:
    """Whether one of `keys` signed this entry (as read, its "signature" field included)."""
    unsigned = {k: v for k, v in entry.items() if k != "signature"}
    return keys.verifies(b"entry", _canonical(unsigned), entry.get("signature"))


def _canonical(entry: dict) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()


def _mac(key: bytes, purpose: bytes, data: bytes) -> str:
    return blake3.blake3(purpose + b"\0" + data, key=key).hexdigest()


def secret_path() -> Path:
    env = os.environ.get("MLPIPE_SECRET_FILE")
    if env:
        return Path(env).expanduser()
    from jupyter_core.paths import jupyter_data_dir  # light, but only needed here

    return Path(jupyter_data_dir()) / "jupyter_mlpipe" / "secret"


def _read_key(path: Path) -> bytes:
    try:
        key = bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise CacheError(f"cannot read the signing key {path} ({exc}). Remove it to make a new "
                         "one (results signed with it are then recomputed), or fix "
                         "MLPIPE_SECRET_FILE / MLPIPE_TRUSTED_KEYS.") from None
    if len(key) != KEY_BYTES:
        raise CacheError(f"the signing key {path} is not {KEY_BYTES} bytes in hex; remove it "
                         "to make a new one.")
    return key


def _create_secret(path: Path) -> None:
    """Write a new secret readable by this user alone; a concurrent creator's file wins."""
    try:
        private_dir(path.parent, shared_parent=False)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except UnsafeFolderError:
        raise
    except OSError as exc:
        raise CacheError(f"cannot create the signing key {path} ({exc}); set "
                         "MLPIPE_SECRET_FILE to a writable place outside the project.") from None
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(KEY_BYTES))


_cache: dict[tuple[str, tuple[Path, ...]], Keys] = {}


def project_trusted_keys(root: Path) -> list[Path]:
    """The key files `[store] trusted_keys` of the project at `root` lists."""
    source, table = store_table(root)
    listed = table.get("trusted_keys", []) if isinstance(table, dict) else []
    if isinstance(listed, str):
        listed = [listed]
    if not isinstance(listed, list) or not all(isinstance(p, str) for p in listed):
        raise CacheError(f"{source}: [store] trusted_keys must be a list of key file paths, "
                         f"e.g. trusted_keys = [\"keys/team.key\"]")
    return [Path(source).parent / Path(p).expanduser() for p in listed]


def keys(root: Path | None = None) -> Keys:
    """The keys of this process's configuration and of the project at `root` (default: the
    current folder); cached per secret file and trusted key files."""
    path = secret_path()
    extra = [Path(p).expanduser() for p in os.environ.get("MLPIPE_TRUSTED_KEYS", "").split(
        os.pathsep) if p.strip()] + project_trusted_keys(root or Path.cwd())
    cached = _cache.get((str(path), tuple(extra)))
    if cached is not None:
        return cached
    if not path.is_file():
        _create_secret(path)
    with contextlib.suppress(OSError):
        if path.stat().st_uid != os.getuid():
            raise CacheError(f"the signing key {path} belongs to another user, who could read "
                             "it or replace it and so sign pickles that you would load. Set "
                             "MLPIPE_SECRET_FILE to a file of yours (a new one is made if it is "
                             "missing).")
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
    signing = _read_key(path)
    found = Keys(signing, tuple([signing] + [_read_key(p) for p in extra]))
    _cache[(str(path), tuple(extra))] = found
    return found
