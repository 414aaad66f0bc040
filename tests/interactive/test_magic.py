"""%%step in a live IPython shell: reuse on a hit, run and store on a miss, sharing the
store with batch runs."""
from __future__ import annotations

import pytest
from tests.helpers_convert import ipython_shell

from jupyter_mlpipe import Pipeline

PRELUDE = "def double(x):\n    return 2 * x"
LOAD = "%%step load --out raw\nraw = [1, 2, 3]"
TOTAL = "%%step total --in raw --out t\nt = double(sum(raw))"


@pytest.fixture(scope="module")
def shell():
    return ipython_shell()


@pytest.fixture
def session(shell, make_nb, capsys):
    path = make_nb([PRELUDE, LOAD, TOTAL])
    shell.user_ns.clear()
    shell.run_line_magic("mlpipe", f"notebook {path}")
    shell.run_cell(PRELUDE)

    def cell(source):
        capsys.readouterr()
        result = shell.run_cell(source)
        return result, capsys.readouterr().out

    return path, cell


def test_miss_then_hit(shell, session):
    path, cell = session
    res, out = cell(LOAD)
    assert res.success and "reused" not in out
    cell(TOTAL)
    assert shell.user_ns["t"] == 12
    del shell.user_ns["t"]
    res, out = cell(TOTAL)
    assert out.startswith("reused total (computed ") and "s saved)" in out
    assert shell.user_ns["t"] == 12


def test_batch_results_are_reused_interactively(shell, session):
    path, cell = session
    assert Pipeline.from_notebook(path).run(jobs=1).ok
    _, out = cell(LOAD)
    assert "reused load" in out
    _, out = cell(TOTAL)
    assert "reused total" in out and shell.user_ns["t"] == 12


def test_interactive_results_are_reused_by_batch(shell, session):
    path, cell = session
    cell(LOAD)
    cell(TOTAL)
    run = Pipeline.from_notebook(path).run(jobs=1)
    assert {n: str(s.state) for n, s in run.steps.items()} == {"load": "reused",
                                                              "total": "reused"}


def test_input_mutated_in_place_is_not_mistaken_for_stored(shell, session):
    path, cell = session
    cell(LOAD)
    cell(TOTAL)
    shell.user_ns["raw"].append(10)
    _, out = cell(TOTAL)
    assert "reused" not in out and shell.user_ns["t"] == 32


def test_edited_unsaved_prelude_function_is_not_reused(shell, session):
    path, cell = session
    cell(LOAD)
    cell(TOTAL)
    shell.run_cell("def double(x):\n    return 3 * x")  # edited and re-run, not saved
    _, out = cell(TOTAL)
    assert "reused" not in out and shell.user_ns["t"] == 18


def test_bad_magic_line_is_one_clear_message(shell, session):
    path, cell = session
    res, out = cell("%%step load --outt raw\nraw = 1")
    assert not res.success
    assert "unrecognized arguments: --outt" in out


def test_mlpipe_graph_shows_the_widget_or_the_static_picture(shell, session):
    from jupyter_mlpipe.interactive.widget import PipelineWidget

    path, cell = session
    widget = shell.run_line_magic("mlpipe", "graph")
    assert isinstance(widget, PipelineWidget) and widget.states == {"load": "stale",
                                                                   "total": "stale"}
    static = shell.run_line_magic("mlpipe", "graph --static")
    assert isinstance(static, Pipeline) and "text/plain" in static._repr_mimebundle_()


def test_bad_option_shows_the_magic_as_typed(shell, session):
    path, cell = session
    res, out = cell("%%step load --bogus raw\nraw = 1")
    assert "bad %%step line '%%step load --bogus raw'" in out and "%%%%" not in out
    help_text = shell.find_cell_magic("step").__doc__
    assert "usage: %%step" in help_text and "%%%%" not in help_text


def test_missing_input_says_which_step_to_run(shell, session):
    path, cell = session
    res, out = cell(TOTAL)
    assert not res.success and "run step 'load' first" in out


def test_interactive_and_batch_entries_have_one_shape(shell, session):
    path, cell = session
    cell(LOAD)
    store = Pipeline.from_notebook(path).store
    (_, interactive), = list(store.iter_entries())
    assert interactive["body_seconds"] is not None
    assert interactive["exec_seconds"] == interactive["body_seconds"]
    assert Pipeline.from_notebook(path).run(jobs=1, only=["total"]).ok
    batch = next(e for _, e in store.iter_entries() if e["step"] == "total")
    assert set(batch) == set(interactive)
    assert batch["entry_version"] == interactive["entry_version"]


def test_a_run_all_is_one_interactive_run(shell, session, monkeypatch):
    # prelude, load, total back to back (as "Run All" sends them): one run of two steps;
    # a cell run after the kernel was idle longer than BURST_GAP starts another run
    from jupyter_mlpipe.interactive import cell as interactive
    from jupyter_mlpipe.store.history import History

    path, cell = session
    cell(PRELUDE)
    cell(LOAD)
    cell(TOTAL)
    monkeypatch.setattr(interactive, "BURST_GAP", 0.0)
    cell(TOTAL)
    history = History(Pipeline.from_notebook(path).store.home)
    runs = history.runs(str(path))
    assert [r["kind"] for r in runs] == ["interactive", "interactive"]
    assert runs[0]["counts"] == {"reused": 1}
    assert runs[1]["counts"] == {"succeeded": 2} and runs[1]["state"] == "succeeded"
    history.close()


def test_an_undeclared_read_is_one_line_once(shell, make_nb, capsys):
    path = make_nb(["%%step load --out raw\nraw = 1", "%%step other --out q\nq = 2",
                    "%%step train --in q --out m\nm = raw + q"], name="undeclared.ipynb")
    shell.user_ns.clear()
    shell.run_line_magic("mlpipe", f"notebook {path}")
    for source in ("%%step load --out raw\nraw = 1", "%%step other --out q\nq = 2",
                   "%%step train --in q --out m\nm = raw + q"):
        shell.run_cell(source)
    shell.run_cell("%%step train --in q --out m\nm = raw + q")
    out = capsys.readouterr()
    assert (out.out + out.err).count("reads 'raw', produced by step 'load'") == 1
    assert "UserWarning" not in out.out + out.err
    assert "warning: step 'train' (cell 4) reads 'raw'" in out.out  # as JupyterLab numbers it


def test_a_deleted_history_is_recreated_for_the_next_cell(shell, session):
    # the kernel keeps its history connection open between cells: a store removed meanwhile
    # must not swallow the next runs
    import shutil

    from jupyter_mlpipe.store.history import History

    path, cell = session
    cell(LOAD)
    home = path.parent / ".mlpipe"
    shutil.rmtree(home)
    res, out = cell(LOAD)
    assert res.success and "reused" not in out  # the store went with it: computed again
    history = History(home)
    try:
        runs = history.runs(str(path))
    finally:
        history.close()
    assert len(runs) == 1 and runs[0]["counts"] == {"succeeded": 1}
