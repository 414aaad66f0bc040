"""Reusable, versioned steps: publish, use with --module N@V, deprecate, disable, default."""
from __future__ import annotations

import pytest

from tests.helpers_convert import ipython_shell, make_notebook
from jupyter_mlpipe import Pipeline
from jupyter_mlpipe.cli.main import main as mlpipe
from jupyter_mlpipe.errors import StepDefinitionError


@pytest.fixture(autouse=True)
def registry(tmp_path, monkeypatch):
    monkeypatch.setenv("MLPIPE_MODULES", str(tmp_path / "registry"))
    return tmp_path / "registry"


def _source_notebook(path, factor="3"):
    # make -> scale; scale needs the prelude helper `times` and the parameter `offset`
    return make_notebook(path, [
        "%load_ext jupyter_mlpipe",
        "offset = 1",
        "import math\n\ndef times(xs, k):\n    return [x * k for x in xs]\n\nUNUSED = 'x'",
        "%%step make --out xs\nxs = [1, 2, 3]",
        f"%%step scale --in xs --out ys\nys = [math.floor(v) + offset for v in times(xs, {factor})]",
    ], tags={1: ["parameters"]})


def _user_notebook(path, ref):
    # numbers -> scaled (the published module)
    return make_notebook(path, [
        "%load_ext jupyter_mlpipe",
        "%%step numbers --out xs\nxs = [10, 20]",
        f"%%step scaled --module {ref}\n# the published code runs here",
    ])


def test_publish_use_and_reuse_a_module(tmp_path, registry, capsys):
    src = _source_notebook(tmp_path / "src.ipynb")
    assert mlpipe(["module", "publish", str(src), "scale", "--name", "scaler",
                   "--version", "1"]) == 0
    assert "published scaler@1 (in: xs; out: ys)" in capsys.readouterr().out
    assert (registry / "scaler" / "1.json").is_file()
    user = _user_notebook(tmp_path / "user.ipynb", "scaler@1")
    pipe = Pipeline.from_notebook(user)
    step = pipe.spec.step("scaled")
    assert step.inputs == ("xs",) and step.outputs == ("ys",)
    assert "def times" in step.body and "offset = 1" in step.body and "UNUSED" not in step.body
    run = pipe.run(jobs=2)
    assert run.ok, [s.error for s in run.failed]
    assert run.outputs("scaled")["ys"] == [31, 61]
    # same code under a new version: the key does not change, the result is reused
    assert mlpipe(["module", "publish", str(src), "scale", "--name", "scaler",
                   "--version", "1.1"]) == 0
    _user_notebook(user, "scaler@1.1")
    assert all(s.state.value == "cached" for s in Pipeline.from_notebook(user).status())
    # other code: a new version is stale ("body changed"), an existing version cannot change
    src2 = _source_notebook(tmp_path / "src2.ipynb", factor="5")
    assert mlpipe(["module", "publish", str(src2), "scale", "--name", "scaler",
                   "--version", "1"]) == 1
    assert "already published with other code" in capsys.readouterr().err
    assert mlpipe(["module", "publish", str(src2), "scale", "--name", "scaler",
                   "--version", "2"]) == 0
    _user_notebook(user, "scaler")  # the default version: the newest active one
    status = {s.name: s for s in Pipeline.from_notebook(user).status()}
    assert status["scaled"].state.value == "stale" and "body changed" in status["scaled"].reasons
    run = Pipeline.from_notebook(user).run(jobs=2)
    assert run.outputs("scaled")["ys"] == [51, 101]


def test_versions_default_deprecated_disabled(tmp_path, capsys):
    src = _source_notebook(tmp_path / "src.ipynb")
    for v in ("1", "2"):
        assert mlpipe(["module", "publish", str(src), "scale", "--name", "scaler",
                       "--version", v]) == 0
    assert mlpipe(["module", "default", "scaler@1"]) == 0
    capsys.readouterr()
    assert mlpipe(["module", "ls"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("* scaler@1") and lines[1].startswith("  scaler@2")
    user = _user_notebook(tmp_path / "user.ipynb", "scaler")
    from jupyter_mlpipe.pipeline.load import REGISTRY

    assert REGISTRY.default_version("scaler") == "1"
    assert Pipeline.from_notebook(user).spec.step("scaled").inputs == ("xs",)
    assert mlpipe(["module", "deprecate", "scaler@1"]) == 0
    with pytest.warns(UserWarning, match="scaler@1 is deprecated"):
        spec = Pipeline.from_notebook(user).spec
    assert any("deprecated" in w for w in spec.warnings)
    assert mlpipe(["module", "disable", "scaler@2"]) == 0
    _user_notebook(user, "scaler@2")
    capsys.readouterr()
    assert mlpipe(["run", str(user)]) == 2
    err = capsys.readouterr().err
    assert "scaler@2 is disabled and cannot run" in err and "mlpipe module enable scaler@2" in err
    with pytest.raises(StepDefinitionError, match="no version '9'"):
        Pipeline.from_notebook(_user_notebook(user, "scaler@9"))
    with pytest.raises(StepDefinitionError, match="no module 'nope'"):
        Pipeline.from_notebook(_user_notebook(user, "nope"))
    assert mlpipe(["module", "enable", "scaler@2"]) == 0
    _user_notebook(user, "scaler@2")
    assert Pipeline.from_notebook(user).spec.step("scaled").outputs == ("ys",)


def test_interactive_module_step_runs_the_published_code(tmp_path):
    src = _source_notebook(tmp_path / "src.ipynb")
    assert mlpipe(["module", "publish", str(src), "scale", "--name", "scaler",
                   "--version", "1"]) == 0
    user = _user_notebook(tmp_path / "user.ipynb", "scaler@1")
    ip = ipython_shell()
    ip.run_line_magic("mlpipe", f"notebook {user}")
    ip.run_cell_magic("step", "numbers --out xs", "xs = [10, 20]")
    ip.run_cell_magic("step", "scaled --module scaler@1", "# published code")
    assert ip.user_ns["ys"] == [31, 61]
