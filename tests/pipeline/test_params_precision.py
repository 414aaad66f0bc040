"""Issue 10, parameters and precision: expression defaults get the value Python gives them,
prelude line magics leave keys alone, `status` tells "will" from "may" re-run, and a name
nothing defines stops a run before any step runs."""
from __future__ import annotations

import json

import nbformat
import pytest
from tests.helpers_convert import ipython_shell

from jupyter_mlpipe.run.keys import KeyContext
from jupyter_mlpipe.pipeline.load import load_pipeline
from jupyter_mlpipe.pipeline.names import undefined_names
from jupyter_mlpipe.api import Pipeline
from tests.helpers import replace_cell

PARAMS = 'base = 10\nlabel = "v" + str(base)'
SHOW = "%%step show\nseen_label = label\nseen_base = base"


def _papermill_values(path, params: dict, names: list[str]) -> dict:
    """The notebook run top to bottom without the tool: %%step lines dropped, papermill
    injecting `params` after the parameters cell, as `mlpipe run -p` would."""
    import papermill

    nb = json.loads(path.read_text())
    for c in nb["cells"]:
        src = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        if src.startswith(("%%step", "%load_ext")):
            c["source"] = src.partition("\n")[2] if src.startswith("%%step") else ""
    nb["cells"].append(nbformat.v4.new_code_cell(
        f"import json\nprint(json.dumps({{n: globals()[n] for n in {names!r}}}))"))
    plain = path.with_name("plain.ipynb")
    plain.write_text(json.dumps(nb))
    out = papermill.execute_notebook(str(plain), None, parameters=params or None,
                                     kernel_name="python3", progress_bar=False)
    return json.loads(out.cells[-1].outputs[0]["text"])


@pytest.mark.parametrize("params", [{}, {"base": 20}])
def test_expression_default_gets_the_value_python_gives_it(make_nb, params):
    path = make_nb([SHOW], params=PARAMS)
    run = Pipeline.from_notebook(path).run(params=params, jobs=1)
    assert run.ok, [s.error for s in run.steps.values()]
    got = run.outputs("show")
    want = _papermill_values(path, params, ["seen_label", "seen_base"])
    assert got == want  # label == "v10" in both cases: papermill injects after the cell


def test_overriding_an_expression_parameter(make_nb):
    path = make_nb([SHOW], params=PARAMS)
    run = Pipeline.from_notebook(path).run(params={"label": "x"}, jobs=1)
    assert run.outputs("show") == {"seen_label": "x", "seen_base": 10}


def _key(spec, step, params=None):
    return KeyContext(spec, params).static_parts(spec.step(step))


def test_key_covers_parameters_read_through_another(make_nb):
    path = make_nb(["%%step only_label\nx = label"], params=PARAMS)
    before = _key(load_pipeline(path), "only_label")
    assert before["param_values"] == {"base": "10", "label": "'v10'"}
    replace_cell(path, "base = 10", PARAMS.replace("10", "11"))
    after = _key(load_pipeline(path), "only_label")
    assert after["params"] != before["params"]
    assert after["param_values"]["label"] == "'v11'"


def test_live_values_give_the_batch_key(make_nb):
    """The %%step magic passes every live value; a batch run only the overrides."""
    spec = load_pipeline(make_nb([SHOW], params=PARAMS))
    assert _key(spec, "show") == _key(spec, "show", {"base": 10, "label": "v10"})
    assert _key(spec, "show", {"base": 20}) == _key(spec, "show", {"base": 20, "label": "v10"})


def test_run_all_after_mlpipe_run_reuses(make_nb, capsys):
    """Live values in a kernel that ran the notebook top to bottom give the batch key."""
    prelude = "%load_ext autoreload\n%autoreload 2\nimport math"
    path = make_nb([prelude, SHOW], params=PARAMS)
    assert Pipeline.from_notebook(path).run(jobs=1).ok
    shell = ipython_shell()
    shell.user_ns.clear()
    shell.run_line_magic("mlpipe", f"notebook {path}")
    for source in (PARAMS, prelude):
        assert shell.run_cell(source).success
    capsys.readouterr()
    assert shell.run_cell(SHOW).success
    assert "reused show" in capsys.readouterr().out
    assert shell.user_ns["seen_label"] == "v10"


def test_unknown_parameter_is_an_error_for_status_too(make_nb, mlpipe_cli):
    path = make_nb([SHOW], params=PARAMS)
    r = mlpipe_cli("status", path, "-p", "nope", "1")
    assert r.returncode == 2 and "unknown parameter(s) nope" in r.stderr


def test_prelude_line_magics_and_shell_lines_leave_keys_alone(make_nb):
    steps = ["%%step a\nx = math.pi"]
    path = make_nb(["import math"] + steps)
    before = _key(load_pipeline(path), "a")
    replace_cell(path, "import math", "%load_ext autoreload\n%autoreload 2\nimport math\n"
                 "%mlpipe graph\n!echo hi\n%config InlineBackend.figure_format = 'svg'")
    assert _key(load_pipeline(path), "a") == before
    replace_cell(path, "%load_ext autoreload", "import math\n%env SEED=1")
    assert _key(load_pipeline(path), "a") != before  # %env changes what steps see


def test_status_tells_will_from_may_rerun(make_nb, mlpipe_cli):
    path = make_nb(["%%step a\nx = 1", "%%step b\ny = x + 1", "%%step c\nz = y * 2"])
    assert Pipeline.from_notebook(path).run(jobs=1).ok
    replace_cell(path, "%%step a", "%%step a\nx = 2")
    replace_cell(path, "%%step c", "%%step c\nz = y * 3")
    r = mlpipe_cli("status", path)
    assert r.returncode == 0, r.stderr
    lines = {ln.split()[1]: ln for ln in r.stdout.splitlines()[:3]}
    assert "stale   will re-run: body changed" in lines["a"]
    assert "stale   may re-run: upstream 'a' is stale" in lines["b"]
    assert "will re-run: upstream 'b' is stale; body changed" in lines["c"]
    assert "0 cached, 3 stale (2 will re-run, 1 may re-run" in r.stdout
    rows = {s.name: s for s in Pipeline.from_notebook(path).status()}
    assert [rows[n].certain for n in "abc"] == [True, False, True]
    assert [str(rows[n].state) for n in "abc"] == ["stale"] * 3


def test_undefined_name_stops_the_run_before_any_step(make_nb, mlpipe_cli, tmp_path):
    log = tmp_path / "ran.txt"
    path = make_nb([f"%%step a\nopen({str(log)!r}, 'a').write('a')\nx = 1",
                    "%%step b\ny = x + lerning_rate"])
    r = mlpipe_cli("run", path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "cell 3, step 'b': reads 'lerning_rate', which nothing defines" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not log.exists()


@pytest.mark.parametrize("prelude, body", [
    ("import math", "for i in range(3):\n    if i:\n        print(prev)\n    prev = i"),
    ("exec('hidden = 1')", "y = hidden"),
    ("%run helpers.py", "y = helper()"),
    ("from math import *", "y = pi"),
    ("import math", "display(In, Out, get_ipython(), _, _i1)"),
    ("import math", "def f():\n    return never_defined"),
    ("def g():\n    global made\n    made = 1", "g()\ny = made"),
])
def test_no_false_undefined_names(make_nb, prelude, body):
    spec = load_pipeline(make_nb([prelude, "%%step s\n" + body]))
    assert undefined_names(spec) == []


def test_undefined_names_found_statically(make_nb):
    spec = load_pipeline(make_nb(["import math", "%%step s\ny = math.pi + nme"],
                                 params="k = 1"))
    assert [(s.name, n) for s, n in undefined_names(spec)] == [("s", "nme")]


def test_unpicklable_expression_default_is_keyed_by_its_source(make_nb):
    path = make_nb(["%%step s\nwith lock:\n    y = 1"], params="import threading\n"
                   "lock = threading.Lock()")
    before = _key(load_pipeline(path), "s")["params"]
    replace_cell(path, "import threading", "import threading\nlock = threading.RLock()")
    assert _key(load_pipeline(path), "s")["params"] != before
