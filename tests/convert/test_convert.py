"""mlpipe convert: plain notebook -> %%step notebook with explicit --in/--out."""
from __future__ import annotations

import json

import pytest

from tests.helpers_convert import (assert_same, copy_example, final_outputs, make_notebook,
                             run_original)
from jupyter_mlpipe import Pipeline
from jupyter_mlpipe.cli.main import main as mlpipe
from jupyter_mlpipe.convert.converter import convert_notebook


def _steps(result):
    return {s.name: (set(s.inputs), set(s.outputs)) for s in result.spec.steps}


def _sources(path):
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"]
            if c["cell_type"] == "code"]


# ---- pure conversions (no kernels) ------------------------------------------------------------
def test_cells_mode_finds_dataflow_mutation_files_and_prelude(tmp_path):
    # a -> b (mutates a in place) -> c ; helper function and imports go to the prelude
    nb = make_notebook(tmp_path / "p.ipynb", [
        "import math\nLIMIT = 3",
        "data = [1, 2, 3]\nwith open('raw.txt', 'w') as f:\n    f.write('x')",
        "def total(xs):\n    return sum(xs) + offset\n\noffset = len(data)\ndata.append(4)",
        "print(data)",  # binds nothing: joins the previous step
        "text = open('raw.txt').read()\nresult = total(data) * math.pi\ntmp = 1\ndel tmp",
    ])
    r = convert_notebook(nb)
    assert r.mode == "cells"
    steps = _steps(r)
    assert steps == {
        "data": (set(), {"data"}),
        "offset": ({"data"}, {"offset", "data"}),
        "text": ({"data", "offset"}, {"text", "result"}),
    }
    by_name = {s.name: s for s in r.spec.steps}
    assert by_name["data"].writes == ("raw.txt",)
    assert by_name["text"].reads == ("raw.txt",)
    assert "print(data)" in by_name["offset"].body
    prelude = "\n".join(src for _, src in r.spec.prelude_cells)
    assert "import math" in prelude and "LIMIT = 3" in prelude and "def total" in prelude
    assert "tmp" not in by_name["text"].outputs  # deleted before the step ends
    code = [c for c in r.notebook["cells"] if c["cell_type"] == "code"]
    assert code[0]["source"] == "%load_ext jupyter_mlpipe"
    for c in code:  # explicit --in/--out on every step that has any
        if c["source"].startswith("%%step data "):
            assert "--out data" in c["source"]


def test_a_rebound_builtin_name_is_an_input(tmp_path):
    nb = make_notebook(tmp_path / "b.ipynb", ["sum = len('abc')", "total = sum * 2"])
    r = convert_notebook(nb)
    assert _steps(r) == {"sum": (set(), {"sum"}), "total": ({"sum"}, {"total"})}


def test_tags_mode_follows_kale_tags(tmp_path):
    nb = make_notebook(tmp_path / "k.ipynb", [
        "import json",
        "def double(x):\n    return 2 * x",
        "a = double(1)",
        "b = a + 1",  # untagged: continues step 'load'
        "print('debug only')",
        "c = b * 10",
    ], tags={0: ["imports"], 1: ["functions"], 2: ["step:load"], 4: ["skip"],
             5: ["step:scale", "prev:load"]})
    r = convert_notebook(nb)
    assert r.mode == "tags"
    assert _steps(r) == {"load": (set(), {"a", "b"}), "scale": ({"b"}, {"c"})}
    assert "a = double(1)" in r.spec.step("load").body and "b = a + 1" in r.spec.step("load").body
    assert any(n.kind == "skipped" and n.cell == 4 for n in r.notes)
    assert not any("debug only" in s.body for s in r.spec.steps)
    prelude = "\n".join(src for _, src in r.spec.prelude_cells)
    assert "import json" in prelude and "def double" in prelude


def test_headings_name_the_steps(tmp_path):
    nb = make_notebook(tmp_path / "h.ipynb", [
        ("md", "# Title"), ("md", "## 1. Load data"), "x = 1", "y = x + 1",
        ("md", "## Model"), "z = y * 2"])
    r = convert_notebook(nb)
    assert r.mode == "headings"
    assert _steps(r) == {"load_data": (set(), {"y"}), "model": ({"y"}, {"z"})}


@pytest.mark.parametrize("code, reason", [
    ("%run helper.py", "%run"),
    ("exec('w = v + 1')", "exec()"),
    ("globals()['w'] = v + 1", "globals()"),
])
def test_unsafe_cells_are_reported_and_merged_to_the_end(tmp_path, code, reason):
    nb = make_notebook(tmp_path / "u.ipynb", ["v = len('x')", code, "u = w * 2", "t = u + 1"])
    r = convert_notebook(nb)
    assert [s.name for s in r.spec.steps] == ["v", "u"]
    merged = r.spec.step("u")
    assert "u = w * 2" in merged.body and "t = u + 1" in merged.body
    assert "v" in merged.inputs
    unsafe = [n for n in r.notes if n.kind == "unsafe"]
    assert unsafe and unsafe[0].cell == 1 and reason in unsafe[0].message


def test_two_cells_mutating_one_variable_are_merged(tmp_path):
    nb = make_notebook(tmp_path / "m.ipynb", [
        "import pandas as pd\ndf = pd.DataFrame({'a': [1, 2]})",
        "df['b'] = df['a'] * 2",
        "n = len(df)",
        "df['c'] = 0",
        "out = df.sum()"])
    r = convert_notebook(nb)
    notes = [n for n in r.notes if n.kind == "unsafe"]
    assert notes and "mutates 'df'" in notes[0].message and notes[0].cell == 3
    names = [s.name for s in r.spec.steps]
    assert len(names) == 3
    middle = r.spec.steps[1]
    assert "df['b']" in middle.body and "df['c'] = 0" in middle.body
    assert set(middle.inputs) == {"df"} and {"df", "n"} <= set(middle.outputs)


def test_convert_refuses_a_pipeline_and_cli_writes_the_file(tmp_path, capsys):
    nb = make_notebook(tmp_path / "a.ipynb", ["x = len('ab')", "y = x + 1"])
    assert mlpipe(["convert", str(nb), "-o", str(tmp_path / "b.ipynb")]) == 0
    assert "wrote" in capsys.readouterr().out
    assert _sources(tmp_path / "b.ipynb")[1].startswith("%%step x --out x")
    assert mlpipe(["convert", str(tmp_path / "b.ipynb"), "-o", str(tmp_path / "c.ipynb")]) == 2
    assert "already has %%step cells" in capsys.readouterr().err


# ---- real runs: the converted notebook computes what the original computes -----------------------
EXAMPLE_VARS = ["df", "features", "summary", "model", "pred", "accuracy", "means", "report"]


def test_example_converted_runs_same_as_original(tmp_path, capsys):
    src = copy_example(tmp_path)
    before = run_original(src, EXAMPLE_VARS)
    (tmp_path / "iris_summary.csv").unlink()  # the converted run must write it itself
    out = tmp_path / "example_pipeline.ipynb"
    assert mlpipe(["convert", str(src), "-o", str(out)]) == 0
    assert _sources(out)[0] == "%load_ext jupyter_mlpipe"
    pipe = Pipeline.from_notebook(out)
    assert len(pipe.steps) >= 3 and all(s.inputs_declared or not s.inputs for s in pipe.steps)
    run = pipe.run(jobs=2)
    assert run.ok, [s.error for s in run.failed]
    after = final_outputs(pipe, run)
    for name in EXAMPLE_VARS:
        assert_same(before[name], after[name], name)
    assert before["model"].predict(before["df"][before["features"]]).tolist() == \
        after["model"].predict(after["df"][after["features"]]).tolist()
    capsys.readouterr()
    assert mlpipe(["status", str(out)]) == 0
    assert capsys.readouterr().out.strip().endswith(f"{len(pipe.steps)} cached, 0 stale")
    # Pipeline.from_notebook(convert=True) builds the same steps without writing a file
    direct = Pipeline.from_notebook(src, convert=True)
    assert [s.name for s in direct.steps] == [s.name for s in pipe.steps]


def test_unsafe_and_mutating_notebook_runs_same_as_original(tmp_path):
    nb = make_notebook(tmp_path / "x.ipynb", [
        "items = []\nbase = 5",
        "def bump(v):\n    return v + shift  # a global that a step produces\n\n"
        "shift = len(items) + 1",
        "final = bump(base)",
        "items.append(base)",
        "exec('extra = base * 3')",
        "items.append(extra)\nscore = sum(items)",
    ])
    before = run_original(nb, ["items", "extra", "score", "base", "final"])
    r = convert_notebook(nb, tmp_path / "x_pipeline.ipynb")
    assert any(n.kind == "unsafe" for n in r.notes)
    r.write(tmp_path / "x_pipeline.ipynb")
    pipe = Pipeline.from_notebook(tmp_path / "x_pipeline.ipynb")
    run = pipe.run(jobs=2)
    assert run.ok, [s.error for s in run.failed]
    after = final_outputs(pipe, run)
    assert "base" in "".join(src for _, src in pipe.spec.prelude_cells)  # a constant
    assert "shift" in pipe.spec.step("final").inputs
    for name in ("items", "extra", "score", "final"):
        assert_same(before[name], after[name], name)


def test_magics_config_calls_and_seeds(tmp_path):
    nb = make_notebook(tmp_path / "g.ipynb", [
        "%matplotlib inline\nimport warnings\nimport numpy as np\n"
        "warnings.filterwarnings('ignore')\nnp.random.seed(0)",
        "xs = np.arange(3)\n!echo hi",
        "%%time\ntotal = int(xs.sum())",
        "%%bash\necho done",
    ])
    r = convert_notebook(nb)
    prelude = "\n".join(src for _, src in r.spec.prelude_cells)
    assert "%matplotlib inline" in prelude and "warnings.filterwarnings('ignore')" in prelude
    assert "np.random.seed(0)" not in prelude  # kept in its step, and reported
    assert any("random generator" in n.message for n in r.notes)
    assert any("%%time" in n.message for n in r.notes)
    bodies = "\n".join(s.body for s in r.spec.steps)
    assert "!echo hi" in bodies and "%%time" not in bodies
    assert "run_cell_magic('bash'" in bodies


def test_files_that_cannot_be_declared_are_reported(tmp_path):
    (tmp_path / "present.csv").write_text("a\n1\n")
    nb = make_notebook(tmp_path / "f.ipynb", [
        "import pandas as pd\nraw = pd.read_csv('present.csv')",
        "extra = open('missing.txt').read() if raw.empty else ''",
        "home = open('/etc/hostname').read()"])
    r = convert_notebook(nb)
    assert r.spec.step("raw").reads == ("present.csv",)
    assert r.spec.step("extra").reads == ()
    messages = " ".join(n.message for n in r.notes if n.kind == "files")
    assert "'missing.txt', which does not exist now" in messages
    assert "'/etc/hostname' is outside the notebook's folder" in messages


def test_converted_notebook_run_all_restores_every_step_from_the_batch_run(tmp_path):
    import nbformat
    import papermill

    nb = make_notebook(tmp_path / "n.ipynb", [
        "import numpy as np",
        "xs = np.arange(10.0)",
        "xs[0] = 5.0\nmean = xs.mean()",
        "centered = xs - mean",
    ])
    out = tmp_path / "n_pipeline.ipynb"
    convert_notebook(nb, out).write(out)
    assert Pipeline.from_notebook(out).run(jobs=2).ok
    # "Run All" in a kernel (as JupyterLab would, which names the notebook itself)
    converted = nbformat.read(out, as_version=4)
    converted.cells.insert(1, nbformat.v4.new_code_cell(f"%mlpipe notebook {out}"))
    converted.cells.append(nbformat.v4.new_code_cell("print('centered', centered.sum())"))
    nbformat.write(converted, tmp_path / "run_all.ipynb")
    done = papermill.execute_notebook(str(tmp_path / "run_all.ipynb"), None, cwd=str(tmp_path),
                                      kernel_name="python3", progress_bar=False)
    printed = ["".join(o.get("text", "") for o in c.outputs) for c in done.cells
               if c.cell_type == "code" and c.source.startswith("%%step")]
    assert len(printed) == 3 and all(p.startswith("reused ") for p in printed), printed
    assert "centered 0.0" in "".join(o.get("text", "") for o in done.cells[-1].outputs)
