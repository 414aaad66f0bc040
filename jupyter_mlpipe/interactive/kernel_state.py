"""What a live kernel holds that the files on disk do not say: project modules as they were
imported, prelude constants re-assigned but not saved, inputs a step changed in place.

interactive.py asks these before it reuses or stores a `%%step` result, so that nothing is
stored under a key that does not describe what ran.
"""
from __future__ import annotations

import ast
import importlib.util
import os
import sys
import threading
from pathlib import Path
from typing import Any

from ..run.manifest import is_project_file, source_digest
from ..models import PreludeStatement, StepSpec
from ..store.serialize import digest_value

_NOT_PROJECT = ""  # cached answer of _project_source for a module outside any project


class ImportedModules:
    """The source digest each project module had when this process loaded it.

    An audit hook on `open` sees every module load (the import system reads a module's .py,
    or its .pyc, through io.open_code, and importlib.reload does the same); modules loaded
    before the hook was installed are digested at first sight.
    """

    def __init__(self) -> None:
        self.loaded: dict[str, str] = {}  # real path of a .py -> source digest at load time
        self.checked: dict[str, tuple[int, int]] = {}  # path -> (mtime, size) seen unchanged
        self.warned: set[tuple[str, str]] = set()
        self._sources: dict[str, str] = {}  # module __file__ -> real .py path, or _NOT_PROJECT
        self._busy = threading.local()

    def opened(self, path: str) -> None:
        if getattr(self._busy, "on", False):
            return  # our own read of the source, below
        if path.endswith(".pyc"):
            try:
                path = importlib.util.source_from_cache(path)
            except ValueError:
                return
        elif not path.endswith(".py"):
            return
        real = os.path.realpath(path)
        if is_project_file(real, os.sep) and os.path.isfile(real):
            self.loaded[real] = self._digest(real)
            self.checked.pop(real, None)

    def _digest(self, path: str) -> str:
        """The source digest, read without this read counting as a module load."""
        self._busy.on = True
        try:
            return source_digest(path)
        finally:
            self._busy.on = False

    def _project_source(self, module: Any) -> str:
        file = getattr(module, "__file__", None)
        if not isinstance(file, str):
            return _NOT_PROJECT
        if file not in self._sources:
            real = os.path.realpath(file)
            ok = real.endswith(".py") and is_project_file(real, os.sep) and os.path.isfile(real)
            self._sources[file] = real if ok else _NOT_PROJECT
        return self._sources[file]

    def stale(self, root: Path) -> list[tuple[str, str]]:
        """(module name, real path) of each module under `root` whose file changed since load."""
        prefix = os.path.realpath(root) + os.sep
        found = []
        for name, module in list(sys.modules.items()):
            path = self._project_source(module)
            if not path.startswith(prefix) or name == "__main__":
                continue
            if path not in self.loaded:  # loaded before the hook: first sight
                self.opened(path)
                continue
            try:
                st = os.stat(path)
            except OSError:
                continue
            signature = (st.st_mtime_ns, st.st_size)
            if self.checked.get(path) == signature:
                continue
            if self._digest(path) == self.loaded[path]:
                self.checked[path] = signature
            else:
                found.append((name, path))
        return found


imported = ImportedModules()
_hook_lock = threading.Lock()
_hook_installed = False


def _audit(event: str, args: tuple) -> None:
    """Module loads only: an `open` from the import system's own code (a plain read of a
    .py, such as the cache key's digest of it, is not a load)."""
    if (event == "open" and isinstance(args[0], (str, bytes))
            and sys._getframe(1).f_code.co_filename.startswith("<frozen importlib")):
        imported.opened(os.fsdecode(args[0]))


def watch_imports() -> None:
    """Start tracking module loads in this process (once; audit hooks cannot be removed)."""
    global _hook_installed
    with _hook_lock:
        if _hook_installed:
            return
        _hook_installed = True
        for module in list(sys.modules.values()):
            path = imported._project_source(module)
            if path and path not in imported.loaded:
                imported.opened(path)
        sys.addaudithook(_audit)


def stale_import_message(root: Path) -> str | None:
    """Why a result computed now must not be stored: a project module changed after this
    kernel imported it (the key hashes the file on disk, the kernel runs the old code).
    Each changed file is named once per kernel; later refusals are silent."""
    stale = imported.stale(root)
    if not stale:
        return None
    new = [(n, p) for n, p in stale if (p, imported.loaded[p]) not in imported.warned]
    imported.warned.update((p, imported.loaded[p]) for _, p in stale)
    if not new:
        return ""
    files = ", ".join(os.path.relpath(p, root) for _, p in new)
    reloads = ", ".join(f"importlib.reload({n})" for n, _ in new)
    return (f"jupyter_mlpipe: {files} changed since this kernel imported it: the result is not "
            f"stored; restart the kernel or {reloads}")


# ---- prelude constants -----------------------------------------------------------------------
def _constant(node: ast.stmt) -> tuple[str, Any] | None:
    """(name, value) of `NAME = <literal>` or `NAME: T = <literal>`, else None."""
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target, value = node.targets[0], node.value
    elif isinstance(node, ast.AnnAssign) and node.value is not None and node.simple:
        target, value = node.target, node.value
    else:
        return None
    if not isinstance(target, ast.Name):
        return None
    try:
        return target.id, ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _same(a: Any, b: Any) -> bool:
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # noqa: BLE001 - an odd __eq__ means "not the saved literal"
        return False


def live_constants(closure: list[PreludeStatement], user_ns: dict) -> dict[str, str]:
    """Saved source -> live source of prelude constants (`NAME = literal`) whose value in the
    kernel differs from the saved literal: re-assigned and run, but not saved."""
    override: dict[str, str] = {}
    for st in closure:
        try:
            found = _constant(ast.parse(st.source).body[0])
        except (SyntaxError, IndexError):
            continue
        if found is None or found[0] not in user_ns:
            continue
        name, saved = found
        live = user_ns[name]
        if _same(live, saved):
            continue
        try:
            ok = _same(ast.literal_eval(repr(live)), live)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            ok = False
        override[st.source] = (ast.unparse(ast.parse(f"{name} = {live!r}")) if ok
                               else f"{name} = <live value {digest_value(live)}>")
    return override


# ---- inputs changed in place -----------------------------------------------------------------
def changed_inputs(step: StepSpec, user_ns: dict, before: dict[str, str]) -> list[str]:
    """Inputs the step is not declared to output whose value differs from before its body."""
    return [v for v, digest in before.items()
            if v not in step.outputs and v in user_ns and digest_value(user_ns[v]) != digest]


def changed_inputs_message(step: str, names: list[str]) -> str:
    quoted = ", ".join(f"'{n}'" for n in names)
    return (f"jupyter_mlpipe: step '{step}' changed its input {quoted} in place: the result is "
            f"not stored (copy it first, or declare --out {' '.join(names)})")
