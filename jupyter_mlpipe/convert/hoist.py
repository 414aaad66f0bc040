"""Which top-level statements of a plain notebook can move to the prelude (run before
every step): imports, functions and classes defined once and never changed, harmless line
magics and configuration calls, and immutable literal constants bound once."""
from __future__ import annotations

import ast

from ..pipeline.analysis import BUILTINS, name_use, to_python
from .dataflow import (
    CONFIG_CALLS, HARMLESS_MAGICS, CallEffects, magic_call, mutated_names, root_name)


def _header_names(stmt: ast.stmt) -> set[str]:
    """Names a def/class statement evaluates when it is defined (not when called)."""
    nodes: list[ast.AST] = list(getattr(stmt, "decorator_list", []))
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
        nodes += stmt.args.defaults + [d for d in stmt.args.kw_defaults if d is not None]
        nodes += [a.annotation for a in stmt.args.args if a.annotation is not None]
    elif isinstance(stmt, ast.ClassDef):
        nodes += stmt.bases + [k.value for k in stmt.keywords]
        nodes += [s for s in stmt.body if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))]
    return {n.id for node in nodes for n in ast.walk(node)
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


_IMMUTABLE = (str, bytes, int, float, complex, bool, type(None))


def _immutable_literal(node: ast.AST) -> bool:
    """`3`, `"a"`, `(1, "b")`; not `[]`, `{}` or `set()`, which later code may fill in place
    by ways no analysis sees (aliases, library calls), so they stay step outputs."""
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    todo = [value]
    while todo:
        v = todo.pop()
        if isinstance(v, tuple):
            todo.extend(v)
        elif not isinstance(v, _IMMUTABLE):
            return False
    return True


def _container(node: ast.AST) -> bool:
    """A list, dict or set display or comprehension, or a call of a container type."""
    if isinstance(node, (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp)):
        return True
    return (isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute))
            and getattr(node.func, "id", getattr(node.func, "attr", "")) in _CONTAINER_TYPES)


_CONTAINER_TYPES = frozenset({"list", "dict", "set", "defaultdict", "OrderedDict", "Counter",
                              "deque", "bytearray"})


class Hoister:
    """Decides which top-level statements become prelude: imports, functions and classes
    defined once and never mutated, harmless line magics, immutable literal constants bound
    once. A name some cell changes in place (directly, through an alias, or by calling a
    notebook function, see dataflow.call_effects) never moves: its changes must flow."""

    def __init__(self, texts: dict[int, str], params: set[str],
                 effects: dict[str, CallEffects]):
        self.trees: dict[int, ast.Module] = {}
        bind_count: dict[str, int] = {}
        self.mutated: set[str] = set()
        self.imported: set[str] = set()
        for cell, text in texts.items():
            tree = ast.parse(to_python(text))
            self.trees[cell] = tree
            self.mutated |= mutated_names(text, effects)
            for stmt in tree.body:
                use = name_use(ast.Module(body=[stmt], type_ignores=[]))
                self.imported.update(use.imports)
                for b in use.binds:
                    if b not in use.imports:
                        bind_count[b] = bind_count.get(b, 0) + 1
        self.once = {n for n, c in bind_count.items() if c == 1} - self.mutated
        self.params = params
        self.names: set[str] = set(self.imported) | set(params)
        for tree in self.trees.values():  # candidate names, for def/class headers
            for stmt in tree.body:
                n = self._defined(stmt)
                if n and n in self.once:
                    self.names.add(n)

    @staticmethod
    def _defined(stmt: ast.stmt) -> str | None:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return stmt.name
        if (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name) and _immutable_literal(stmt.value)):
            return stmt.targets[0].id
        return None

    def hoistable(self, stmt: ast.stmt) -> bool:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            return True
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            magic = magic_call(stmt.value)
            if magic is not None:
                return magic[0] in HARMLESS_MAGICS and "jupyter_mlpipe" not in magic[1]
            f = stmt.value.func  # matplotlib.use("Agg"), warnings.filterwarnings(...), ...
            loads = {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)}
            return (isinstance(f, ast.Attribute) and f.attr in CONFIG_CALLS
                    and root_name(f) in self.imported and loads <= self.imported)
        name = self._defined(stmt)
        if name is None or name not in self.once or name in self.params:
            return False
        return _header_names(stmt) <= self.names | BUILTINS

    def _stateless(self, stmt: ast.stmt) -> bool:
        """In cells tagged 'imports'/'functions' (run before every step) all moves but
        statements binding mutable state: names some cell changes in place, and containers."""
        binds = set(name_use(ast.Module(body=[stmt], type_ignores=[])).binds)
        if binds & self.mutated:
            return False
        value = getattr(stmt, "value", None)
        return not (isinstance(stmt, (ast.Assign, ast.AnnAssign)) and value is not None
                    and not _immutable_literal(value) and _container(value))

    def split(self, cell: int, text: str, everything: bool) -> tuple[str, str]:
        """(body, prelude) texts of one cell."""
        lines = text.splitlines(keepends=True)
        hoisted: set[int] = set()
        kept: set[int] = set()
        for stmt in self.trees[cell].body:
            start = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])
            span = set(range(start - 1, stmt.end_lineno))
            movable = (self._stateless(stmt) if everything else self.hoistable(stmt))
            (hoisted if movable else kept).update(span)
        hoisted -= kept  # statements sharing a line with kept code stay in the body
        body = "".join(l for i, l in enumerate(lines) if i not in hoisted)
        prelude = "".join(l for i, l in enumerate(lines) if i in hoisted)
        if not any(l.strip() and not l.lstrip().startswith("#") for l in body.splitlines()):
            body = ""
        return body, prelude.strip("\n")
