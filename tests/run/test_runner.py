"""Batch runs with real kernels through papermill: reuse, early cutoff, failures, files."""
from __future__ import annotations

import threading
from pathlib import Path

import nbformat

from jupyter_mlpipe import Pipeline
from jupyter_mlpipe.models import StepState
from tests.helpers import replace_cell

# load -> left, right -> join
DIAMOND = [
    "import numpy as np\n\ndef scale(x):\n    return x * factor",
    "%%step load --out raw\nraw = np.arange(10)",
    "%%step left --in raw --out a\na = int(scale(raw).sum())",
    "%%step right --in raw --out b\nb = float(raw.mean())",
    "%%step join --in a b --out total\ntotal = a + b\nprint('total', total)",
]


def states(run):
    return {n: str(s.state) for n, s in run.steps.items()}


def no_executor(*args, **kwargs):
    raise AssertionError("a kernel was started although everything should be reused")


def test_cold_warm_and_leaf_edit(make_nb):
    path = make_nb(DIAMOND, params="factor = 2")
    pipe = Pipeline.from_notebook(path)
    run = pipe.run(jobs=2)
    assert run.ok, [s.error for s in run.failed]
    assert set(states(run).values()) == {"succeeded"}
    assert run.outputs("join")["total"] == 94.5
    executed = nbformat.read(run.steps["join"].notebook, as_version=4)
    assert any("total 94.5" in o.get("text", "") for c in executed.cells
               for o in c.get("outputs", []))
    assert Path(run.steps["join"].notebook).parent.name == run.run_id

    # warm: nothing changed, no kernel is started at all
    from jupyter_mlpipe.run.runner import run_pipeline

    again = run_pipeline(pipe.spec, executor_factory=no_executor)
    assert set(states(again).values()) == {"reused"}
    assert all(s.state is StepState.CACHED for s in pipe.status())

    # edit a leaf: only that step executes
    replace_cell(path, "%%step join", "%%step join --in a b --out total\ntotal = a - b")
    pipe = Pipeline.from_notebook(path)
    assert [s.reasons for s in pipe.status() if s.name == "join"] == [("body changed",)]
    run = pipe.run(jobs=2)
    assert states(run) == {"load": "reused", "left": "reused", "right": "reused",
                           "join": "succeeded"}
    assert run.outputs("join")["total"] == 85.5


def test_equal_output_does_not_invalidate_downstream(make_nb):
    path = make_nb(DIAMOND, params="factor = 2")
    assert Pipeline.from_notebook(path).run(jobs=2).ok
    # same value, computed differently: load re-runs, everything below is reused
    replace_cell(path, "%%step load", "%%step load --out raw\nraw = np.array(list(range(10)))")
    run = Pipeline.from_notebook(path).run(jobs=2)
    assert states(run) == {"load": "succeeded", "left": "reused", "right": "reused",
                           "join": "reused"}


def test_parameters_invalidate_only_their_readers(make_nb):
    path = make_nb(DIAMOND, params="factor = 2")
    pipe = Pipeline.from_notebook(path)
    assert pipe.run(jobs=2).ok
    status = {s.name: s for s in pipe.status(params={"factor": 3})}
    assert status["left"].reasons == ("parameter 'factor' changed (2 -> 3)",)
    assert status["right"].state is StepState.CACHED
    assert status["join"].reasons[0] == "upstream 'left' is stale"
    run = pipe.run(jobs=2, params={"factor": 3})
    assert states(run) == {"load": "reused", "left": "succeeded", "right": "reused",
                           "join": "succeeded"}
    assert run.outputs("left")["a"] == 135


def test_failure_skips_downstream_and_independent_branch_finishes(make_nb):
    path = make_nb([
        "%%step load --out raw\nraw = [1, 2, 3]",
        "%%step bad --in raw --out m\ndef inner(v):\n    return v / 0\nm = inner(raw[0])",
        "%%step after --in m\nprint(m)",
        "%%step good --in raw --out g\ng = sum(raw)",
    ])
    run = Pipeline.from_notebook(path).run(jobs=2)
    assert not run.ok
    assert states(run) == {"load": "succeeded", "bad": "failed", "after": "skipped",
                           "good": "succeeded"}
    bad = run.steps["bad"]
    assert "ZeroDivisionError" in bad.error and "division by zero" in bad.error
    assert "inner" in bad.traceback  # the cell's own traceback
    assert Path(bad.notebook).is_file() and bad.notebook in bad.error
    assert run.steps["after"].error == "upstream 'bad' failed"
    # nothing stored is lost: a fixed re-run executes only the failed part
    replace_cell(path, "%%step bad", "%%step bad --in raw --out m\nm = raw[0]")
    run = Pipeline.from_notebook(path).run(jobs=2)
    assert states(run) == {"load": "reused", "bad": "succeeded", "after": "succeeded",
                           "good": "reused"}


def test_fail_fast_stops_other_steps(make_nb):
    path = make_nb([
        "%%step bad --out x\nraise ValueError('nope')",
        "%%step slow --out y\nimport time\ntime.sleep(30)\ny = 1",
    ])
    run = Pipeline.from_notebook(path).run(jobs=2, fail_fast=True)
    assert states(run)["bad"] == "failed"
    assert states(run)["slow"] in ("failed", "skipped")
    assert run.finished - run.started < 25


def test_dead_kernel_is_reported(make_nb):
    path = make_nb(["%%step die --out x\nimport os\nos._exit(3)"])
    run = Pipeline.from_notebook(path).run(jobs=1)
    err = run.steps["die"].error
    assert "kernel died" in err and "exit" in err


def test_unpicklable_declared_output_names_variable(make_nb):
    path = make_nb(["%%step gen --out g\ng = (i for i in range(3))"])
    run = Pipeline.from_notebook(path).run(jobs=1)
    assert "output 'g'" in run.steps["gen"].error and "pickle" in run.steps["gen"].error


def test_writes_are_stored_and_restored(make_nb, tmp_path):
    path = make_nb([
        "%%step make --writes out/table.csv --out n\nimport os\nos.makedirs('out', exist_ok=True)\n"
        "open('out/table.csv', 'w').write('a,b\\n1,2\\n')\nn = 1",
        "%%step use --reads out/table.csv --out text\ntext = open('out/table.csv').read()",
    ])
    assert Pipeline.from_notebook(path).run(jobs=1).ok
    (tmp_path / "out" / "table.csv").unlink()
    run = Pipeline.from_notebook(path).run(jobs=1)
    assert states(run) == {"make": "reused", "use": "reused"}
    assert (tmp_path / "out" / "table.csv").read_text() == "a,b\n1,2\n"


def test_only_runs_the_step_and_what_it_needs(make_nb):
    path = make_nb(DIAMOND, params="factor = 2")
    run = Pipeline.from_notebook(path).run(jobs=2, only=["left"])
    assert states(run) == {"load": "succeeded", "left": "succeeded"}
    run = Pipeline.from_notebook(path).run(jobs=2, only=["left"], force=True)
    assert states(run) == {"load": "reused", "left": "succeeded"}


def test_mutating_an_input_in_place_fails_the_step_and_keeps_the_store(make_nb):
    path = make_nb([
        "%%step load --out raw\nraw = [1, 2, 3]",
        "%%step mutate --in raw --out n\nraw.append(4)\nn = len(raw)",
        "%%step other --in raw --out m\nm = len(raw)",
    ])
    run = Pipeline.from_notebook(path).run(jobs=1)
    assert str(run.steps["mutate"].state) == "failed"
    assert "changed its input 'raw' in place" in str(run.steps["mutate"].error)
    assert run.outputs("other")["m"] == 3 and run.outputs("load")["raw"] == [1, 2, 3]


def test_two_concurrent_runs_share_one_store(make_nb):
    path = make_nb(DIAMOND, params="factor = 2")
    results = []

    def go():
        results.append(Pipeline.from_notebook(path).run(jobs=1))

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.ok for r in results)
    assert {r.outputs("join")["total"] for r in results} == {94.5}
    status = Pipeline.from_notebook(path).status()
    assert all(s.state is StepState.CACHED for s in status)


def test_run_history_is_recorded(make_nb):
    path = make_nb(DIAMOND, params="factor = 2")
    pipe = Pipeline.from_notebook(path)
    first = pipe.run(jobs=2)
    pipe.run(jobs=2)
    runs = pipe.runs()
    assert [r["run_id"] for r in runs][-1] == first.run_id
    assert runs[0]["counts"] == {"reused": 4} and runs[1]["counts"] == {"succeeded": 4}
    assert runs[1]["params"] == {"factor": 2} and runs[0]["params"] == {"factor": 2}


def test_cancel_from_another_thread_stops_the_run(make_nb):
    path = make_nb(["%%step quick --out q\nq = 1",
                    "%%step slow --in q --out s\nimport time\ntime.sleep(60)\ns = 2",
                    "%%step after --in s --out t\nt = s"])
    cancel = threading.Event()
    seen = []

    def listener(run, step):
        seen.append((step.name, str(step.state)))
        if step.name == "slow" and step.state is StepState.RUNNING:
            threading.Timer(1.0, cancel.set).start()

    from jupyter_mlpipe.run.runner import run_pipeline

    run = run_pipeline(Pipeline.from_notebook(path).spec, jobs=1, cancel=cancel,
                       listener=listener, run_id="my-run-1")
    assert run.run_id == "my-run-1" and run.state == "cancelled"
    assert states(run) == {"quick": "succeeded", "slow": "cancelled", "after": "cancelled"}
    assert run.steps["slow"].error == "stopped: the run was cancelled"
    assert run.steps["after"].error == "not started: the run was cancelled"
    assert run.finished - run.started < 30
    assert ("slow", "cancelled") in seen  # listeners hear about it
    assert Pipeline.from_notebook(path).runs()[0]["state"] == "cancelled"


def test_a_notebook_without_steps_records_no_run(make_nb):
    path = make_nb(["x = 1"])
    run = Pipeline.from_notebook(path).run(jobs=1)
    assert run.state == "succeeded" and run.steps == {}
    assert Pipeline.from_notebook(path).runs() == []  # no "succeeded" row that did nothing
