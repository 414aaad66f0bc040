"""What a process has loaded from the project: its modules, whoever imported them (the kernel
template, the prelude, a `src/` folder the prelude put on sys.path, the step), and the
top-level names their sources import (whose distributions a manifest records)."""
from __future__ import annotations

import ast
import os
import sys

from ..pipeline.analysis import INSTALLED_FOLDERS, imported_modules, is_project_file

_PACKAGE = os.path.dirname(os.path.dirname(os.path.realpath(__file__))) + os.sep  # jupyter_mlpipe's own code
_module_imports: dict[tuple[str, int, int], list[str]] = {}


def imports_of(path: str) -> list[str]:
    """Top-level names a module's source imports (cached by file stat)."""
    st = os.stat(path)
    key = (path, st.st_mtime_ns, st.st_size)
    if key not in _module_imports:
        try:
            with open(path, "rb") as f:
                tree = ast.parse(f.read())
            found = {m.partition(".")[0] for m in imported_modules(tree)}
        except (OSError, SyntaxError, ValueError):
            found = set()
        _module_imports[key] = sorted(found)
    return _module_imports[key]


def project_modules(root: str) -> list[tuple[str, str]]:
    """(name, real path) of each loaded module whose source file is a project file."""
    found = []
    for name, mod in list(sys.modules.items()):
        try:  # the module's own dict: a lazy module's __getattr__ may import (and is slow)
            path = object.__getattribute__(mod, "__dict__").get("__file__")
        except (AttributeError, TypeError):
            continue
        if not isinstance(path, str) or name == "__main__" or path.startswith(INSTALLED_FOLDERS) \
                or path.startswith(_PACKAGE):
            continue
        real = os.path.realpath(path)
        if real.endswith(".py") and is_project_file(real, root) and os.path.isfile(real):
            found.append((name, real))
    return found
