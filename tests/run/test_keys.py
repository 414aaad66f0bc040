"""The cache key: what must and must not change it (no kernels needed)."""
from __future__ import annotations

import ast
import os
import time

import pytest

from jupyter_mlpipe.run.keys import KeyContext, make_key, why_stale
from jupyter_mlpipe.pipeline.load import load_pipeline
from jupyter_mlpipe.store.history import History
from tests.helpers import replace_cell

PRELUDE = "import helpers\n\ndef clean(x):\n    return x.strip()\n\ndef unrelated():\n    return 1"
STEPS = [
    PRELUDE,
    "%%step load --reads data.txt --out raw\nraw = clean(open('data.txt').read())",
    "%%step count --in raw --out n\nn = helpers.count(raw) * scale",
]


@pytest.fixture
def project(make_nb, tmp_path):
    (tmp_path / "data.txt").write_text("hello world\n")
    (tmp_path / "helpers").mkdir()
    (tmp_path / "helpers" / "__init__.py").write_text("from .impl import count\n")
    (tmp_path / "helpers" / "impl.py").write_text("def count(s):\n    return len(s)\n")
    return make_nb(STEPS, params="scale = 2")


def keys(path, params=None, history=None):
    spec = load_pipeline(path)
    ctx = KeyContext(spec, params, history)
    return {s.name: make_key(ctx.static_parts(s), {v: "d" for v in s.inputs}) for s in spec.steps}


def test_comments_and_formatting_do_not_change_keys(project):
    before = keys(project)
    replace_cell(project, "%%step load", "%%step load --reads data.txt --out raw\n"
                 "# read it\nraw = clean( open('data.txt').read() )   # trailing\n")
    replace_cell(project, "import helpers", PRELUDE.replace("def clean", "# helper\n\ndef clean"))
    assert keys(project) == before


def test_body_edit_changes_only_that_step(project):
    before = keys(project)
    replace_cell(project, "%%step count", "%%step count --in raw --out n\nn = helpers.count(raw) * scale + 1")
    after = keys(project)
    assert after["load"] == before["load"]
    assert after["count"][0] != before["count"][0]
    assert why_stale(before["count"][1], after["count"][1]) == ["body changed"]


def test_prelude_edit_invalidates_only_the_steps_using_it(project):
    before = keys(project)
    replace_cell(project, "import helpers", PRELUDE.replace("return 1", "return 2"))
    assert keys(project) == before  # nobody uses unrelated()
    replace_cell(project, "import helpers", PRELUDE.replace("x.strip()", "x.strip().lower()"))
    after = keys(project)
    assert after["load"][0] != before["load"][0]
    assert after["count"][0] == before["count"][0]
    assert why_stale(before["load"][1], after["load"][1]) == ["prelude changed (def clean(x):)"]


def test_indirect_local_module_edit_changes_key(project, tmp_path):
    before = keys(project)
    (tmp_path / "helpers" / "impl.py").write_text("def count(s):\n    return len(s) + 1\n")
    after = keys(project)
    assert after["count"][0] != before["count"][0]
    assert after["load"][0] == before["load"][0]
    assert "module helpers/impl.py changed" in why_stale(before["count"][1], after["count"][1])


def test_parameter_value_is_in_the_key_of_readers_only(project):
    before = keys(project)
    after = keys(project, params={"scale": 3})
    assert after["load"] == before["load"]
    assert why_stale(before["count"][1], after["count"][1]) == ["parameter 'scale' changed (2 -> 3)"]


def test_reads_file_rewritten_with_same_size_and_mtime_is_seen(project, tmp_path):
    history = History(tmp_path / ".mlpipe")
    data = tmp_path / "data.txt"
    old = time.time() - 100
    os.utime(data, (old, old))
    before = keys(project, history=history)
    assert keys(project, history=history) == before  # the stat fast path agrees
    st = data.stat()
    data.write_text("HELLO WORLD\n")  # same size
    os.utime(data, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the same mtime
    after = keys(project, history=history)
    assert after["load"][0] != before["load"][0]
    assert why_stale(before["load"][1], after["load"][1]) == ["data.txt changed"]


def test_input_digest_is_in_the_key(project):
    spec = load_pipeline(project)
    ctx = KeyContext(spec)
    static = ctx.static_parts(spec.step("count"))
    k1, c1 = make_key(static, {"raw": "aaa"})
    k2, c2 = make_key(static, {"raw": "bbb"})
    assert k1 != k2
    assert why_stale(c1, c2, {"raw": "load"}) == ["input 'raw' (from 'load') changed"]


def test_keys_use_the_analysis_done_at_parse_time(project, monkeypatch):
    # bodies and prelude statements are parsed once, by the notebook reader; only the local
    # module files (helpers/) are read here
    spec = load_pipeline(project)
    expected = {name: key for name, (key, _) in keys(project).items()}
    parsed = []
    real_parse = ast.parse
    monkeypatch.setattr(ast, "parse",
                        lambda src, *a, **k: parsed.append(src) or real_parse(src, *a, **k))
    ctx = KeyContext(spec)
    got = {s.name: make_key(ctx.static_parts(s), {v: "d" for v in s.inputs})[0] for s in spec.steps}
    assert got == expected
    assert all("def count" in src or "import count" in src for src in parsed)
