"""manifest.py in-process: what a step's own code opens, imports and reads from the
environment is recorded, and a later change to any of it is named."""
from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

from jupyter_mlpipe.run import distributions as manifest_module
from jupyter_mlpipe.run.manifest import Manifest, changes, undeclared_reads
from jupyter_mlpipe.run.recorder import Recorder


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "extra.csv").write_text("a,b\n1,2\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "feats_mf.py").write_text("def f(x):\n    return x + 1\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    yield tmp_path
    sys.modules.pop("feats_mf", None)


def record(root: Path, code: str, imported=()) -> Manifest:
    """Run `code` as if it were a notebook cell (IPython's cell file name)."""
    compiled = compile(textwrap.dedent(code), "<ipython-input-1-abc>", "exec")
    with Recorder(root) as rec:
        exec(compiled, {})
    return rec.manifest(imported)


def test_files_opened_for_reading_are_recorded_and_a_change_is_named(project):
    m = record(project, "open('data/extra.csv').read()\nopen('out.txt', 'w').write('x')")
    assert list(m.files) == ["data/extra.csv"]  # written files are not dependencies
    assert changes(m, project) == []
    (project / "data" / "extra.csv").write_text("a,b\n1,3\n")
    assert changes(m, project) == ["read data/extra.csv (changed)"]
    (project / "data" / "extra.csv").unlink()
    assert changes(m, project) == ["read data/extra.csv (deleted)"]


def test_undeclared_reads_are_those_outside_reads(project):
    m = record(project, "open('data/extra.csv').read()")
    assert undeclared_reads(m, ["data/extra.csv"]) == []
    assert undeclared_reads(m, ["data"]) == []
    assert undeclared_reads(m, []) == ["data/extra.csv"]


def test_project_module_on_a_src_path_is_recorded_by_its_source(project):
    m = record(project, "import feats_mf\nfeats_mf.f(1)")
    assert list(m.modules) == ["src/feats_mf.py"]
    (project / "src" / "feats_mf.py").write_text("# a comment\ndef f(x):\n    return x + 1\n")
    assert changes(m, project) == []  # comments and formatting do not count
    (project / "src" / "feats_mf.py").write_text("def f(x):\n    return x + 2\n")
    assert changes(m, project) == ["module src/feats_mf.py changed"]


def test_distribution_versions_are_recorded_and_compared(project):
    m = record(project, "import numpy", imported=["numpy"])
    assert "numpy" in m.dists
    older = Manifest(m.files, m.modules, {**m.dists, "numpy": "0.0.1"}, m.env)
    assert changes(older, project) == [f"numpy 0.0.1 -> {m.dists['numpy']}"]
    gone = Manifest(dists={"no-such-dist-mlpipe": "1.0"})
    assert changes(gone, project) == ["no-such-dist-mlpipe 1.0 uninstalled"]


def test_standard_library_imports_need_no_distribution_map(project, monkeypatch):
    monkeypatch.setattr(manifest_module, "_dists", None)
    monkeypatch.setattr(manifest_module, "_cached_dists",
                        lambda cache_dir: pytest.fail("the module -> distribution map was read"))
    m = record(project, "import json, time, os.path", imported=["json", "time", "os.path"])
    assert m.dists == {}


def test_environment_variables_read_by_the_cell_are_recorded(project, monkeypatch):
    monkeypatch.setenv("MLPIPE_T_DATA_DIR", "/data/a")
    m = record(project, """
        import os
        os.environ["MLPIPE_T_DATA_DIR"]; os.getenv("MLPIPE_T_UNSET"); env = os.environ.copy()
    """)
    assert set(m.env) == {"MLPIPE_T_DATA_DIR", "MLPIPE_T_UNSET"}  # copy() reads no one variable
    assert changes(m, project) == []
    monkeypatch.setenv("MLPIPE_T_DATA_DIR", "/data/b")
    monkeypatch.setenv("MLPIPE_T_UNSET", "now set")
    assert changes(m, project) == ["$MLPIPE_T_DATA_DIR changed", "$MLPIPE_T_UNSET changed"]


def test_library_reads_of_the_environment_are_not_the_steps(project):
    environ = os.environ
    m = record(project, "import tempfile\ntempfile.gettempdir()\nimport os\nos.path.expanduser('~')")
    assert m.env == {}
    # the one object stays (a module holding `from os import environ` reads through it)
    assert os.environ is environ and os.environ["PATH"] == environ.get("PATH")


def test_manifest_round_trips_through_json(project):
    m = record(project, "open('data/extra.csv').read()")
    assert Manifest.from_json(m.to_json()) == m
    assert Manifest.from_json(None) == Manifest()
