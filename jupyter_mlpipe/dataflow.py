"""What plain notebook code does beyond names read and bound, which the converter needs.

In-place mutation, `del`, literal file paths read and written, constructs that defeat static
analysis (`exec`, `%run`, `globals()` writes), and which statements can move to the prelude."""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from .analysis import BUILTINS, name_use, parse, to_python

# methods that change their object in place (lists, dicts, sets, DataFrames, estimators)
MUTATING_METHODS = frozenset({
    "append", "extend", "insert", "pop", "remove", "clear", "update", "setdefault", "popitem",
    "sort", "reverse", "add", "discard", "difference_update", "intersection_update",
    "symmetric_difference_update", "fit", "partial_fit", "fit_transform", "fit_predict",
    "set_params", "resize", "fill", "put", "itemset", "setflags", "__setitem__", "__delitem__",
    "appendleft", "extendleft", "rotate", "popleft",
})
# module-level functions that change their first argument in place
MUTATING_FUNCTIONS = frozenset({"shuffle", "copyto", "place", "putmask"})
_READ_FUNC = re.compile(r"^(read_\w+|load|loadtxt|genfromtxt|fromfile|imread|open_dataset|"
                        r"read_text|read_bytes|load_workbook|read)$")
_WRITE_FUNC = re.compile(r"^(to_\w+|save|savez|savez_compressed|savetxt|tofile|dump|imwrite|"
                         r"imsave|savefig|write_text|write_bytes|write_\w+)$")
_PATH_KW = {"path", "fname", "file", "filename", "filepath", "filepath_or_buffer",
            "path_or_buf", "io", "f"}
_PATHLIKE = re.compile(r"(/|\\|\.[A-Za-z0-9]{1,8}$)")
# line magics that only configure the kernel: safe to run before every step
HARMLESS_MAGICS = frozenset({"matplotlib", "config", "load_ext", "autoreload", "aimport",
                             "precision", "pylab"})
# calls that configure a library for the whole process: run before every step, like imports
CONFIG_CALLS = frozenset({"use", "filterwarnings", "simplefilter", "set_option", "set_printoptions",
                          "set_style", "set_theme", "set_context", "seterr", "basicConfig",
                          "setLevel", "set_loglevel", "disable_eager_execution", "enable_x64"})
SEED_CALLS = frozenset({"seed", "manual_seed", "set_seed", "set_random_seed"})
UNSAFE_MAGICS = {"run": "%run executes a script whose names the converter cannot see",
                 "store": "%store moves variables outside the notebook's dataflow",
                 "reset": "%reset deletes variables the converter cannot track",
                 "load": "%load inserts code the converter cannot see"}


@dataclass(slots=True)
class Facts:
    """What one piece of code reads, binds, mutates, deletes, and which files it touches."""

    reads: list[str] = field(default_factory=list)
    binds: list[str] = field(default_factory=list)
    mutates: list[str] = field(default_factory=list)  # existing objects changed in place
    deletes: set[str] = field(default_factory=set)  # deleted after their last binding
    files_read: list[str] = field(default_factory=list)
    files_written: list[str] = field(default_factory=list)
    unsafe: list[str] = field(default_factory=list)
    not_outputs: set[str] = field(default_factory=set)  # loop/with targets, open() handles
    exec_binds: list[str] = field(default_factory=list)  # names a literal exec() string binds
    seeds: bool = False  # seeds a global random generator (which does not cross steps)
    builtin_loads: set[str] = field(default_factory=set)  # `sum`, `id`, ...: maybe rebound


def root_name(node: ast.AST) -> str | None:
    """`df` for `df.loc[0, "a"]`, `model.steps[0]`, ...; None when not rooted at a name."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
        node = node.value
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return root_name(node.func.value)  # df.iloc[:, 0].values.sort() -> df
    return node.id if isinstance(node, ast.Name) else None


def _str(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _magic_call(node: ast.Call) -> tuple[str, str] | None:
    """('run', 'script.py') for get_ipython().run_line_magic('run', 'script.py')."""
    f = node.func
    if (isinstance(f, ast.Attribute) and f.attr in ("run_line_magic", "magic", "run_cell_magic")
            and isinstance(f.value, ast.Call) and isinstance(f.value.func, ast.Name)
            and f.value.func.id == "get_ipython" and node.args):
        name = _str(node.args[0]) or ""
        arg = _str(node.args[1]) if len(node.args) > 1 else ""
        return name.split()[0] if name else "", arg or ""
    return None


def _file_access(call: ast.Call, out: Facts) -> None:
    f = call.func
    fname = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
    if fname == "open" and isinstance(f, ast.Name):
        path = _str(call.args[0]) if call.args else _str(
            next((k.value for k in call.keywords if k.arg == "file"), None))
        mode = _str(call.args[1]) if len(call.args) > 1 else _str(
            next((k.value for k in call.keywords if k.arg == "mode"), None)) or "r"
        if path:
            (out.files_written if set(mode) & set("wax+") else out.files_read).append(path)
        return
    # Path("x.csv").read_text() / .write_text(...)
    if (isinstance(f, ast.Attribute) and isinstance(f.value, ast.Call)
            and isinstance(f.value.func, ast.Name) and f.value.func.id in ("Path", "PurePath")
            and f.value.args and _str(f.value.args[0])):
        path = _str(f.value.args[0])
        if f.attr in ("read_text", "read_bytes", "open"):
            out.files_read.append(path)
        elif f.attr in ("write_text", "write_bytes"):
            out.files_written.append(path)
        return
    reading, writing = bool(_READ_FUNC.match(fname)), bool(_WRITE_FUNC.match(fname))
    if not (reading or writing):
        return
    candidates = [_str(a) for a in call.args] + [
        _str(k.value) for k in call.keywords if k.arg in _PATH_KW]
    for c in candidates:
        if c and _PATHLIKE.search(c) and "\n" not in c and "://" not in c:
            (out.files_written if writing else out.files_read).append(c)
            break


def _statement_effects(stmt: ast.stmt, out: Facts) -> tuple[set[str], set[str]]:
    """(names mutated in place, names deleted) by one top-level statement; files and
    unsafe constructs are added to `out`. Function and class bodies are not entered."""
    mutated: set[str] = set()
    deleted: set[str] = set()
    todo: list[ast.AST] = [stmt]
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for el in (t.elts if isinstance(t, (ast.Tuple, ast.List)) else [t]):
                    if isinstance(el, (ast.Subscript, ast.Attribute)):
                        r = root_name(el)
                        if r == "globals" or (isinstance(el, ast.Subscript) and isinstance(
                                el.value, ast.Call) and isinstance(el.value.func, ast.Name)
                                and el.value.func.id in ("globals", "locals", "vars")):
                            out.unsafe.append("writes variables through globals()")
                        elif r:
                            mutated.add(r)
        elif isinstance(node, ast.Delete):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    deleted.add(t.id)
                elif root_name(t):
                    mutated.add(root_name(t))
        elif isinstance(node, ast.Call):
            f = node.func
            magic = _magic_call(node)
            if magic is not None:
                name, arg = magic
                if name in UNSAFE_MAGICS:
                    out.unsafe.append(UNSAFE_MAGICS[name] + (f" ({arg})" if arg else ""))
            elif isinstance(f, ast.Name) and f.id in ("exec", "eval", "execfile"):
                out.unsafe.append(f"{f.id}() runs code the converter cannot analyse")
                code = _str(node.args[0]) if node.args and f.id == "exec" else None
                if code is not None:  # a literal: its names are known after all
                    try:
                        use = name_use(code)
                        out.reads += [r for r in use.reads if r not in out.reads]
                        out.exec_binds += [b for b in use.binds if b not in out.exec_binds]
                    except SyntaxError:
                        pass
            elif isinstance(f, ast.Name) and f.id in ("globals", "locals", "vars") and not node.args:
                out.unsafe.append(f"{f.id}() reads or writes variables by name")
            elif isinstance(f, ast.Attribute):
                r = root_name(f.value)
                out.seeds = out.seeds or f.attr in SEED_CALLS
                if f.attr in MUTATING_METHODS or any(
                        k.arg == "inplace" and isinstance(k.value, ast.Constant)
                        and k.value.value is True for k in node.keywords):
                    if r:
                        mutated.add(r)
                elif f.attr in MUTATING_FUNCTIONS and node.args:
                    r = root_name(node.args[0])
                    if r:
                        mutated.add(r)
            _file_access(node, out)
        todo.extend(ast.iter_child_nodes(node))
    mutated.discard("globals")
    return mutated, deleted


def analyse(source: str, what: str = "cell") -> Facts:
    """Facts for a cell (or several cells joined), in execution order."""
    tree = parse(source, what)
    use = name_use(tree)
    out = Facts(reads=list(use.reads), binds=list(use.binds))
    out.builtin_loads = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)
                         and isinstance(n.ctx, ast.Load) and n.id in BUILTINS}
    bound: set[str] = set()
    for stmt in tree.body:
        mutated, deleted = _statement_effects(stmt, out)
        for n in sorted(mutated):
            if n not in bound and n not in out.mutates:
                out.mutates.append(n)
        for n in deleted:
            out.deletes.add(n)
        if isinstance(stmt, (ast.For, ast.AsyncFor, ast.With, ast.AsyncWith)):
            targets = [stmt.target] if isinstance(stmt, (ast.For, ast.AsyncFor)) else [
                i.optional_vars for i in stmt.items if i.optional_vars is not None]
            for t in targets:
                out.not_outputs.update(n.id for n in ast.walk(t) if isinstance(n, ast.Name))
        if isinstance(stmt, ast.Assign) and isinstance(stmt.value, (ast.Call, ast.GeneratorExp)):
            v = stmt.value
            if isinstance(v, ast.GeneratorExp) or (isinstance(v.func, ast.Name)
                                                   and v.func.id in ("open", "iter")):
                for t in stmt.targets:
                    out.not_outputs.update(n.id for n in ast.walk(t) if isinstance(n, ast.Name))
        new = name_use(ast.Module(body=[stmt], type_ignores=[])).binds
        bound.update(new)
        out.deletes -= set(new) - deleted  # bound again after a del: exists at the end
    out.binds += [b for b in out.exec_binds if b not in out.binds]
    out.reads = [r for r in out.reads if r not in out.exec_binds]
    out.unsafe = list(dict.fromkeys(out.unsafe))
    out.files_read = list(dict.fromkeys(out.files_read))
    out.files_written = list(dict.fromkeys(out.files_written))
    return out


# ---- what moves to the prelude -----------------------------------------------------------
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


def _is_literal(node: ast.AST) -> bool:
    try:
        ast.literal_eval(node)
        return True
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False


class Hoister:
    """Decides which top-level statements become prelude: imports, functions and classes
    defined once, harmless line magics, and literal constants bound once and never mutated."""

    def __init__(self, texts: dict[int, str], params: set[str]):
        self.trees: dict[int, ast.Module] = {}
        bind_count: dict[str, int] = {}
        self.mutated: set[str] = set()
        self.imported: set[str] = set()
        for cell, text in texts.items():
            tree = ast.parse(to_python(text))
            self.trees[cell] = tree
            self.mutated.update(analyse(text).mutates)
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
                and isinstance(stmt.targets[0], ast.Name) and _is_literal(stmt.value)):
            return stmt.targets[0].id
        return None

    def hoistable(self, stmt: ast.stmt) -> bool:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            return True
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            magic = _magic_call(stmt.value)
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

    def split(self, cell: int, text: str, everything: bool) -> tuple[str, str]:
        """(body, prelude) texts of one cell."""
        lines = text.splitlines(keepends=True)
        hoisted: set[int] = set()
        kept: set[int] = set()
        for stmt in self.trees[cell].body:
            start = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])
            span = set(range(start - 1, stmt.end_lineno))
            (hoisted if everything or self.hoistable(stmt) else kept).update(span)
        hoisted -= kept  # statements sharing a line with kept code stay in the body
        body = "".join(l for i, l in enumerate(lines) if i not in hoisted)
        prelude = "".join(l for i, l in enumerate(lines) if i in hoisted)
        if not any(l.strip() and not l.lstrip().startswith("#") for l in body.splitlines()):
            body = ""
        return body, prelude.strip("\n")
