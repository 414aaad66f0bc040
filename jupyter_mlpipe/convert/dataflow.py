"""What plain notebook code does beyond names read and bound, which the converter needs.

In-place mutation, `del`, literal file paths read and written, constructs that defeat static
analysis (`exec`, `%run`, `globals()` writes), and which statements can move to the prelude."""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from ..pipeline.analysis import BUILTINS, name_use, parse, to_python

# methods that change their object in place (lists, dicts, sets, DataFrames, estimators)
MUTATING_METHODS = frozenset({
    "append", "extend", "insert", "pop", "remove", "clear", "update", "setdefault", "popitem",
    "sort", "reverse", "add", "discard", "difference_update", "intersection_update",
    "symmetric_difference_update", "fit", "partial_fit", "fit_transform", "fit_predict",
    "set_params", "resize", "fill", "put", "itemset", "setflags", "__setitem__", "__delitem__",
    "appendleft", "extendleft", "rotate", "popleft",
})
# module-level functions that change their first argument in place
MUTATING_FUNCTIONS = frozenset({"shuffle", "copyto", "place", "putmask", "heappush", "heappop",
                                "heapify", "heappushpop", "heapreplace", "insort", "insort_left",
                                "insort_right"})
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
    # notebook functions called here that change globals: if a step defines one, a later
    # step calling it changes that step's copies, so the two must be one step
    global_mutator_calls: list[str] = field(default_factory=list)
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


def magic_call(node: ast.Call) -> tuple[str, str] | None:
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


@dataclass(frozen=True, slots=True)
class CallEffects:
    """What calling a function the notebook defines changes in place."""

    globals: frozenset[str] = frozenset()  # module-level names it mutates or rebinds
    params: tuple[str, ...] = ()  # its parameters, in order
    mutated_params: frozenset[str] = frozenset()


_NO_EFFECTS: dict[str, CallEffects] = {}
# calls whose result iterates over (or is) their arguments: `for r in enumerate(rows)`
_PASS_THROUGH = frozenset({"enumerate", "zip", "reversed", "iter", "sorted", "filter"})


def _roots(node: ast.AST, calls: bool = True) -> set[str]:
    """Names whose objects `node` may be (or be part of): `rows`, `d.items()`, `enumerate(xs)`;
    without `calls`, only name, attribute and subscript chains (`df.copy()` is no alias)."""
    if isinstance(node, (ast.Tuple, ast.List)):
        return {r for el in node.elts for r in _roots(el, calls)}
    if isinstance(node, ast.Call) and not calls:
        return set()
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return {r for a in node.args for r in _roots(a)} if node.func.id in _PASS_THROUGH else set()
    r = root_name(node)
    return {r} if r else set()


def _target_effects(node: ast.Assign | ast.AugAssign | ast.AnnAssign, out: Facts,
                    mutated: set[str]) -> None:
    """`d[k] = v`, `obj.attr = v`, `df.loc[...] += 1` change an existing object."""
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    for t in targets:
        for el in (t.elts if isinstance(t, (ast.Tuple, ast.List)) else [t]):
            if not isinstance(el, (ast.Subscript, ast.Attribute)):
                continue
            r = root_name(el)
            if r == "globals" or (isinstance(el, ast.Subscript) and isinstance(
                    el.value, ast.Call) and isinstance(el.value.func, ast.Name)
                    and el.value.func.id in ("globals", "locals", "vars")):
                out.unsafe.append("writes variables through globals()")
            elif r:
                mutated.add(r)


def _exec_effects(node: ast.Call, name: str, out: Facts) -> None:
    out.unsafe.append(f"{name}() runs code the converter cannot analyse")
    code = _str(node.args[0]) if node.args and name == "exec" else None
    if code is not None:  # a literal: its names are known after all
        try:
            use = name_use(code)
            out.reads += [r for r in use.reads if r not in out.reads]
            out.exec_binds += [b for b in use.binds if b not in out.exec_binds]
        except SyntaxError:
            pass


def _user_call_effects(node: ast.Call, fx: CallEffects, mutated: set[str]) -> None:
    """A call of a notebook function changes the globals it mutates and the arguments
    passed for parameters it mutates."""
    mutated.update(fx.globals)
    for pos, arg in enumerate(node.args):
        if isinstance(arg, ast.Starred) or (pos < len(fx.params)
                                           and fx.params[pos] in fx.mutated_params):
            mutated.update(_roots(arg))
    for k in node.keywords:
        if k.arg is None or k.arg in fx.mutated_params:
            mutated.update(_roots(k.value))


def _call_effects(node: ast.Call, out: Facts, mutated: set[str],
                  effects: dict[str, CallEffects]) -> None:
    f = node.func
    magic = magic_call(node)
    if magic is not None:
        name, arg = magic
        if name in UNSAFE_MAGICS:
            out.unsafe.append(UNSAFE_MAGICS[name] + (f" ({arg})" if arg else ""))
    elif isinstance(f, ast.Name) and f.id in ("exec", "eval", "execfile"):
        _exec_effects(node, f.id, out)
    elif isinstance(f, ast.Name) and f.id in ("globals", "locals", "vars") and not node.args:
        out.unsafe.append(f"{f.id}() reads or writes variables by name")
    elif isinstance(f, ast.Name) and f.id in effects:
        _user_call_effects(node, effects[f.id], mutated)
        if effects[f.id].globals and f.id not in out.global_mutator_calls:
            out.global_mutator_calls.append(f.id)
    elif isinstance(f, ast.Name) and f.id in MUTATING_FUNCTIONS and node.args:
        mutated.update(_roots(node.args[0]))  # from heapq import heappush; heappush(h, 1)
    elif isinstance(f, ast.Attribute):
        r = root_name(f.value)
        out.seeds = out.seeds or f.attr in SEED_CALLS
        if f.attr in MUTATING_METHODS or f.attr in effects.get(_METHODS, _SELF_ONLY).params \
                or any(k.arg == "inplace" and isinstance(k.value, ast.Constant)
                       and k.value.value is True for k in node.keywords):
            if r:
                mutated.add(r)
        elif f.attr in MUTATING_FUNCTIONS and node.args:
            mutated.update(_roots(node.args[0]))
    _file_access(node, out)


def _alias_effects(node: ast.AST, aliases: dict[str, set[str]]) -> None:
    """`row = rows[0]`, `for row in rows:`: mutating `row` mutates `rows`."""
    if isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
        pairs = [(node.target, _roots(node.iter))]
    elif isinstance(node, ast.Assign):
        pairs = [(t, _roots(node.value, calls=False)) for t in node.targets]
    else:
        return
    for target, roots in pairs:
        for n in ast.walk(target):
            if isinstance(n, ast.Name):
                aliases.setdefault(n.id, set()).update(roots - {n.id})


def _statement_effects(stmt: ast.stmt, out: Facts, effects: dict[str, CallEffects],
                       aliases: dict[str, set[str]]) -> tuple[set[str], set[str]]:
    """(names mutated in place, names deleted) by one top-level statement; files and
    unsafe constructs are added to `out`. Function and class bodies are not entered."""
    mutated: set[str] = set()
    deleted: set[str] = set()
    todo: list[ast.AST] = [stmt]
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        _alias_effects(node, aliases)
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            _target_effects(node, out, mutated)
        elif isinstance(node, ast.Delete):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    deleted.add(t.id)
                elif root_name(t):
                    mutated.add(root_name(t))
        elif isinstance(node, ast.Call):
            _call_effects(node, out, mutated, effects)
        todo.extend(ast.iter_child_nodes(node))
    mutated.discard("globals")
    return _through_aliases(mutated, aliases), deleted


def _through_aliases(mutated: set[str], aliases: dict[str, set[str]]) -> set[str]:
    todo, seen = list(mutated), set(mutated)
    while todo:
        for r in aliases.get(todo.pop(), ()):
            if r not in seen:
                seen.add(r)
                todo.append(r)
    return seen


# ---- what calling a notebook-defined function changes -------------------------------------
_METHODS = " methods"  # effects[_METHODS].params: method names that mutate their instance
_SELF_ONLY = CallEffects()


def _function_effects(fn: ast.FunctionDef | ast.AsyncFunctionDef,
                      effects: dict[str, CallEffects]) -> CallEffects:
    a = fn.args
    params = tuple(x.arg for x in a.posonlyargs + a.args)
    every_param = set(params) | {x.arg for x in a.kwonlyargs} | {
        x.arg for x in (a.vararg, a.kwarg) if x is not None}
    declared = {n for s in ast.walk(fn) if isinstance(s, ast.Global) for n in s.names}
    local = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name)
             and isinstance(n.ctx, (ast.Store, ast.Del))} - declared
    mutated: set[str] = set()
    scratch, aliases = Facts(), {}
    for stmt in fn.body:
        m, _ = _statement_effects(stmt, scratch, effects, aliases)
        mutated |= m
    rebound = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name)
               and isinstance(n.ctx, (ast.Store, ast.Del)) and n.id in declared}
    return CallEffects(frozenset((mutated - local - every_param) | rebound), params,
                       frozenset(mutated & every_param))


def call_effects(texts: list[str]) -> dict[str, CallEffects]:
    """Functions the notebook defines at top level that change objects in place when called,
    and (under a key no name can have) the methods of its classes that change their instance.
    Repeated until calls between them are accounted for."""
    defs: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
    methods: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
    for text in texts:
        for stmt in ast.parse(to_python(text)).body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                defs.append(stmt)
            elif (isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Lambda)
                  and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)):
                defs.append(ast.FunctionDef(stmt.targets[0].id, stmt.value.args,
                                            [ast.Expr(stmt.value.body)], []))
            elif isinstance(stmt, ast.ClassDef):
                methods += [s for s in stmt.body
                            if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))]
    effects: dict[str, CallEffects] = {}
    for _ in range(len(defs) + len(methods) + 1):
        new = {d.name: fx for d in defs
               if (fx := _function_effects(d, effects)).globals or fx.mutated_params}
        selfish = tuple(sorted(m.name for m in methods if (fx := _function_effects(m, effects))
                               .params[:1] and fx.params[0] in fx.mutated_params))
        if selfish:
            new[_METHODS] = CallEffects(params=selfish)
        if new == effects:
            break
        effects = new
    return effects


def analyse(source: str, what: str = "cell",
            effects: dict[str, CallEffects] = _NO_EFFECTS) -> Facts:
    """Facts for a cell (or several cells joined), in execution order; `effects` tells
    what calling the notebook's own functions changes (see call_effects)."""
    tree = parse(source, what)
    use = name_use(tree)
    out = Facts(reads=list(use.reads), binds=list(use.binds))
    out.builtin_loads = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)
                         and isinstance(n.ctx, ast.Load) and n.id in BUILTINS}
    bound: set[str] = set()
    aliases: dict[str, set[str]] = {}
    for stmt in tree.body:
        mutated, deleted = _statement_effects(stmt, out, effects, aliases)
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


def mutated_names(source: str, effects: dict[str, CallEffects] = _NO_EFFECTS) -> set[str]:
    """Every name whose object some statement of `source` changes in place, including names
    the same code bound first (which analyse() reports as bound, not mutated)."""
    out, aliases, names = Facts(), {}, set()
    for stmt in ast.parse(to_python(source)).body:
        names |= _statement_effects(stmt, out, effects, aliases)[0]
    return names
