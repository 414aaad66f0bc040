"""Never a stale result (issue 10), with real kernels: what a step really read, imported and
looked up in the environment is checked before reuse. Each step appends to a file, so what
executed is observed through the step's own side effect; values are compared with running
the same notebook top to bottom with papermill, without the tool."""
from __future__ import annotations

import os
import py_compile
import re
import shutil
import sys
import textwrap
import time
from pathlib import Path

import nbformat
import pytest
from tests.helpers_convert import ipython_shell, run_original

from jupyter_mlpipe import Pipeline
from jupyter_mlpipe.run.runner import run_pipeline
from jupyter_mlpipe.store import serialize
from jupyter_mlpipe.store.files import Store
from tests.helpers import ROOT

COUNT = "with open('count.txt', 'a') as _f:\n    _f.write('{name}\\n')\n"


def step(name: str, line: str, body: str) -> str:
    return f"%%step {name} {line}\n" + COUNT.format(name=name) + textwrap.dedent(body)


def executions(root: Path, name: str) -> int:
    path = root / "count.txt"
    return path.read_text().split().count(name) if path.exists() else 0


def stale_reasons(path: Path) -> dict[str, tuple[str, ...]]:
    return {s.name: s.reasons for s in Pipeline.from_notebook(path).status()}


def reused_values(path: Path, name: str) -> dict:
    """The values a user gets now, from a run that must execute nothing."""
    def no_executor(*args, **kwargs):
        raise AssertionError("a step executed although everything should be reused")

    run = run_pipeline(Pipeline.from_notebook(path).spec, executor_factory=no_executor)
    return run.outputs(name)


def plain_values(path: Path, names: list[str], copy: list[str]) -> dict:
    """The notebook run top to bottom without the tool, in a copy of the project folder."""
    other = path.parent / "plain"
    other.mkdir()
    for rel in copy:
        src, dst = path.parent / rel, other / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
    nb = nbformat.read(path, as_version=4)
    nb.cells = [c for c in nb.cells if "load_ext" not in c.source]
    for c in nb.cells:
        c.source = re.sub(r"^%%step[^\n]*\n", "", c.source)
    nbformat.write(nb, other / path.name)
    return run_original(other / path.name, names)


@pytest.fixture
def pythonpath(monkeypatch):
    """Put folders on sys.path here and in the kernels (PYTHONPATH), the worktree last."""
    def add(*folders: Path) -> None:
        for f in folders:
            monkeypatch.syspath_prepend(str(f))
        rest = os.environ.get("PYTHONPATH", str(ROOT))
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join([*map(str, folders), rest]))

    return add


def test_undeclared_file_read_reruns_with_one_warning(make_nb, mlpipe_cli, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "extra.csv").write_text("a,b\n1,2\n3,4\n")
    path = make_nb(["import pandas as pd",
                    step("prep", "--out total",
                         "total = int(pd.read_csv('data/extra.csv')['a'].sum())"),
                    step("side", "--out n", "n = len(open('data/extra.csv').read())")])
    first = mlpipe_cli("run", path)
    assert first.returncode == 0, first.stderr
    warnings = [ln for ln in first.stderr.splitlines() if "without declaring" in ln]
    assert sorted(warnings) == sorted(
        f"jupyter_mlpipe: step '{s}' read data/extra.csv without declaring it: add "
        "`--reads data/extra.csv` to its %%step line so `mlpipe status` sees it change"
        for s in ("prep", "side"))
    assert "Warning" not in first.stderr  # not a Python warning with a source location
    warm = mlpipe_cli("run", path)
    assert warm.returncode == 0 and "without declaring" not in warm.stderr
    assert (executions(tmp_path, "prep"), executions(tmp_path, "side")) == (1, 1)

    (tmp_path / "data" / "extra.csv").write_text("a,b\n1,2\n30,4\n")
    status = mlpipe_cli("status", path)
    assert "read data/extra.csv (changed)" in status.stdout
    assert stale_reasons(path)["prep"] == ("read data/extra.csv (changed)",)
    assert mlpipe_cli("run", path).returncode == 0
    assert (executions(tmp_path, "prep"), executions(tmp_path, "side")) == (2, 2)
    got = {**reused_values(path, "prep"), **reused_values(path, "side")}
    assert got == plain_values(path, ["total", "n"], ["data"]) == {"total": 31, "n": 13}


def test_environment_variable_read_by_the_step(make_nb, tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", "/data/a")
    path = make_nb(["import os", step("where", "--out d", "d = os.environ['DATA_DIR']")])
    assert Pipeline.from_notebook(path).run(jobs=1).ok
    assert stale_reasons(path)["where"] == ()
    monkeypatch.setenv("DATA_DIR", "/data/b")
    assert stale_reasons(path)["where"] == ("$DATA_DIR changed",)
    assert Pipeline.from_notebook(path).run(jobs=1).ok
    assert executions(tmp_path, "where") == 2
    assert reused_values(path, "where") == {"d": "/data/b"} == plain_values(path, ["d"], [])


def _tiny_dist(site: Path, version: str) -> None:
    """Install (or upgrade to) `version`, as pip does: its old bytecode goes too (the module's
    source keeps its size, and within the same second its .pyc would still pass for it)."""
    for old in site.glob("tinydist_mlpipe-*.dist-info"):
        shutil.rmtree(old)
    shutil.rmtree(site / "__pycache__", ignore_errors=True)
    info = site / f"tinydist_mlpipe-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: tinydist-mlpipe\nVersion: {version}\n")
    (info / "top_level.txt").write_text("tinydist_mlpipe\n")
    (site / "tinydist_mlpipe.py").write_text(f"VERSION = {version!r}\n")


def test_library_version_upgrade_reruns(make_nb, tmp_path, pythonpath):
    site = tmp_path.parent / (tmp_path.name + "-site")  # outside the project folder
    _tiny_dist(site, "1.0")
    pythonpath(site)
    path = make_nb(["import tinydist_mlpipe as tiny",
                    step("lib", "--out v", "v = tiny.VERSION")])
    assert Pipeline.from_notebook(path).run(jobs=1).ok
    key = Pipeline.from_notebook(path).status()[0].key
    entry = Store.for_notebook(path).get_entry(key)
    assert entry["manifest"]["dists"] == {"tinydist-mlpipe": "1.0"}
    assert stale_reasons(path)["lib"] == ()
    _tiny_dist(site, "1.1")
    assert stale_reasons(path)["lib"] == ("tinydist-mlpipe 1.0 -> 1.1",)
    assert Pipeline.from_notebook(path).run(jobs=1).ok
    assert executions(tmp_path, "lib") == 2
    assert reused_values(path, "lib") == {"v": "1.1"}


def test_a_same_size_edit_within_the_second_of_its_bytecode_runs_the_edited_module(
        make_nb, tmp_path):
    """Python takes a module's .pyc while the source's size and whole-second mtime match it: a
    same-size edit within that second ran the old code, stored under the new code's key. The
    step runs the edited module, as a fresh top-to-bottom run does (times set, not waited for)."""
    src = tmp_path / "rates_mlpipe.py"
    second = (int(time.time()) - 100) * 10**9
    src.write_text("RATE = 2\n")
    os.utime(src, ns=(second + 100_000_000,) * 2)
    pyc = Path(py_compile.compile(str(src)))  # as an earlier import left it
    os.utime(pyc, ns=(second + 200_000_000,) * 2)
    src.write_text("RATE = 3\n")  # the same size, 0.1 s later
    os.utime(src, ns=(second + 300_000_000,) * 2)
    path = make_nb([step("use", "--out y", "import rates_mlpipe\ny = rates_mlpipe.RATE * 10")])
    assert Pipeline.from_notebook(path).run(jobs=1).ok
    got = reused_values(path, "use")
    assert got == plain_values(path, ["y"], ["rates_mlpipe.py"]) == {"y": 30}


def test_module_in_a_src_folder_on_sys_path(make_nb, tmp_path, pythonpath):
    src = tmp_path / "src"
    src.mkdir()
    (src / "feats_src.py").write_text("def f(x):\n    return x + 1\n")
    (src / "feats_dyn.py").write_text("K = 10\n")
    pythonpath(src)
    path = make_nb([step("static", "--out y", "from feats_src import f\ny = f(1)"),
                    step("dynamic", "--out k", "import importlib\n"
                         "k = importlib.import_module('feats_dyn').K")])
    assert Pipeline.from_notebook(path).run(jobs=1).ok
    (src / "feats_src.py").write_text("def f(x):\n    # a comment\n    return x + 1\n")
    (src / "feats_dyn.py").write_text("K = (10)  # layout\n")
    assert stale_reasons(path) == {"static": (), "dynamic": ()}  # by AST: comments don't count
    (src / "feats_src.py").write_text("def f(x):\n    return x + 2\n")
    (src / "feats_dyn.py").write_text("K = 20\n")
    reasons = stale_reasons(path)
    assert reasons["static"] == ("module src/feats_src.py changed",)  # the static key
    assert reasons["dynamic"] == ("module src/feats_dyn.py changed",)  # the manifest
    assert Pipeline.from_notebook(path).run(jobs=1).ok
    assert (executions(tmp_path, "static"), executions(tmp_path, "dynamic")) == (2, 2)
    assert {**reused_values(path, "static"), **reused_values(path, "dynamic")} == {"y": 3, "k": 20}


def test_editable_installed_project_package(make_nb, tmp_path, pythonpath, monkeypatch):
    pkg = tmp_path / "pkgs" / "projpkg_mlpipe"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .core import g\n")
    (pkg / "core.py").write_text("def g():\n    return 1\n")
    site = tmp_path.parent / (tmp_path.name + "-editable")  # a site dir with the .pth file
    site.mkdir()
    (site / "projpkg_mlpipe.pth").write_text(str(tmp_path / "pkgs") + "\n")
    boot = tmp_path.parent / (tmp_path.name + "-boot")
    boot.mkdir()
    (boot / "sitecustomize.py").write_text(f"import site\nsite.addsitedir({str(site)!r})\n")
    import site as site_module

    monkeypatch.setattr(sys, "path", list(sys.path))
    site_module.addsitedir(str(site))
    pythonpath(boot)
    path = make_nb([step("use", "--out r", "import projpkg_mlpipe\nr = projpkg_mlpipe.g()")])
    assert Pipeline.from_notebook(path).run(jobs=1).ok
    (pkg / "core.py").write_text("def g():\n    return 2\n")
    assert stale_reasons(path)["use"] == ("module pkgs/projpkg_mlpipe/core.py changed",)
    assert Pipeline.from_notebook(path).run(jobs=1).ok
    assert executions(tmp_path, "use") == 2 and reused_values(path, "use") == {"r": 2}


SHAPES = "class Scaler:\n    def __init__(self, k):\n        self.k = k\n\n" \
         "    def apply(self, x):\n        return x * self.k\n"


def test_method_edit_of_a_returned_instance_reruns_its_user(make_nb, tmp_path):
    (tmp_path / "shapes_mlpipe.py").write_text(SHAPES)
    path = make_nb([step("make", "--out s", "from shapes_mlpipe import Scaler\ns = Scaler(2)"),
                    step("use", "--in s --out y", "y = s.apply(10)")])
    assert Pipeline.from_notebook(path).run(jobs=1).ok
    (tmp_path / "shapes_mlpipe.py").write_text(SHAPES.replace("x * self.k", "x + self.k"))
    run = Pipeline.from_notebook(path).run(jobs=1)
    assert run.ok and {n: str(s.state) for n, s in run.steps.items()} == {
        "make": "succeeded", "use": "succeeded"}
    assert executions(tmp_path, "use") == 2
    got = reused_values(path, "use")
    assert got == plain_values(path, ["y"], ["shapes_mlpipe.py"]) == {"y": 12}


def test_value_digest_includes_project_module_source(tmp_path, monkeypatch):
    (tmp_path / "shapes_digest_mlpipe.py").write_text(SHAPES)
    monkeypatch.syspath_prepend(str(tmp_path))
    import shapes_digest_mlpipe as mod

    before = serialize.digest_value(mod.Scaler(2))
    (tmp_path / "shapes_digest_mlpipe.py").write_text(SHAPES.replace("x * self.k", "x - self.k"))
    assert serialize.digest_value(mod.Scaler(2)) != before
    assert serialize.digest_value(mod.Scaler(2)) == serialize.digest_value(mod.Scaler(2))
    sys.modules.pop("shapes_digest_mlpipe", None)


@pytest.fixture
def shell():
    return ipython_shell()


def test_magic_records_reads_and_reruns(shell, make_nb, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "extra.csv").write_text("1\n2\n")
    cell = step("total", "--out t", "t = sum(int(x) for x in open('data/extra.csv'))")
    path = make_nb([cell])
    shell.user_ns.clear()
    shell.run_line_magic("mlpipe", f"notebook {path}")
    capsys.readouterr()
    assert shell.run_cell(cell).success
    out = capsys.readouterr().out
    assert out.count("`--reads data/extra.csv`") == 1 and shell.user_ns["t"] == 3
    shell.run_cell(cell)
    assert "reused total" in capsys.readouterr().out
    (tmp_path / "data" / "extra.csv").write_text("1\n20\n")
    shell.run_cell(cell)
    out = capsys.readouterr().out
    assert "runs again: read data/extra.csv (changed)" in out and shell.user_ns["t"] == 21
    assert executions(tmp_path, "total") == 2


def test_the_tools_own_reads_are_not_the_steps(make_nb, mlpipe_cli, tmp_path):
    # load -> total, with an mlpipe.toml beside the notebook: loading `total`'s input checks
    # its signature, which reads mlpipe.toml ([store] trusted_keys); that is not the step's read
    (tmp_path / "mlpipe.toml").write_text("[targets.local]\n")
    path = make_nb([step("load", "--out raw", "raw = [1, 2, 3]"),
                    step("total", "--in raw --out t", "t = sum(raw)")])
    r = mlpipe_cli("run", path)
    assert r.returncode == 0, r.stderr
    assert "without declaring it" not in r.stdout + r.stderr
    (tmp_path / "mlpipe.toml").write_text("[targets.local]\n# edited\n")
    assert all(s.state == "cached" for s in Pipeline.from_notebook(path).status())
