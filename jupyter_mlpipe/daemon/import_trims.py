"""What `mlpipe` leaves out of papermill's import (issue 24: a leaf edit's time).

A run imports papermill in a preload thread while its first kernel starts; from its start to the
end of the warm-up the process never waits, so each import papermill makes that a run never uses
is time before the first step. `mlpipe` hands papermill notebooks in memory or on local paths,
runs them with its own engine and checks no JSON Schema formats. In the preload thread only
(executors.heavy.PRELOAD_THREAD), and only in the `mlpipe` process (the launcher installs this):
- papermill's handlers for remote notebooks (S3 through boto3, HDFS through pyarrow, Azure, GCS,
  GitHub) look missing, as do the optional checkers jsonschema imports for string formats
  (through nbformat): papermill and jsonschema import each in a try/except ImportError;
- `requests` (papermill's HTTP handler, ~0.045 s) is bound to a stand-in that imports it at the
  first attribute read;
- papermill's scans of every installed distribution for engine and I/O plugins (~0.045 s: 158
  entry_points.txt files parsed here) find only jupyter_mlpipe's engine, the one a run uses
  (pyproject.toml registers it), and no I/O handler: a run has no remote notebook.
Any other thread imports and finds all of these as usual; jsonschema registers its format
checkers once, as it is imported, so in this process it checks none of those formats, which
`mlpipe` never asks of it (the server's request bodies are checked in the Jupyter server).
"""
from __future__ import annotations

import importlib
import importlib.machinery
import sys
import types

from ..executors.heavy import PRELOAD_THREAD

# papermill's remote I/O handlers; jsonschema's format checkers (idna stays: requests needs it)
HIDDEN = ("papermill.s3", "papermill.adl", "papermill.abs", "gcsfs", "github", "pyarrow",
          "fqdn", "rfc3987", "rfc3986_validator", "rfc3339_validator", "webcolors",
          "jsonpointer", "uri_template", "isoduration")
LAZY = ("requests",)


def skip_iri_grammars() -> None:
    """jsonschema (through nbformat, through papermill) imports rfc3987_syntax, when it is
    installed, to check the "iri" string format: 1.1 s of building grammars, of papermill's
    1.9 s import here. No notebook schema uses that format and `mlpipe` checks no formats, so
    this process marks it missing (jsonschema's import of it allows for that)."""
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[assignment]


def _in_preload_thread() -> bool:
    # threading not imported yet (or still importing): there is no preload thread yet
    current = getattr(sys.modules.get("threading"), "current_thread", None)
    return current is not None and current().name == PRELOAD_THREAD


class PreloadTrims:
    """The import hook (a meta path finder) that makes the trims above, in the preload thread
    only. Not derived from importlib.abc, whose import (importlib.resources) costs ~10 ms."""

    def __init__(self) -> None:
        self.proxied: set[str] = set()  # each lazy name is stood in for once, at most

    def find_spec(self, name: str, path=None, target=None):
        if not _in_preload_thread():
            return None
        if any(name == h or name.startswith(h + ".") for h in HIDDEN):
            raise ModuleNotFoundError(f"{name} is not needed by `mlpipe`", name=name)
        if name in LAZY and name not in self.proxied:
            self.proxied.add(name)
            return importlib.machinery.ModuleSpec(name, _StandInLoader())
        if name == "papermill":
            _skip_plugin_scans()
        return None


class _StandIn(types.ModuleType):
    """Stands for a module until one of its attributes is read, then imports it (from then
    on `import` finds the module itself). Unlike importlib's LazyLoader, `import` reading the
    stand-in's `__spec__` does not load it."""

    def __getattr__(self, attr: str):
        if self.__dict__.get("_mlpipe_initializing"):  # importlib setting __spec__ & co.
            raise AttributeError(attr)
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), attr)


class _StandInLoader:
    def create_module(self, spec):
        module = _StandIn(spec.name)
        module._mlpipe_initializing = True
        return module

    def exec_module(self, module) -> None:
        del module._mlpipe_initializing


def _skip_plugin_scans() -> None:
    """papermill reads its plugins through `entrypoints` as it is imported: in the preload
    thread its engines read as our own alone, its I/O handlers as none; any other caller, or
    group, reads them as usual."""
    import entrypoints

    from ..executors.papermill import ENGINE

    scan = entrypoints.get_group_all
    if getattr(scan, "mlpipe_trimmed", False):
        return
    ours = {"papermill.engine": [entrypoints.EntryPoint(  # as in pyproject.toml
        ENGINE, "jupyter_mlpipe.executors.engine", "MlpipeEngine")], "papermill.io": []}

    def get_group_all(group, path=None):
        if group in ours and _in_preload_thread():
            return list(ours[group])
        return scan(group, path)

    get_group_all.mlpipe_trimmed = True  # type: ignore[attr-defined]
    entrypoints.get_group_all = get_group_all


def install() -> None:
    """Called by `mlpipe`'s launcher, once the no-op fast path has not answered."""
    skip_iri_grammars()
    if not any(isinstance(f, PreloadTrims) for f in sys.meta_path):
        sys.meta_path.insert(0, PreloadTrims())
