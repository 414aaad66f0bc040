"""Control code: the cells that drive jupyter_mlpipe itself (`%mlpipe graph`,
`Pipeline.from_notebook(...)`, `pipe.widget()`, `w.run()`, `pipe.status()`).

They are the user's dashboard, not part of the computation: they never run in a step's
kernel (where `%mlpipe` is not loaded, and a `pipe.run()` would start a run inside a run) and
never enter a key, so adding or removing one makes nothing stale. A statement is control code
when it is a `%mlpipe` or `%load_ext jupyter_mlpipe` line, imports the `Pipeline` API, reads a
name that earlier control code bound (`pipe`, `w`, `run`), or reaches the API through the
module (`mlp.Pipeline`). `import jupyter_mlpipe as mlp` alone is not: steps use it to log.
In a cell with control code, statements that only act (a print, a call) go with it; imports
and definitions stay prelude, as steps may use them.
"""
from __future__ import annotations

import ast

from .analysis import name_use

PACKAGE = "jupyter_mlpipe"
# What only a notebook's dashboard uses; log_metric/log_param are used inside steps.
API_NAMES = frozenset({"Pipeline", "PipelineRun", "SweepResult"})
_EXTENSION_MAGICS = frozenset({"load_ext", "reload_ext", "unload_ext"})


def _magic(stmt: ast.stmt) -> tuple[str, str] | None:
    """(magic name, its line) for a `get_ipython().run_line_magic(NAME, LINE)` statement."""
    call = stmt.value if isinstance(stmt, ast.Expr) else None
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
            and call.func.attr == "run_line_magic" and len(call.args) >= 2):
        return None
    name, line = call.args[0], call.args[1]
    if isinstance(name, ast.Constant) and isinstance(line, ast.Constant):
        return str(name.value), str(line.value)
    return None


def _module_aliases(tree: ast.AST) -> set[str]:
    """Names bound to the jupyter_mlpipe module itself (`import jupyter_mlpipe as mlp`)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name == PACKAGE or a.name.startswith(PACKAGE + "."):
                    out.add(a.asname or a.name.split(".")[0])
    return out


class ControlCode:
    """Follows the prelude in notebook order, remembering the names control code binds."""

    def __init__(self) -> None:
        self.names: set[str] = set()  # bound by control code: pipe, w, run ...
        self.modules: set[str] = set()  # names of the jupyter_mlpipe module: mlp ...

    def cell(self, tree: ast.Module) -> list[ast.stmt]:
        """The statements of a prelude cell that step kernels must not run: none, or, in a
        cell with control code, that code and the statements that only act (a print, a
        call); imports and definitions stay prelude, as steps may use them."""
        control = [stmt for stmt in tree.body if self.is_control(stmt)]
        if not control:
            return []
        return [stmt for stmt in tree.body if stmt in control or not _binds(stmt)]

    def is_control(self, stmt: ast.stmt) -> bool:
        """Whether `stmt` is control code; if so, the names it binds become control names."""
        self.modules |= _module_aliases(stmt)
        if self._control(stmt):
            self.names |= set(name_use(ast.Module(body=[stmt], type_ignores=[])).binds)
            return True
        return False

    def _control(self, stmt: ast.stmt) -> bool:
        magic = _magic(stmt)
        if magic is not None:
            name, line = magic
            return name == "mlpipe" or (name in _EXTENSION_MAGICS
                                        and line.split()[:1] == [PACKAGE])
        if isinstance(stmt, ast.ImportFrom) and (stmt.module or "").split(".")[0] == PACKAGE:
            api = {a.asname or a.name for a in stmt.names if a.name in API_NAMES}
            self.names |= api  # control names even where the import also brings log_metric
            return bool(api) and len(api) == len(stmt.names)
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name) and node.id in self.names:
                return True
            if (isinstance(node, ast.Attribute) and node.attr in API_NAMES
                    and isinstance(node.value, ast.Name) and node.value.id in self.modules):
                return True
        return False


def _binds(stmt: ast.stmt) -> bool:
    return bool(name_use(ast.Module(body=[stmt], type_ignores=[])).binds)


def drop_lines(source: str, statements: list[ast.stmt]) -> str:
    """`source` (as Python, IPython syntax already turned into calls) without the lines of
    `statements`; blank when nothing else is left."""
    lines = source.splitlines(keepends=True)
    for stmt in statements:
        for i in range(stmt.lineno - 1, (stmt.end_lineno or stmt.lineno)):
            lines[i] = "\n" if lines[i].endswith("\n") else ""
    kept = "".join(lines)
    return kept if kept.strip() else ""
