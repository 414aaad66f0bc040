"""Published things by name and version: the registry folder that published steps (modules.py)
and published pipelines (publish.py) share.

    ROOT/NAME/VERSION.json   one published version; it never changes once written
    ROOT/NAME/index.json     {"default": VERSION or null, "status": {VERSION: STATE}}

A version is active, deprecated (still runs, with a warning) or disabled (refuses to run). The
default version is the one set with `set_default`, else the newest active one, else the newest
deprecated one.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .. import atomic
from ..errors import InvalidNameError, MlpipeError
from ..private import private_dir

# Bounded so that ROOT/NAME/VERSION.json (and its temp file) fit the file system's NAME_MAX
# (255 bytes): a longer name is refused with a message, never an OSError from the disk.
MAX_NAME, MAX_VERSION = 100, 64
NAME = re.compile(rf"^[A-Za-z_][A-Za-z0-9_.-]{{0,{MAX_NAME - 1}}}\Z")
VERSION = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9._+-]{{0,{MAX_VERSION - 1}}}\Z")
STATES = ("active", "deprecated", "disabled")
ACTIONS = {"deprecate": "deprecated", "disable": "disabled", "enable": "active"}  # + "default"


def split_ref(ref: str) -> tuple[str, str | None]:
    """`NAME@VERSION` or `NAME` -> (name, version or None)."""
    name, _, version = ref.partition("@")
    return name, version or None


def _write(path: Path, data: dict) -> None:
    atomic.write_text(path, json.dumps(data, indent=1, sort_keys=True))


@dataclass(frozen=True, slots=True)
class VersionedRegistry:
    """One registry folder; `what` and `command` only shape messages ("module", "mlpipe module")."""

    env_var: str
    default_root: str
    what: str
    command: str
    unknown: type[MlpipeError] = MlpipeError  # raised for a name or version not published

    @property
    def root(self) -> Path:
        return Path(os.environ.get(self.env_var) or self.default_root).expanduser()

    def check_name(self, name: str) -> None:
        if not NAME.match(name):
            raise InvalidNameError(f"'{name[:MAX_NAME]}{'...' if len(name) > MAX_NAME else ''}' "
                              f"is not a valid {self.what} name: at most {MAX_NAME} letters, "
                              "digits, '_', '.', '-', starting with a letter or '_'")

    @staticmethod
    def check_version(version: str) -> None:
        if not VERSION.match(version) or "@" in version:
            raise InvalidNameError(f"'{version[:MAX_VERSION]}' is not a valid version: at most "
                              f"{MAX_VERSION} characters, e.g. 1, 1.2.0, 2024-01")

    def exists(self, name: str) -> bool:
        return bool(NAME.match(name)) and (self.root / name).is_dir()

    def _make_root(self) -> None:
        """The default root (~/.mlpipe/...) is made 0700 and must be this user's; a folder
        named by the environment variable may be a team's, so it is only made if missing."""
        if os.environ.get(self.env_var):
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        else:
            private_dir(self.root, shared_parent=False)

    def _path(self, name: str, version: str) -> Path:
        return self.root / name / f"{version}.json"

    def has(self, name: str, version: str | None) -> bool:
        return (version is not None and bool(NAME.match(name)) and bool(VERSION.match(version))
                and self._path(name, version).is_file())

    def index(self, name: str) -> dict:
        p = self.root / name / "index.json"
        return json.loads(p.read_text()) if p.is_file() else {"default": None, "status": {}}

    def state(self, name: str, version: str) -> str:
        return self.index(name)["status"].get(version, "active")

    def versions(self, name: str) -> list[dict]:
        """Every published record of `name`, oldest first."""
        folder = self.root / name
        recs = [json.loads(p.read_text()) for p in folder.glob("*.json") if p.name != "index.json"]
        return sorted(recs, key=lambda r: r["published_at"])

    def record(self, name: str, version: str) -> dict:
        return json.loads(self._path(name, version).read_text())

    def publish(self, record: dict, same: Callable[[dict, dict], bool]) -> dict:
        """Write `record` (with name and version) as a new active version. Publishing the same
        thing again returns the stored record; other content under a published version is refused."""
        name, version = record["name"], record["version"]
        self.check_name(name)
        self.check_version(version)
        path = self._path(name, version)
        if path.is_file():
            old = json.loads(path.read_text())
            if same(old, record):
                return old
            raise MlpipeError(f"{self.what} {name}@{version} is already published with other "
                              "code; versions never change: publish it as a new version")
        self._make_root()
        _write(path, record)
        index = self.index(name)
        index["status"][version] = "active"
        _write(self.root / name / "index.json", index)
        return record

    def default_version(self, name: str) -> str | None:
        index = self.index(name)
        if index.get("default"):
            return index["default"]
        for state in ("active", "deprecated"):  # newest active, else newest deprecated
            usable = [r["version"] for r in self.versions(name)
                      if index["status"].get(r["version"], "active") == state]
            if usable:
                return usable[-1]
        return None

    def _require(self, ref: str) -> tuple[str, str]:
        name, version = split_ref(ref)
        if not self.has(name, version):
            raise self.unknown(f"no {self.what} version '{ref}': give NAME@VERSION "
                               f"(`{self.command} ls` lists them)")
        return name, version  # type: ignore[return-value]

    def set_state(self, ref: str, state: str) -> None:
        if state not in STATES:
            raise MlpipeError(f"unknown state '{state}': one of {', '.join(STATES)}")
        name, version = self._require(ref)
        index = self.index(name)
        index["status"][version] = state
        if state == "disabled" and index.get("default") == version:
            index["default"] = None
        _write(self.root / name / "index.json", index)

    def set_default(self, ref: str) -> None:
        name, version = self._require(ref)
        index = self.index(name)
        if index["status"].get(version) == "disabled":
            raise MlpipeError(f"{ref} is disabled; enable it before making it the default")
        index["default"] = version
        _write(self.root / name / "index.json", index)

    def apply(self, action: str, ref: str) -> None:
        """`mlpipe module|pipelines default|deprecate|disable|enable NAME@VERSION`."""
        if action == "default":
            self.set_default(ref)
        else:
            self.set_state(ref, ACTIONS[action])

    def listing(self, name: str | None = None) -> list[tuple[dict, str, bool]]:
        """(record, state, is default) of every version, by name then age."""
        root = self.root
        names = [name] if name else (sorted(p.name for p in root.iterdir() if p.is_dir())
                                     if root.is_dir() else [])
        rows = []
        for n in names:
            index, default = self.index(n), self.default_version(n)
            for r in self.versions(n):
                rows.append((r, index["status"].get(r["version"], "active"),
                             r["version"] == default))
        return rows
