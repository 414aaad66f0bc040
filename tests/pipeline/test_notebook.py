"""Notebook -> pipeline: step parsing, inference of --in/--out, and clear definition errors."""
from __future__ import annotations

import dataclasses

import pytest

from jupyter_mlpipe.errors import CycleError, MissingInputError, StepDefinitionError
from jupyter_mlpipe.pipeline.graph import Graph
from jupyter_mlpipe.pipeline.load import load_pipeline
from jupyter_mlpipe.pipeline.notebook import parse_pipeline, read_notebook_json, with_body


def test_steps_prelude_and_parameters(make_nb):
    # load -> left, right -> join
    path = make_nb([
        "import math\ndef double(x):\n    return 2 * x",
        "%%step load --out raw\nraw = [1, 2, 3]",
        "%%step left --in raw --out a\na = sum(raw)",
        "%%step right --out b\nb = double(len(raw))",
        "%%step join --in a b\nprint(a + b)",
    ], params="n = 3\nrate = 0.5")
    spec = load_pipeline(path)
    assert [s.name for s in spec.steps] == ["load", "left", "right", "join"]
    assert spec.parameters == {"n": 3, "rate": 0.5}
    assert spec.step("right").inputs == ("raw",)  # inferred from the body
    assert spec.step("right").outputs == ("b",)
    assert spec.step("join").outputs == ()
    assert {frozenset(s.defines) for s in spec.prelude} == {frozenset({"math"}),
                                                            frozenset({"double"})}
    g = Graph(spec)
    assert g.upstream["join"] == ["left", "right"]
    assert g.order[0] == "load" and g.order[-1] == "join"


def test_inferred_outputs_are_all_names_bound(make_nb):
    spec = load_pipeline(make_nb([
        "%%step prep\nimport os\nx = 1\n_tmp = 2\nfor i in range(3):\n    pass",
        "%%step use\ny = x + 1"]))
    assert spec.step("prep").outputs == ("x", "i")  # not imports, not _private
    assert spec.step("use").inputs == ("x",)


def test_undeclared_read_warns_and_becomes_a_dependency(make_nb):
    path = make_nb(["%%step load --out raw\nraw = 1", "%%step other --out q\nq = 2",
                    "%%step train --in q --out model\nmodel = raw + q"])
    with pytest.warns(UserWarning, match="reads 'raw', produced by step 'load'"):
        spec = load_pipeline(path)
    assert set(spec.step("train").inputs) == {"q", "raw"}


@pytest.mark.parametrize("cells, message", [
    (["%%step load --bogus x\nraw = 1"], r"cell 2: bad %%step line .*unrecognized arguments: --bogus"),
    (["%%step\nraw = 1"], r"cell 2: bad %%step line .*required: name"),
    (["%%step 9lives --out a\na = 1"], r"'9lives' is not a valid step name"),
    (["%%step a --out x\nx = 1", "%%step a --out y\ny = 2"],
     r"cell 3, step 'a': step name 'a' is already used by cell 2"),
    (["%%step a --out x\nx = (1"], r"step 'a'.*not valid Python"),
    (["%%step a --out 1x\nx = 1"], r"--out '1x' is not a Python variable name"),
])
def test_definition_errors_name_the_cell(make_nb, cells, message):
    with pytest.raises(StepDefinitionError, match=message):
        load_pipeline(make_nb(cells))


def test_missing_input_names_the_variable_and_fix(make_nb):
    with pytest.raises(MissingInputError) as e:
        load_pipeline(make_nb(["%%step train --in raw --out m\nm = raw"]))
    assert "input 'raw' is not produced by any step" in str(e.value)
    assert "--out raw" in str(e.value)


def test_cycle_lists_the_steps(make_nb):
    spec = load_pipeline(make_nb(["%%step a --in y --out x\nx = y", "%%step b --in x --out y\ny = x"]))
    with pytest.raises(CycleError) as e:
        Graph(spec)
    assert set(e.value.cycle) >= {"a", "b"}
    assert "cycle" in str(e.value)


def test_inputs_come_from_the_nearest_earlier_producer(make_nb):
    # a -> b (rewrites x) -> c
    spec = load_pipeline(make_nb(["%%step a --out x\nx = 1", "%%step b --in x --out x\nx = x + 1",
                                  "%%step c --in x\nprint(x)"]))
    g = Graph(spec)
    assert g.producer["b"] == {"x": "a"} and g.producer["c"] == {"x": "b"}


def test_reads_of_written_files_are_dependencies(make_nb):
    spec = load_pipeline(make_nb(["%%step c --reads out/data.csv\nprint(open('out/data.csv').read())",
                                  "%%step w --writes out\nimport os\nos.makedirs('out', exist_ok=True)"]))
    assert Graph(spec).upstream["c"] == ["w"]


def test_not_a_notebook(tmp_path):
    bad = tmp_path / "x.ipynb"
    bad.write_text("{nope")
    with pytest.raises(StepDefinitionError, match="not a notebook"):
        load_pipeline(bad)
    with pytest.raises(StepDefinitionError, match="does not exist"):
        load_pipeline(tmp_path / "missing.ipynb")


def test_steps_and_prelude_carry_their_analysis(make_nb):
    spec = load_pipeline(make_nb([
        "import os.path\nLIMIT = 3",
        "%%step load --out raw\nimport json\n# a comment\nraw = json.loads('[1, 2]')[:LIMIT]",
    ]))
    load = spec.step("load")
    assert load.free_names == ("LIMIT",) and load.bound_names == ("raw",)
    assert load.imported_modules == ("json",)
    assert "comment" not in load.normalized_body and "json.loads" in load.normalized_body
    assert spec.prelude[0].imported_modules == ("os.path",)
    assert hash(load) == hash(dataclasses.replace(load))  # frozen and hashable


def test_module_pass_runs_before_inference(make_nb):
    # numbers -> scaled (module) -> show: `show --in ys` resolves only once the pass gave ys
    path = make_nb(["%%step numbers --out xs\nxs = [1]", "%%step scaled --module m@1\n# here",
                    "%%step show --in ys\nprint(ys)"])
    seen = []

    def fake_pass(step, parameters):
        seen.append((step.name, step.inputs, step.inputs_declared))
        return with_body(step, "ys = [x * 2 for x in xs]", "module m@1"), ["from the pass"]

    spec = parse_pipeline(read_notebook_json(path), path, fake_pass)
    assert seen == [("scaled", (), False)]
    assert spec.step("scaled").inputs == ("xs",) and spec.step("scaled").outputs == ("ys",)
    assert spec.step("show").inputs == ("ys",)
    assert spec.warnings == ("from the pass",)
