"""`mlpipe debug NB STEP` and `%mlpipe load STEP`: a step opened with its stored inputs and its
run's parameters, checked by executing the debug notebook with nbclient (a real kernel).

# load -> train   (train fails in a -p run; its input `raw` is stored)
"""
from __future__ import annotations

from pathlib import Path

import nbclient
import nbformat
import pytest

from tests.helpers import write_notebook

pytestmark = pytest.mark.slow

CELLS = [
    "def square(v):\n    return v * v",
    "%%step load --out raw\nfrom pathlib import Path\nPath('load_ran.txt').write_text('yes')\n"
    "raw = [1, 2, 3]",
    "%%step train --in raw --out model\nmodel = sum(square(v) for v in raw) * scale\n"
    "raise ValueError('bug in train')",
]


def execute(path: Path, extra: str | None = None) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    if extra is not None:
        nb.cells.append(nbformat.v4.new_code_cell(extra))
    nbclient.NotebookClient(nb, timeout=120, allow_errors=True, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def stdout_of(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def test_debug_notebook_of_a_failed_step_runs_it_with_the_stored_input_and_run_params(
        make_nb, mlpipe_cli):
    path = make_nb(CELLS, params="scale = 2")
    r = mlpipe_cli("run", path, "-p", "scale", "5")
    assert r.returncode == 1 and "bug in train" in r.stderr
    (path.parent / "load_ran.txt").unlink()

    r = mlpipe_cli("debug", path, "train")
    assert r.returncode == 0, r.stderr
    written = Path(r.stdout.strip())
    assert written == path.with_name("pipe.debug-train.ipynb") and written.is_file()
    nb = execute(written, "print(repr(raw), scale, model)")
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert [e.ename for e in errors] == ["ValueError"]  # the step's own bug, nothing else
    assert stdout_of(nb.cells[-1]).strip() == "[1, 2, 3] 5 70"
    assert not (path.parent / "load_ran.txt").exists()  # the debug notebook ran no upstream
    # plain cells: no %%step, nothing of the pipeline machinery but the input loader
    sources = [c.source for c in nb.cells if c.cell_type == "code"]
    assert not any(s.startswith("%%step") for s in sources)


def test_debug_of_a_first_step_and_after_a_default_run(make_nb, mlpipe_cli):
    path = make_nb(CELLS[:2] + ["%%step train --in raw --out model\n"
                                "model = sum(square(v) for v in raw) * scale"],
                   params="scale = 2")
    assert mlpipe_cli("run", path).returncode == 0
    for step, check, want in (("load", "print(raw)", "[1, 2, 3]"),
                              ("train", "print(model)", "28")):
        r = mlpipe_cli("debug", path, step)
        assert r.returncode == 0, r.stderr
        nb = execute(Path(r.stdout.strip()), check)
        assert stdout_of(nb.cells[-1]).strip() == want


def test_missing_input_is_named_with_the_command_and_nothing_runs(make_nb, mlpipe_cli):
    path = make_nb(CELLS, params="scale = 2")
    r = mlpipe_cli("debug", path, "train")
    assert r.returncode == 2
    assert "'raw'" in r.stderr and "step 'load'" in r.stderr
    assert f"mlpipe run {path.name} --only load" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (path.parent / "load_ran.txt").exists()
    assert not path.with_name("pipe.debug-train.ipynb").exists()


def test_unknown_step_exit_2_names_the_steps(make_nb, mlpipe_cli):
    path = make_nb(CELLS, params="scale = 2")
    r = mlpipe_cli("debug", path, "trian")
    assert r.returncode == 2 and "no step named 'trian'" in r.stderr and "load, train" in r.stderr


def test_mlpipe_load_in_a_kernel_puts_inputs_and_parameters_in_the_namespace(make_nb,
                                                                            mlpipe_cli):
    path = make_nb(CELLS, params="scale = 2")
    assert mlpipe_cli("run", path, "-p", "scale", "7").returncode == 1
    user = write_notebook(path.with_name("scratch.ipynb"), [
        f"%mlpipe notebook {path}", "%mlpipe load train", "print(raw, scale)",
        "%mlpipe load nosuch"])
    nb = execute(user)
    said = stdout_of(nb.cells[2])  # cell 0 loads the extension
    assert "loaded raw (from 'load') for step 'train'" in said and "scale=7" in said
    assert stdout_of(nb.cells[3]).strip() == "[1, 2, 3] 7"
    assert "no step named 'nosuch'" in stdout_of(nb.cells[4])
