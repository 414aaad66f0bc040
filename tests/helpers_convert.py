"""Shared by the convert/export/tracking/modules tests: build small notebooks, run a plain
notebook for real with papermill, compare values."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "notebooks" / "convert_example.ipynb"


def make_notebook(path: Path, cells: list, tags: dict[int, list[str]] | None = None) -> Path:
    """cells: strings (code) or ("md", text)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    for i, c in enumerate(cells):
        cell = (nbformat.v4.new_markdown_cell(c[1]) if isinstance(c, tuple)
                else nbformat.v4.new_code_cell(c))
        if tags and i in tags:
            cell.metadata["tags"] = tags[i]
        nb.cells.append(cell)
    nbformat.write(nb, path)
    return path


def run_original(path: Path, names: list[str]) -> dict:
    """Execute a plain notebook with papermill; return the named variables' final values."""
    import cloudpickle
    import papermill

    nb = json.loads(path.read_text())
    dump = path.with_suffix(".values.pkl")
    nb["cells"].append(nbformat.v4.new_code_cell(
        "import cloudpickle as _cp\n"
        f"with open({str(dump)!r}, 'wb') as _f:\n"
        f"    _cp.dump({{_n: globals()[_n] for _n in {names!r} if _n in globals()}}, _f)"))
    src = path.with_suffix(".dump.ipynb")
    src.write_text(json.dumps(nb))
    papermill.execute_notebook(str(src), str(path.with_suffix(".out.ipynb")),
                               cwd=str(path.parent), kernel_name="python3", progress_bar=False)
    with open(dump, "rb") as f:
        return cloudpickle.load(f)


def final_outputs(pipe, run) -> dict:
    """Each variable's value from the last step (in notebook order) that outputs it."""
    values = {}
    for step in pipe.steps:
        if step.outputs:
            values.update(run.outputs(step.name))
    return values


def assert_same(a, b, name: str = "") -> None:
    import numpy as np
    import pandas as pd

    if isinstance(a, (pd.DataFrame, pd.Series)):
        assert a.equals(b), f"{name} differs"
    elif isinstance(a, np.ndarray):
        assert np.array_equal(a, b), f"{name} differs"
    elif hasattr(a, "get_params"):  # an estimator: same class, same parameters, same fit
        assert type(a) is type(b) and a.get_params() == b.get_params(), f"{name} differs"
    else:
        assert a == b, f"{name}: {a!r} != {b!r}"


def copy_example(dest: Path) -> Path:
    return Path(shutil.copy(EXAMPLE, dest / "example.ipynb"))


def ipython_shell():
    """The one test IPython shell: globalipapp starts it once per process and returns None when
    asked again, so every test module takes it from here, in any order."""
    from IPython import get_ipython
    from IPython.testing.globalipapp import start_ipython

    from jupyter_mlpipe.interactive import in_kernel

    ip = start_ipython() or get_ipython()
    ip.run_line_magic("load_ext", "jupyter_mlpipe")
    # One process serves every test: what an earlier test's cells read must not count as this
    # test's prelude (in a user's kernel it does count, for the steps after it).
    for recorder in in_kernel._prelude:
        recorder.stop()
    in_kernel._prelude.clear()
    in_kernel.begin_prelude()
    return ip
