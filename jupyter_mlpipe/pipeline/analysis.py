"""Static analysis of cell code with the stdlib `ast`: names read and bound, local imports,
and the normalized form that the cache key hashes (comments and formatting do not count)."""
from __future__ import annotations

import ast
import builtins
import importlib.util
import os
import re
import sys
import sysconfig
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.machinery import ModuleSpec, PathFinder
from pathlib import Path

from ..models import PreludeStatement

BUILTINS = frozenset(dir(builtins)) | {"__file__", "__name__", "get_ipython", "display", "In", "Out"}
_IPY_SYNTAX = re.compile(r"^\s*[%!]|\?\s*$", re.MULTILINE)


def to_python(source: str) -> str:
    """Turn IPython syntax (%magics, !shell) into plain Python; plain code is returned as is.

    IPython is imported only when a cell really uses its syntax, to keep `mlpipe status` fast.
    """
    if not _IPY_SYNTAX.search(source):
        return source
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


# Line magics that change neither a step's values nor what the prelude defines: a prelude
# line using one is not part of any step's key. Any other magic (%run, %env, %cd, %time ...)
# counts, by its text.
INERT_MAGICS = frozenset({
    "matplotlib", "load_ext", "reload_ext", "unload_ext", "autoreload", "aimport", "mlpipe",
    "pip", "conda", "mamba", "config", "precision", "pprint", "xmode", "colors", "who",
    "whos", "who_ls", "lsmagic", "magic", "quickref", "pwd", "ls", "history", "notebook",
    "autosave", "pdb", "automagic", "autocall", "doctest_mode"})
_SHELL_CALLS = frozenset({"system", "getoutput"})


def _ipython_call(node: ast.AST) -> tuple[str, str | None] | None:
    """('run_line_magic', magic name) or ('system', None) for `get_ipython().X(...)`."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return None
    owner = node.func.value
    if not (isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name)
            and owner.func.id == "get_ipython"):
        return None
    first = node.args[0] if node.args else None
    name = first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) \
        else None
    return node.func.attr, name


def is_inert_ipython_line(stmt: ast.stmt) -> bool:
    """`%matplotlib inline`, `%load_ext x`, `!pip install y` and the like: a line magic from
    INERT_MAGICS or a shell line, as a statement of its own (nothing assigned)."""
    if not isinstance(stmt, ast.Expr):
        return False
    call = _ipython_call(stmt.value)
    if call is None:
        return False
    method, name = call
    return method in _SHELL_CALLS or (method == "run_line_magic" and name in INERT_MAGICS)


def runs_hidden_code(tree: ast.AST) -> bool:
    """Code that may bind names the AST does not show: exec, globals(), %run, %time ..."""
    for n in ast.walk(tree):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in (
                "exec", "globals", "vars", "locals", "__import__", "setattr"):
            return True
        call = _ipython_call(n)
        if call is not None and not (call[0] in _SHELL_CALLS or call[1] in INERT_MAGICS):
            return True
    return False


def parse(source: str, what: str = "cell") -> ast.Module:
    try:
        return ast.parse(to_python(source))
    except SyntaxError as exc:
        raise SyntaxError(f"{what} is not valid Python: {exc.msg} (line {exc.lineno})") from None


def normalize(source: str | ast.AST) -> str:
    """The source as the AST sees it: comments, blank lines and layout removed."""
    tree = parse(source) if isinstance(source, str) else source
    return ast.unparse(tree)


@dataclass(frozen=True, slots=True)
class NameUse:
    """Free names (read before bound, in execution order) and names bound at top level."""

    reads: tuple[str, ...]
    binds: tuple[str, ...]
    imports: tuple[str, ...]  # names bound by import statements
    star_import: bool


def _nested_free(node: ast.AST) -> set[str]:
    """Global names a function, lambda, class or comprehension reads (conservative)."""
    loads: set[str] = set()
    local: set[str] = set()
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        a = node.args
        for arg in a.posonlyargs + a.args + a.kwonlyargs + [a.vararg, a.kwarg]:
            if arg is not None:
                local.add(arg.arg)
        defaults = a.defaults + [d for d in a.kw_defaults if d is not None]
        for d in defaults:
            loads |= _nested_free_expr(d)
        body: list[ast.AST] = (list(node.body) if isinstance(node.body, list)
                               else [node.body])
        decorators = getattr(node, "decorator_list", [])
        for d in decorators:
            loads |= _nested_free_expr(d)
    else:
        body = [node]
    declared_global: set[str] = set()
    for stmt in body:
        for n in ast.walk(stmt):
            if isinstance(n, ast.Global):
                declared_global.update(n.names)
            elif isinstance(n, ast.Name):
                (loads if isinstance(n.ctx, ast.Load) else local).add(n.id)
            elif isinstance(n, ast.arg):
                local.add(n.arg)
            elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                local.add(n.name)
            elif isinstance(n, ast.alias):
                local.add((n.asname or n.name).split(".")[0])
            elif isinstance(n, ast.ExceptHandler) and n.name:
                local.add(n.name)
    return (loads - (local - declared_global)) - BUILTINS


def _nested_free_expr(expr: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(expr) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


class _Walker(ast.NodeVisitor):
    """Walks top-level code in execution order, recording reads of not-yet-bound names."""

    def __init__(self) -> None:
        self.bound: set[str] = set()
        self.reads: list[str] = []
        self.binds: list[str] = []
        self.imports: list[str] = []
        self.star = False

    def _read(self, name: str) -> None:
        if name not in self.bound and name not in BUILTINS and name not in self.reads:
            self.reads.append(name)

    def _bind(self, name: str) -> None:
        self.bound.add(name)
        if name not in self.binds:
            self.binds.append(name)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self._read(node.id)
        else:
            self._bind(node.id)

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        for t in node.targets:
            self.visit(t)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.visit(node.value)
        if isinstance(node.target, ast.Name):
            self._read(node.target.id)
        self.visit(node.target)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
            self.visit(node.target)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        self.visit(node.target)

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
        self.visit(node.iter)
        self.visit(node.target)
        for s in node.body + node.orelse:
            self.visit(s)

    visit_AsyncFor = visit_For

    def _nested(self, node: ast.AST, name: str | None) -> None:
        for n in sorted(_nested_free(node)):
            self._read(n)
        if isinstance(node, ast.ClassDef):
            for b in node.bases + [k.value for k in node.keywords] + node.decorator_list:
                self.visit(b)
        if name:
            self._bind(name)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self._nested(node, node.name)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._nested(node, node.name)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._nested(node, None)

    def _comprehension(self, node: ast.AST) -> None:
        self._nested(node, None)

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _comprehension

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            name = alias.asname or alias.name.split(".")[0]
            self._bind(name)
            self.imports.append(name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name == "*":
                self.star = True
                continue
            name = alias.asname or alias.name
            self._bind(name)
            self.imports.append(name)

    def visit_With(self, node: ast.With | ast.AsyncWith) -> None:
        for item in node.items:
            self.visit(item.context_expr)
            if item.optional_vars is not None:
                self.visit(item.optional_vars)
        for s in node.body:
            self.visit(s)

    visit_AsyncWith = visit_With

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.type is not None:
            self.visit(node.type)
        if node.name:
            self._bind(node.name)
        for s in node.body:
            self.visit(s)

    def visit_Global(self, node: ast.Global) -> None:  # harmless at top level
        return None

    def visit_Delete(self, node: ast.Delete) -> None:
        for t in node.targets:
            if isinstance(t, ast.Name):
                self._read(t.id)
            else:
                self.visit(t)


def name_use(tree: ast.Module | str) -> NameUse:
    """Free names and top-level bindings of a cell or statement."""
    if isinstance(tree, str):
        tree = parse(tree)
    w = _Walker()
    for stmt in tree.body:
        w.visit(stmt)
    return NameUse(tuple(w.reads), tuple(w.binds), tuple(w.imports), w.star)


def imported_modules(tree: ast.AST, package: str | None = None) -> list[str]:
    """Absolute dotted names of every module an AST imports (relative ones resolved)."""
    mods: list[str] = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            mods.extend(a.name for a in n.names)
        elif isinstance(n, ast.ImportFrom):
            base = n.module or ""
            if n.level:
                parts = (package or "").split(".") if package else []
                parts = parts[: len(parts) - (n.level - 1)] if n.level > 1 else parts
                base = ".".join(p for p in parts + ([n.module] if n.module else []) if p)
            if base:
                mods.append(base)
                mods.extend(f"{base}.{a.name}" for a in n.names if a.name != "*")
    return mods


# Folders whose files never count as the project's, even when they sit inside it (a venv).
INSTALLED_FOLDERS = tuple(sorted({os.path.realpath(p) + os.sep for p in (
    sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"],
    sysconfig.get_paths()["platlib"], sys.prefix, sys.base_prefix)}))
NOT_DATA_FOLDERS = ("/proc/", "/sys/", "/dev/", "/run/")  # the kernel's pseudo-files


def kernel_folders() -> tuple[str, ...]:
    """IPython's profile (its history database, written while cells run) and Jupyter's
    runtime folder (connection files): the kernel's own files, never a step's data."""
    from jupyter_core.paths import jupyter_runtime_dir

    ipython = os.environ.get("IPYTHONDIR") or os.path.join(os.path.expanduser("~"), ".ipython")
    return tuple(os.path.realpath(p) + os.sep for p in (ipython, jupyter_runtime_dir()))


_IGNORED_PARTS = (os.sep + ".mlpipe" + os.sep, os.sep + ".ipynb_checkpoints" + os.sep,
                  os.sep + "__pycache__" + os.sep, os.sep + ".git" + os.sep)


def is_project_file(path: str, root: str) -> bool:
    """Under the project folder (`root` ends with a separator), and not part of an installed
    environment or the store."""
    return (path.startswith(root) and not path.startswith(INSTALLED_FOLDERS)
            and not any(part in path for part in _IGNORED_PARTS))


def _find_spec(dotted: str, root: Path, specs: dict[str, ModuleSpec | None]) -> ModuleSpec | None:
    """Where Python would find `dotted` with the notebook folder first on sys.path, without
    importing it: a package's submodules are looked up in the package's own folders. A
    project module found only through another sys.path entry is left to the manifest."""
    if dotted in specs:
        return specs[dotted]
    parent, _, _ = dotted.rpartition(".")
    spec: ModuleSpec | None = None
    if not parent:
        spec = PathFinder.find_spec(dotted, [os.fspath(root)])
        if spec is None:
            try:  # sys.path and the meta path (editable installs); imports nothing
                spec = importlib.util.find_spec(dotted)
            except (ImportError, ValueError):
                spec = None
            origin = getattr(spec, "origin", None) or ""
            if os.path.realpath(origin).startswith(os.fspath(root) + os.sep):
                # found in a project folder that this process put on sys.path (a kernel whose
                # prelude inserted src/) and another may not have: the key would differ between
                # doors. The manifest records such modules wherever they were found.
                spec = None
    else:
        up = _find_spec(parent, root, specs)
        if up is not None and up.submodule_search_locations:
            spec = PathFinder.find_spec(dotted, list(up.submodule_search_locations))
    specs[dotted] = spec
    return spec


def local_module_files(tree: ast.AST, root: Path) -> list[Path]:
    """Project files that `tree` imports, transitively (stdlib and site-packages excluded)."""
    return module_files(imported_modules(tree), root)


def module_files(modules: Iterable[str], root: Path) -> list[Path]:
    """Project files of the dotted `modules` and of what they import, transitively, found as
    Python finds them: the notebook folder, then sys.path (a `src/` folder on it, a project
    package installed in editable mode). A package's `__init__.py` counts for every
    submodule imported through it."""
    root = root.resolve()
    prefix = os.fspath(root) + os.sep
    seen: dict[Path, None] = {}
    specs: dict[str, ModuleSpec | None] = {}
    todo: list[Iterable[str]] = [modules]
    while todo:
        for dotted in todo.pop():
            parts = dotted.split(".")
            for i in range(1, len(parts) + 1):
                spec = _find_spec(".".join(parts[:i]), root, specs)
                if spec is None:
                    break
                origin = spec.origin if spec.has_location else None
                if origin is None or not origin.endswith(".py"):
                    continue
                path = Path(os.path.realpath(origin))
                if path in seen or not is_project_file(os.fspath(path), prefix):
                    continue
                seen[path] = None
                try:
                    sub = ast.parse(path.read_text(encoding="utf-8"))
                except (OSError, SyntaxError, UnicodeDecodeError):
                    continue  # its bytes are still hashed by the caller
                pkg_parts = parts[:i] if path.name == "__init__.py" else parts[: i - 1]
                todo.append(imported_modules(sub, ".".join(pkg_parts) or None))
    return sorted(seen, key=os.fspath)


def prelude_closure(prelude: tuple[PreludeStatement, ...],
                    names: set[str]) -> list[PreludeStatement]:
    """Prelude statements a step depends on: those defining names it uses (transitively),
    plus those that define nothing or use `import *` (their effects cannot be traced)."""
    needed = {i for i, st in enumerate(prelude) if not st.defines or "*" in st.defines}
    todo = list(names) + [n for i in needed for n in prelude[i].uses]
    seen: set[str] = set()
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        for i, st in enumerate(prelude):
            if n in st.defines and i not in needed:
                needed.add(i)
                todo.extend(st.uses)
    return [prelude[i] for i in sorted(needed)]


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    """Tracebacks from kernels carry terminal colour codes; files and logs should not."""
    return _ANSI.sub("", text)
