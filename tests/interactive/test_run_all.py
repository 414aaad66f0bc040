"""Run All in a real kernel that knows its notebook as JupyterLab tells it (JPY_SESSION_NAME):
what each `%%step` cell shows the first and the second time, which bodies ran (a file they
append to), and how the runs are recorded."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from jupyter_mlpipe import Pipeline
from jupyter_mlpipe.store.history import History

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


class Kernel:
    """A real kernel in `cwd` told which notebook it runs, fed cells as Run All sends them."""

    def __init__(self, notebook: Path):
        from jupyter_client.manager import start_new_kernel

        env = {**os.environ, "JPY_SESSION_NAME": str(notebook)}
        self.km, self.kc = start_new_kernel(kernel_name="python3", cwd=str(notebook.parent),
                                            env=env)

    def cell(self, code: str) -> list[dict]:
        """Run one cell; its outputs as (type, text or mime types) records."""
        shown: list[dict] = []

        def hook(msg):
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                shown.append({"type": "stream", "text": content["text"]})
            elif kind in ("display_data", "execute_result"):
                shown.append({"type": "display", "data": content["data"]})
            elif kind == "error":
                shown.append({"type": "error", "text": "\n".join(content["traceback"])})

        self.kc.execute_interactive(code, output_hook=hook, timeout=120)
        return shown

    def run_all(self, cells: list[str]) -> list[list[dict]]:
        return [self.cell(c) for c in cells]

    def close(self):
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


def text(shown: list[dict]) -> str:
    return "".join(o["text"] for o in shown if o["type"] == "stream")


def mimes(shown: list[dict]) -> list[list[str]]:
    return [sorted(o["data"]) for o in shown if o["type"] == "display"]


PRELUDE = "import pandas as pd\nfrom IPython.display import display"
LOAD = ("%%step load --out raw\n"
        "open('ran.txt', 'a').write('load\\n')\n"
        "raw = pd.DataFrame({'x': [1, 2, 3]})\n"
        "print('rows', len(raw))\n"
        "raw.head()")
PLOT = ("%%step plot --in raw --out total\n"
        "open('ran.txt', 'a').write('plot\\n')\n"
        "display(raw.describe())\n"
        f"display({{'image/png': {PNG!r}}}, raw=True)  # as a matplotlib figure is shown\n"
        "import sys; print('careful', file=sys.stderr)\n"
        "total = int(raw.x.sum())")


@pytest.fixture
def notebook(make_nb):
    path = make_nb([PRELUDE, LOAD, PLOT], params="k = 1")
    kernel = Kernel(path)
    yield path, kernel
    kernel.close()


def cells(path: Path, params: str = "k = 1") -> list[str]:
    return ["%load_ext jupyter_mlpipe", params, PRELUDE, LOAD, PLOT]


def test_reused_cells_show_what_they_showed_when_they_ran(notebook):
    path, kernel = notebook
    first = kernel.run_all(cells(path))
    assert not [o for c in first for o in c if o["type"] == "error"], first
    time.sleep(1.5)
    second = kernel.run_all(cells(path))
    assert (path.parent / "ran.txt").read_text() == "load\nplot\n"  # no body ran twice
    for i, step in ((3, "load"), (4, "plot")):
        assert f"stored {step} (" in text(first[i]), first[i]
        assert text(second[i]).startswith(f"reused {step} (computed "), second[i]
        assert mimes(second[i]) == mimes(first[i]), (first[i], second[i])
    assert "rows 3" in text(second[3])
    assert ["text/html", "text/plain"] in mimes(second[3])  # raw.head(), the cell's last value
    assert mimes(second[4]) == [["text/html", "text/plain"], ["image/png"]]
    png = [o["data"]["image/png"] for o in second[4] if "image/png" in o.get("data", {})]
    assert png == [PNG]
    careful = [o for o in second[4] if o["type"] == "stream" and "careful" in o["text"]]
    assert careful  # stderr is shown again too


def test_a_mlpipe_run_result_shows_its_outputs_in_run_all(notebook, mlpipe_cli):
    path, kernel = notebook
    assert mlpipe_cli("run", path).returncode == 0
    shown = kernel.run_all(cells(path))
    assert (path.parent / "ran.txt").read_text() == "load\nplot\n"  # by the batch run only
    assert "rows 3" in text(shown[3]) and text(shown[3]).startswith("reused load")
    assert mimes(shown[4]) == [["text/html", "text/plain"], ["image/png"]]


def test_each_run_all_is_one_run_with_its_own_params_and_metrics(make_nb):
    step = ("%%step score --out s\n"
            "import jupyter_mlpipe as mlp\n"
            "s = k * 10\n"
            "mlp.log_metric('score', s)")
    path = make_nb([step, "%%step twice --in s --out t\nt = 2 * s"], params="k = 1")
    kernel = Kernel(path)
    try:
        for k in (1, 2, 3):
            # the user edits the parameters cell and runs all again, a while later
            shown = kernel.run_all(["%load_ext jupyter_mlpipe", f"k = {k}", step,
                                    "%%step twice --in s --out t\nt = 2 * s"])
            assert not [o for c in shown for o in c if o["type"] == "error"], shown
            time.sleep(1.5)
        kernel.cell("%%step twice --in s --out t\nt = 2 * s")  # one cell run: a run of its own
    finally:
        kernel.close()
    runs = Pipeline.from_notebook(path).runs()
    assert len(runs) == 4, runs
    history = History(path.parent / ".mlpipe")
    try:
        recorded = [history.run(r["run_id"]) for r in reversed(runs)]
    finally:
        history.close()
    assert [r["params"] for r in recorded] == [{"k": 1}, {"k": 2}, {"k": 3}, {"k": 3}]
    assert [[m["value"] for m in r["metrics"] if m["name"] == "score"] for r in recorded[:3]] \
        == [[10], [20], [30]]
    assert [len(r["steps"]) for r in recorded] == [2, 2, 2, 1]


def test_graph_widgets_follow_the_step_cells_of_a_run_all(notebook):
    path, kernel = notebook
    watch = ("import json\nseen = []\n"
             "w.observe(lambda change: seen.append(dict(change['new'])), names='states')")
    shown = kernel.run_all([
        "%load_ext jupyter_mlpipe", "k = 1", PRELUDE,
        f"from jupyter_mlpipe import Pipeline\nw = Pipeline.from_notebook({str(path)!r}).widget()",
        "%mlpipe graph", "g = _", watch, LOAD, PLOT])
    assert not [o for c in shown for o in c if o["type"] == "error"], shown
    states = kernel.cell("print(json.dumps([seen, g.states]))")
    seen, graph_states = json.loads(text(states))
    # each step was drawn running while its cell ran, then succeeded; %mlpipe graph's too
    assert [s["load"] for s in seen][:2] == ["running", "succeeded"], seen
    assert [s["plot"] for s in seen][-2:] == ["running", "succeeded"], seen
    assert graph_states == {"load": "succeeded", "plot": "succeeded"}
    time.sleep(1.5)
    kernel.run_all([LOAD, PLOT])
    states = kernel.cell("print(json.dumps(g.states))")
    assert json.loads(text(states)) == {"load": "reused", "plot": "reused"}


def test_mlpipe_graph_draws_a_broken_step_invalid(make_nb):
    # load -> train -> report, train with a mistyped option
    path = make_nb(["%%step load --out raw\nraw = [1, 2, 3]",
                    "%%step train --in raw --outt model\nmodel = sum(raw)",
                    "%%step report --in model\nprint(model)"])
    kernel = Kernel(path)
    try:
        shown = kernel.run_all(["%load_ext jupyter_mlpipe", "%mlpipe graph", "g = _",
                                "import json\nprint(json.dumps([g.states, g.caption]))"])
    finally:
        kernel.close()
    assert not [o for c in shown for o in c if o["type"] == "error"], shown
    states, caption = json.loads(text(shown[3]))
    assert states == {"load": "stale", "train": "invalid", "report": "stale"}
    assert "did you mean '--out'?" in caption, caption
