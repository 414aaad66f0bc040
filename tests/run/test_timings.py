"""MLPIPE_TIMINGS=1: a run says when each phase ended (issue 24: where a leaf edit's time
goes); a plain `mlpipe run` spawns its kernel template first thing and uses it, and one that
does not fit the run's kernels is not left behind.

# a -> b
"""
from __future__ import annotations

import re

import pytest

from tests.helpers import write_notebook
from tests.kernels.test_template_teardown import templates, wait_until

pytestmark = pytest.mark.slow


def phases(stderr: str) -> list[str]:
    """The phases named: after the time since start, since the last mark, CPU, thread."""
    return [m.group(1).strip() for m in re.finditer(
        r"^\s+[\d.]+\s+\+\s*[\d.]+\s+[\d.]+\s+\S+\s+(.*)$", stderr, re.M)]


def test_a_run_prints_its_phases_in_order(tmp_path, mlpipe_cli):
    nb = write_notebook(tmp_path / "t.ipynb", ["import math",
                                               "%%step a --out x\nx = math.sqrt(4)",
                                               "%%step b --in x --out y\ny = x + 1"])
    r = mlpipe_cli("run", nb, env={"MLPIPE_TIMINGS": "1"})
    assert r.returncode == 0, r.stderr
    seen = list(dict.fromkeys(phases(r.stderr)))  # each kernel marks its own: the first
    order = ["kernel template spawned early", "notebook read and parsed",
             "prelude's imports sent to the template spawned early", "run planned",
             "kernel template ready (its imports done)", "kernel forked and connected",
             "warm-up cells run (parameters, prelude)", "step 'a' executed, its notebook written",
             "step 'a' succeeded: stored and recorded", "step 'b' succeeded: stored and recorded",
             "run done and recorded", "exit"]
    assert [p for p in seen if p in order] == [p for p in order if p in seen]
    assert set(order) <= set(seen), set(order) - set(seen)
    quiet = mlpipe_cli("run", nb, "--force")
    assert quiet.returncode == 0 and "mlpipe timings" not in quiet.stderr


def test_a_template_spawned_early_that_does_not_fit_is_closed(tmp_path, mlpipe_cli):
    # the step runs on another target (its own env): the early template is not the one
    (tmp_path / "mlpipe.toml").write_text('[targets.other]\nenv = { X = "1" }\n')
    nb = write_notebook(tmp_path / "t.ipynb", [
        "import os", "%%step a --out x --target other\nx = os.environ['X']"])
    r = mlpipe_cli("run", nb, env={"MLPIPE_TIMINGS": "1"}, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "kernel template spawned early" in r.stderr
    assert "prelude's imports sent to the template spawned early" not in r.stderr
    assert wait_until(lambda: not templates(tmp_path), 2.0)
    shown = mlpipe_cli("status", nb, cwd=tmp_path)
    assert "cached" in shown.stdout, shown.stdout


def test_a_large_notebook_gets_its_template_once_parsed(tmp_path, mlpipe_cli):
    # its JSON would be parsed twice: the template comes after the parse, still before planning
    big = "# " + "x" * 10_500_000  # a comment cell of 10.5 MB (a notebook with large outputs)
    nb = write_notebook(tmp_path / "t.ipynb", [big, "%%step a --out x\nx = 1"])
    r = mlpipe_cli("run", nb, env={"MLPIPE_TIMINGS": "1"})
    assert r.returncode == 0, r.stderr
    seen = phases(r.stderr)
    assert "kernel template spawned early" not in seen
    assert seen.index("notebook read and parsed") < seen.index("kernel template launched") \
        < seen.index("run planned")
