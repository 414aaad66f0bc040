"""Control cells, the user's dashboard (`%mlpipe graph`, `Pipeline.from_notebook(...)`,
`pipe.widget()`, `w.run()`, `pipe.status()`), never run in a step's kernel and are in no key."""
from __future__ import annotations

import nbformat

from jupyter_mlpipe import Pipeline

STEPS = ["import math\nimport jupyter_mlpipe as mlp",
         "%%step load --out raw\nraw = [1, 2, 3]",
         "%%step total --in raw --out t\nt = math.fsum(raw)\nmlp.log_metric('t', t)"]
TWICE = "%%step twice --in t --out t2\nt2 = double(t)"  # a helper defined in a control cell
CONTROL = ["%mlpipe graph",
           "from jupyter_mlpipe import Pipeline\nimport os\npipe = Pipeline.from_notebook('pipe.ipynb')\n"
           "def double(x):\n    return 2 * x",
           "pipe.status()\nw = pipe.widget()\nw.run(jobs=2)\nopen('control.txt', 'a').write('ran\\n')"]


def test_a_notebook_with_control_cells_runs_in_batch(make_nb, mlpipe_cli):
    # load -> total, with the README's dashboard cells between and after the steps
    path = make_nb([STEPS[0], CONTROL[0], STEPS[1], CONTROL[1], STEPS[2], CONTROL[2], TWICE])
    done = mlpipe_cli("run", path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert Pipeline.from_notebook(path).run().outputs("twice")["t2"] == 12.0
    assert not (path.parent / "control.txt").exists()  # no control cell ran in a step kernel
    kept = "\n".join(src for _, src in Pipeline.from_notebook(path).spec.prelude_cells)
    assert "import os" in kept and "import jupyter_mlpipe as mlp" in kept
    assert "def double" in kept
    assert "Pipeline" not in kept and "pipe." not in kept and "mlpipe graph" not in kept
    assert "control.txt" not in kept


def test_adding_or_removing_control_cells_makes_nothing_stale(make_nb, mlpipe_cli):
    path = make_nb(STEPS)
    assert mlpipe_cli("run", path).returncode == 0
    nb = nbformat.read(path, as_version=4)
    for i, src in ((2, CONTROL[0]), (3, CONTROL[1]), (len(nb.cells) + 2, CONTROL[2])):
        nb.cells.insert(i, nbformat.v4.new_code_cell(src))
    nbformat.write(nb, path)
    status = {s.name: s.describe() for s in Pipeline.from_notebook(path).status()}
    assert all(d.startswith("cached") for d in status.values()), status
