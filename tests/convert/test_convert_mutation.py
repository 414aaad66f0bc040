"""mlpipe convert on notebooks that create containers in one cell and fill them in place in
later ones: the converted pipeline (real kernels) must give the values of a top-to-bottom run."""
from __future__ import annotations

import pytest

from tests.helpers_convert import assert_same, final_outputs, make_notebook, run_original
from jupyter_mlpipe import Pipeline
from jupyter_mlpipe.convert.converter import convert_notebook

# each filling cell also binds a name of its own, so that it stays a step of its own
FILLED_IN_PLACE = [
    "import heapq\nimport types",
    "rows = []\nseen = set()\nd = {}\nextra = {'x': 1}\ncfg = types.SimpleNamespace()",
    "for i in range(4):\n    rows.append(i * 2)\n    seen.add(i % 2)\nn_rows = len(rows)",
    "for k in 'abc':\n    d[k] = k.upper()\nd.update(z='Z')\nd.setdefault('q', []).append(1)\n"
    "del d['a']\nn_keys = len(d)",
    "rows.extend([100, 101])\nrows += [7]\nextra.update(y=2)\ncfg.lr = 0.5\nstamp = 1",
    "total = sum(rows) + len(seen) + len(d) + len(extra) + cfg.lr",
    # a list bound and filled in one cell, read in another
    "squares = []\nfor i in range(3):\n    squares.append(i * i)\nwidth = 3",
    "sq_sum = sum(squares)",
    # filled through the notebook's own functions, an alias, a loop variable, heapq
    "log = []\n\ndef record(msg):\n    log.append(msg)\n\ndef fill(xs, v):\n    xs.append(v)",
    "record('start')\nbucket = []\nfill(bucket, 5)\nphase = 1",
    "record('end')\nalias = bucket\nalias.append(6)\nrecs = [{'v': 1}, {'v': 2}]\nphase2 = 2",
    "for r in recs:\n    r['w'] = r['v'] * 10\nheap = []\nheapq.heappush(heap, 3)\n"
    "heapq.heappush(heap, 1)\ndone = True",
    "summary = (list(log), list(bucket), [r['w'] for r in recs], heap[0], sq_sum)",
]
NAMES = ["rows", "seen", "d", "extra", "total", "squares", "sq_sum", "log", "bucket", "recs",
         "heap", "summary"]


def _run_converted(nb, tmp_path):
    out = tmp_path / f"{nb.stem}_pipeline.ipynb"
    result = convert_notebook(nb, out)
    result.write(out)
    pipe = Pipeline.from_notebook(out)
    run = pipe.run(jobs=2)
    assert run.ok, [s.error for s in run.failed]
    return result, final_outputs(pipe, run)


def test_containers_filled_in_place_by_later_cells_reach_later_steps(tmp_path):
    nb = make_notebook(tmp_path / "fill.ipynb", FILLED_IN_PLACE)
    before = run_original(nb, NAMES)
    result, after = _run_converted(nb, tmp_path)
    prelude = "\n".join(src for _, src in result.spec.prelude_cells)
    for name in ("rows = []", "seen = set()", "d = {}", "squares = []", "log = []"):
        assert name not in prelude
    for name in NAMES:
        assert name in after, f"no step outputs {name!r}"
        assert_same(before[name], after[name], name)


def test_a_name_mutated_by_a_cell_is_an_output_of_that_cell(tmp_path):
    nb = make_notebook(tmp_path / "m.ipynb", FILLED_IN_PLACE)
    result = convert_notebook(nb)
    for step in result.spec.steps:
        for name in ("rows", "seen", "d", "bucket", "log", "recs"):
            fills = any(f"{name}.{m}(" in step.body for m in ("append", "add", "update"))
            if fills and name in step.inputs:
                assert name in step.outputs, (step.name, name)


@pytest.mark.parametrize("tags", [
    {0: ["imports"], 1: ["functions"], 2: ["step:fill"], 3: ["step:use"]},
    {0: ["imports"], 1: ["step:init"], 2: ["step:fill"], 3: ["step:use"]},
])
def test_tagged_notebooks_keep_mutable_state_out_of_the_prelude(tmp_path, tags):
    nb = make_notebook(tmp_path / "t.ipynb", [
        "import collections",
        "counts = collections.Counter()\nrows = []\nLIMIT = 3\n\ndef keep(v):\n    rows.append(v)",
        "for w in 'abcab':\n    counts[w] += 1\n    if len(rows) < LIMIT:\n        keep(w)",
        "result = (dict(counts), list(rows))",
    ], tags=tags)
    before = run_original(nb, ["counts", "rows", "result"])
    result, after = _run_converted(nb, tmp_path)
    prelude = "\n".join(src for _, src in result.spec.prelude_cells)
    assert "rows = []" not in prelude and "Counter()" not in prelude
    for name in ("counts", "rows", "result"):
        assert_same(before[name], after[name], name)
