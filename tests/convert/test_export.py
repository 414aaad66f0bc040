"""mlpipe export --to script: a plain Python module that computes what the notebook does."""
from __future__ import annotations

import ast
import subprocess
import sys

import cloudpickle

from tests.helpers_convert import assert_same, copy_example, make_notebook, run_original
from jupyter_mlpipe.cli.main import main as mlpipe

DRIVER = """
import importlib.util, sys, cloudpickle
spec = importlib.util.spec_from_file_location("exported", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
kwargs = eval(sys.argv[3])
with open(sys.argv[2], "wb") as f:
    cloudpickle.dump(mod.main(**kwargs), f)
"""

IMPORT_ONLY = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("exported", sys.argv[1])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
"""


def _run_script(script, tmp_path, **kwargs) -> dict:
    out = tmp_path / "result.pkl"
    subprocess.run([sys.executable, "-c", DRIVER, str(script), str(out), repr(kwargs)],
                   cwd=tmp_path, check=True, capture_output=True, text=True)
    with open(out, "rb") as f:
        return cloudpickle.load(f)


def test_example_script_computes_what_the_notebook_computes(tmp_path, capsys):
    names = ["df", "features", "summary", "pred", "accuracy", "report"]
    src = copy_example(tmp_path)
    before = run_original(src, names)
    (tmp_path / "iris_summary.csv").unlink()
    script = tmp_path / "example.py"
    # a plain notebook is converted on the fly
    assert mlpipe(["export", str(src), "--to", "script", "-o", str(script)]) == 0
    tree = ast.parse(script.read_text())
    funcs = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert "main" in funcs and sum(f.startswith("step_") for f in funcs) >= 3
    after = _run_script(script, tmp_path)
    for name in names:
        assert_same(before[name], after[name], name)


def test_parameters_are_constants_and_main_arguments(tmp_path):
    nb = make_notebook(tmp_path / "p.ipynb", [
        "%load_ext jupyter_mlpipe",
        "alpha = 2",
        "import numpy as np\n\ndef weigh(xs):\n    return xs * alpha",
        "%%step load --out xs\nxs = np.arange(4)",
        "%%step total --in xs --out score\nscore = int(weigh(xs).sum())\nprint('score', score)",
    ], tags={1: ["parameters"]})
    script = tmp_path / "p.py"
    assert mlpipe(["export", str(nb), "-o", str(script)]) == 0
    text = script.read_text()
    assert "\nalpha = 2\n" in text and "def step_total(xs):" in text
    assert _run_script(script, tmp_path)["score"] == 12
    assert _run_script(script, tmp_path, alpha=5)["score"] == 30
    proc = subprocess.run([sys.executable, str(script), "--alpha", "3"], cwd=tmp_path,
                          capture_output=True, text=True, check=True)
    assert "score 18" in proc.stdout
    imported = subprocess.run(  # importing the module defines the steps and computes nothing
        [sys.executable, "-c", IMPORT_ONLY, str(script)],
        cwd=tmp_path, capture_output=True, text=True, check=True)
    assert imported.stdout == ""
