"""Pipeline -> plain Python script, for running where there is no Jupyter or jupyter_mlpipe.

One function per step (inputs as parameters, outputs returned), the prelude at module level,
parameters as constants and `main()` arguments, and a `main` that runs the steps in order."""
from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path

from ..pipeline.analysis import name_use, parse, to_python
from .converter import convert_json
from ..pipeline.graph import Graph
from ..models import PipelineSpec
from ..pipeline.load import pipeline_from_json
from ..pipeline.notebook import cell_source, read_notebook_json, split_magic

_SHIM = '''
try:  # notebook magics and display() outside IPython
    from IPython import get_ipython as _get_ipython
    from IPython.display import display
except ImportError:
    _get_ipython, display = (lambda: None), print


class _NoIPython:
    def system(self, cmd):
        import subprocess

        subprocess.run(cmd, shell=True, check=False)

    def run_line_magic(self, name, line):
        print(f"(skipped %{name} {line}: not running in IPython)")

    def run_cell_magic(self, name, line, cell):
        print(f"(skipped %%{name}: not running in IPython)")


def get_ipython():
    return _get_ipython() or _NoIPython()
'''


def _func_name(step: str) -> str:
    return "step_" + re.sub(r"\W", "_", step)


def _indented(body: str) -> str:
    """The body one level in; multi-line strings would change, so those bodies are unparsed."""
    src = to_python(body)
    tree = ast.parse(src)
    multiline = any(isinstance(n, (ast.Constant, ast.JoinedStr)) and n.lineno != n.end_lineno
                    for n in ast.walk(tree))
    text = ast.unparse(tree) if multiline else textwrap.dedent(src).strip("\n")
    return textwrap.indent(text or "pass", "    ")


def load_spec(notebook: str | Path) -> PipelineSpec:
    """The notebook's pipeline; a plain notebook (no %%step cells) is converted first."""
    path = Path(notebook).resolve()
    nb = read_notebook_json(path)
    if any(c.get("cell_type") == "code" and split_magic(cell_source(c)) is not None
           for c in nb["cells"]):
        return pipeline_from_json(nb, path)
    return convert_json(nb, path).spec


def export_script(notebook: str | Path) -> str:
    spec = load_spec(notebook)
    order = Graph(spec).order
    params = spec.parameters
    module_globals = set(params) | {n for st in spec.prelude for n in st.defines}
    prelude_reads = {n for st in spec.prelude for n in st.uses} - module_globals
    out = [f'"""Pipeline exported from {spec.path.name} by jupyter_mlpipe: one function per '
           'step, run in order by main().\n\nRun: python THIS_FILE.py'
           + "".join(f" [--{p} VALUE]" for p in params) + '\n"""']
    prelude = "\n\n".join(to_python(src).strip("\n") for _, src in spec.prelude_cells)
    uses_ipython = "get_ipython" in prelude or "display" in prelude or any(
        "get_ipython" in to_python(s.body) or "display(" in s.body for s in spec.steps)
    if uses_ipython:
        out.append(_SHIM.strip("\n"))
    if prelude:
        out.append("# ---- prelude (the notebook's imports, functions and constants)\n" + prelude)
    if params:
        out.append("# ---- parameters (override them as main() arguments or --NAME VALUE)\n"
                   + "\n".join(f"{n} = {v}" if isinstance(v, str) and _is_code(spec, n)
                               else f"{n} = {v!r}" for n, v in params.items()))
    calls = []
    for name in order:
        s = spec.step(name)
        use = name_use(parse(s.body, f"step '{name}'"))
        rebound = [n for n in use.reads if n in module_globals and n in use.binds]
        args = list(s.inputs) + [n for n in rebound if n not in s.inputs]
        ret = ", ".join(s.outputs)
        doc = f'    """Step {name}: in {", ".join(s.inputs) or "-"}; out {ret or "-"}."""'
        shared = [v for v in s.inputs if v in prelude_reads]
        if shared:
            doc += ("\n    globals().update(" + ", ".join(f"{v}={v}" for v in shared)
                    + ")  # prelude functions read these as globals")
        out.append(f"def {_func_name(name)}({', '.join(args)}):\n{doc}\n{_indented(s.body)}"
                   + (f"\n    return {ret}" if ret else ""))
        call = f"{_func_name(name)}({', '.join(f'{a}={a}' for a in args)})"
        calls.append(f"    {ret} = {call}" if ret else f"    {call}")
    produced = list(dict.fromkeys(v for n in order for v in spec.step(n).outputs))
    sig = ", ".join(f"{p}={p}" for p in params)
    main = [f"def main({sig}):", '    """Run every step in order; return the outputs by name."""']
    if params:
        main.append("    globals().update(" + ", ".join(f"{p}={p}" for p in params)
                    + ")  # steps and prelude read parameters as globals, as in the notebook")
    main += calls
    main.append("    return {" + ", ".join(f"{v!r}: {v}" for v in produced) + "}")
    out.append("\n".join(main))
    cli = ['if __name__ == "__main__":', "    import argparse", "    import ast", "",
           "    def _value(text):", "        try:", "            return ast.literal_eval(text)",
           "        except (ValueError, SyntaxError):", "            return text", "",
           "    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])"]
    for p in params:
        cli.append(f"    parser.add_argument('--{p}', type=_value, default={p})")
    cli.append("    main(**vars(parser.parse_args()))")
    out.append("\n".join(cli))
    return "\n\n\n".join(out) + "\n"


def _is_code(spec: PipelineSpec, name: str) -> bool:
    """A parameter whose value is not a literal is kept as its source text (notebook.py)."""
    src = spec.parameters_source
    for stmt in ast.parse(to_python(src)).body:
        if isinstance(stmt, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == name for t in stmt.targets):
            try:
                ast.literal_eval(stmt.value)
                return False
            except ValueError:
                return True
    return False
