"""The sidebar panel in a real JupyterLab and a real Chromium: lists steps, runs the pipeline
live with progress, jumps to a step's cell on click, opens executed notebooks read-only, shows a
failure's traceback, opens, compares and charts runs, runs with parameters, folds runs that only
reused, fits big graphs, draws a notebook with a broken cell, cancels, runs a sweep and sorts its
points, lists a notebook's schedules, and the notebook widget draws the same graph. Two tests share one JupyterLab (module-scoped), each with its own page.
Runs against this checkout's build (jupyter_mlpipe/labextension, linked into a temporary
JUPYTER_DATA_DIR). Saves screenshots under test-artifacts/ (MLPIPE_UPDATE_SCREENSHOT=1 also
refreshes docs/panel.png and docs/run-view.png for the README).

# load -> left, right -> join   (tests/notebooks/panel_demo.ipynb)
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
import urllib.request
from pathlib import Path

import pytest

from jupyter_mlpipe.automation.schedule import add_schedule
from tests.helpers import NOTEBOOKS, write_notebook
from tests.labextension.lab import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, jupyter_lab

REPO = Path(__file__).resolve().parents[2]
PANEL = "#jp-mlpipe-panel"
# The shared workspace may restore other notebooks in hidden tabs, each with an active cell:
# every cell selector names the notebook in view.
CELL = ".jp-Notebook .jp-Cell"
ACTIVE_CELL = f"{CELL}.jp-mod-active:visible"
DONE = ("succeeded", "reused", "cached")

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason="needs Debian chromium: apt-get install -y chromium"),
]


WIDE = 15  # steps of wide.ipynb: load -> s1..s13 -> join




@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A `jupyter lab` subprocess serving the test notebooks; yields (url, token, root)."""
    tmp_path = tmp_path_factory.mktemp("lab")
    root = tmp_path / "root"
    root.mkdir()
    nb = json.loads((NOTEBOOKS / "panel_demo.ipynb").read_text())
    for cell in nb["cells"]:
        if "".join(cell["source"]).startswith("%%step join"):
            cell["source"] = "".join(cell["source"]) + (
                "\nfrom jupyter_mlpipe import log_metric\nlog_metric('total', total)")
    (root / "demo.ipynb").write_text(json.dumps(nb))
    write_notebook(root / "wide.ipynb", ["%%step load --out x\nx = 1"]
                   + [f"%%step s{i} --in x --out y{i}\ny{i} = x + {i}" for i in range(1, WIDE - 1)]
                   + [f"%%step join --in {' '.join(f'y{i}' for i in range(1, WIDE - 1))} --out z\n"
                      "z = 0"])
    write_notebook(root / "widget.ipynb", [
        "from jupyter_mlpipe import Pipeline\nPipeline.from_notebook('demo.ipynb').widget()"])
    write_notebook(root / "broken.ipynb", ["%%step load --out raw\nraw = 1",
                                           "%%step bad --in raw --out y\ny = (raw",
                                           "%%step after --in y --out z\nz = y"])
    write_notebook(root / "slow.ipynb",
                   ["%%step nap --out done\nimport time\ntime.sleep(120)\ndone = True"])
    write_notebook(root / "sweep.ipynb", [  # loss: a=1 1.1, a=2 0.2, a=3 1.3
        "%%step score --out loss\nfrom jupyter_mlpipe import log_metric\n"
        "loss = (a - 2) ** 2 + a / 10\nlog_metric('loss', loss)"], params="a = 1")
    add_schedule(root, root / "sweep.ipynb", every="1h")
    add_schedule(root, root / "sweep.ipynb", cron="0 6 * * *")
    add_schedule(root, root / "sweep.ipynb", on_change=["data.csv"])
    add_schedule(root, root / "wide.ipynb", every="2h")  # another notebook's: not listed
    with jupyter_lab(tmp_path, root) as served:
        yield served


def node_states(page) -> dict[str, str]:
    return page.eval_on_selector_all(
        f"{PANEL} g.jp-mlpipe-node",
        "els => Object.fromEntries(els.map(e => [e.dataset.step, e.dataset.status]))")


def outside_graph(page) -> list[str]:
    """Steps whose node is not wholly inside the panel's graph box (clipped or scrolled away)."""
    return page.evaluate(f"""() => {{
        const box = document.querySelector('{PANEL} .jp-mlpipe-graph').getBoundingClientRect();
        return [...document.querySelectorAll('{PANEL} g.jp-mlpipe-node')].filter(n => {{
            const r = n.getBoundingClientRect();
            return r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1
                || r.bottom > box.bottom + 1;
        }}).map(n => n.dataset.step);
    }}""")


def wait_status(page, step: str, status: str, timeout: int = 60_000) -> None:
    page.wait_for_function(
        f"""() => document.querySelector('{PANEL} g[data-step="{step}"]')
               ?.dataset.status === '{status}'""", timeout=timeout)


def open_notebook(page, path: str) -> None:
    page.evaluate(f"window.jupyterapp.commands.execute('docmanager:open', {{path: '{path}'}})")


def main_view(page, selector: str) -> str:
    page.wait_for_selector(f".jp-MainAreaWidget:not(.lm-mod-hidden) {selector}", timeout=30_000)
    return page.inner_text(f".jp-MainAreaWidget:not(.lm-mod-hidden) {selector}")


def check_first_look(page) -> None:
    """Legend, disabled Cancel, siblings in cell order, the whole graph in view."""
    assert node_states(page) == dict.fromkeys(["load", "left", "right", "join"], "stale")
    assert page.is_hidden(f"{PANEL} .jp-mlpipe-error")
    legend = page.inner_text(f"{PANEL} .jp-mlpipe-legend")
    for status in ("cached", "stale", "pending", "running", "succeeded", "reused", "failed"):
        assert status in legend
    assert page.is_disabled(f'{PANEL} button[data-action="cancel"]')
    x = {s: page.locator(f'{PANEL} g[data-step="{s}"]').bounding_box()["x"]
         for s in ("left", "right")}
    assert x["left"] < x["right"], x  # cell order: left's cell comes first
    assert outside_graph(page) == []
    assert page.is_visible(f"{PANEL} .jp-mlpipe-params")  # scale = 2 in the parameters cell


def run_all_live(page) -> None:
    """Run everything: states shown live with k/N progress; the greens stay after the run."""
    seen, progress = set(), set()
    page.click(f'{PANEL} button[data-action="run-all"]')
    end = time.time() + 120
    while time.time() < end:
        states = node_states(page)
        seen |= set(states.values())
        if page.is_visible(f"{PANEL} .jp-mlpipe-progress"):
            progress.add(page.inner_text(f"{PANEL} .jp-mlpipe-progress"))
        if all(s in DONE for s in states.values()) and len(states) == 4:
            break
        time.sleep(0.1)
    assert all(s in DONE for s in node_states(page).values()), node_states(page)
    assert seen & {"running", "pending"}, seen  # it was shown live
    assert any("/4 steps" in p for p in progress), progress
    page.wait_for_selector(f'{PANEL} .jp-mlpipe-runs li[data-state="succeeded"]',
                           timeout=30_000)
    page.wait_for_timeout(2000)  # the finished colours stay (they used to fade within 1 s)
    assert set(node_states(page).values()) == {"succeeded"}, node_states(page)
    assert "4/4 steps" in page.inner_text(f"{PANEL} .jp-mlpipe-progress")
    assert page.is_disabled(f'{PANEL} button[data-action="cancel"]')
    assert page.is_hidden(f"{PANEL} .jp-mlpipe-error")


def check_executed_notebook(page) -> None:
    """The executed notebook opens as a read-only notebook tab in JupyterLab, not a new page."""
    pages = len(page.context.pages)
    page.click(f'{PANEL} button[data-action="open-notebook"]')
    view = '.jp-MainAreaWidget:not(.lm-mod-hidden) .jp-mlpipe-executed-notebook[data-step="join"]'
    main_view(page, '.jp-mlpipe-executed-notebook[data-step="join"]')
    stdout = page.locator(f'{view} .jp-OutputArea-output'
                          '[data-mime-type="application/vnd.jupyter.stdout"]')
    stdout.first.wait_for(timeout=30_000)
    # the join step's body printed its total, 2 * (0+2+4+6+8) + 2 * (1+3+5+7+9), and it is the
    # only output: the injected cells print nothing
    assert [t.strip() for t in stdout.all_inner_texts()] == ["90"]
    assert len(page.context.pages) == pages
    editor = page.locator(".jp-mlpipe-executed-notebook .jp-Cell .cm-content").last
    editor.click()
    page.keyboard.type("zzz")
    assert "zzz" not in editor.inner_text()  # read-only: typing changes nothing
    tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")
    assert "read-only" in tab.inner_text()
    page.screenshot(path=str(ARTIFACTS / "executed_notebook.png"))
    open_notebook(page, "demo.ipynb")


def run_with_parameters(page) -> None:
    """The parameters form runs with scale = 3; the run view shows it; metrics are charted."""
    page.click(f"{PANEL} .jp-mlpipe-params summary")
    page.fill(f'{PANEL} .jp-mlpipe-params input[name="scale"]', "3")
    runs = page.locator(f"{PANEL} .jp-mlpipe-runs li").count()
    page.click(f'{PANEL} button[data-action="run-params"]')
    page.wait_for_function(
        f"""() => document.querySelectorAll('{PANEL} .jp-mlpipe-runs li[data-state="succeeded"]')
               .length > {runs}""", timeout=120_000)
    page.click(f"{PANEL} .jp-mlpipe-runs li >> nth=0")
    text = main_view(page, ".jp-mlpipe-run-view")
    assert "scale\t3" in text, text
    assert "total\t135" in text, text  # (0+2+...+9) * 3
    page.click(f'{PANEL} button[data-action="metrics"]')
    page.wait_for_selector('.jp-mlpipe-chart[data-metric="total"] circle >> nth=1')
    values = page.eval_on_selector_all('.jp-mlpipe-chart[data-metric="total"] circle',
                                       "els => els.map(e => Number(e.dataset.value))")
    assert values == [90, 90, 90, 135], values  # the two runs that only reused log 90 too
    page.screenshot(path=str(ARTIFACTS / "metrics.png"))
    open_notebook(page, "demo.ipynb")


def edit_and_fail(page) -> None:
    """Unsaved edits are hinted; once saved the step is stale; its failure shows the failing line
    and the executed notebook one click away."""
    page.click(f'{PANEL} g.jp-mlpipe-node[data-step="join"]')
    page.click(f"{ACTIVE_CELL} .cm-content")
    page.keyboard.press("Control+End")
    page.keyboard.type("\nraise ValueError('bad join')")
    page.wait_for_selector(f"{PANEL} .jp-mlpipe-dirty:not([hidden])", timeout=10_000)
    assert "Unsaved edits" in page.inner_text(f"{PANEL} .jp-mlpipe-dirty")
    page.keyboard.press("Control+s")
    wait_status(page, "join", "stale", 30_000)
    assert page.is_hidden(f"{PANEL} .jp-mlpipe-dirty")
    assert node_states(page)["load"] == "cached"  # the edit ended the last run's colours
    page.click(f'{PANEL} button[data-action="run-all"]')
    page.wait_for_selector(f'{PANEL} .jp-mlpipe-runs li[data-state="failed"]', timeout=120_000)
    wait_status(page, "join", "failed", 30_000)
    assert node_states(page) == {"load": "reused", "left": "reused", "right": "reused",
                                 "join": "failed"}
    error = page.inner_text(f"{PANEL} .jp-mlpipe-error")
    assert "join" in error and "ValueError" in error
    page.wait_for_selector(f"{PANEL} .jp-mlpipe-failure:not([hidden])", timeout=30_000)
    assert "ValueError: bad join" in page.inner_text(f"{PANEL} .jp-mlpipe-failure-head")
    assert "raise ValueError('bad join')" in page.inner_text(f"{PANEL} .jp-mlpipe-failure-line")
    # the failure is said once: the run's error line gives way to the step's box
    page.wait_for_selector(f"{PANEL} .jp-mlpipe-error", state="hidden", timeout=5_000)
    assert page.inner_text(PANEL).count("ValueError: bad join") == 1
    page.screenshot(path=str(ARTIFACTS / "panel_failed.png"))
    page.click(f'{PANEL} button[data-action="open-failed-notebook"]')
    assert "bad join" in main_view(page, '.jp-mlpipe-executed-notebook[data-step="join"]')
    open_notebook(page, "demo.ipynb")


def open_and_compare_runs(page) -> None:
    """A run row opens the run (steps, reused or executed, timeline); two ticked runs compare."""
    page.click(f'{PANEL} .jp-mlpipe-runs li[data-state="failed"] span')
    text = main_view(page, '.jp-mlpipe-run-view[data-state="failed"]')
    rows = page.eval_on_selector_all(
        ".jp-MainAreaWidget:not(.lm-mod-hidden) .jp-mlpipe-run-steps tbody tr",
        "rows => Object.fromEntries(rows.map(r => [r.cells[0].innerText,"
        " [r.cells[1].innerText, r.cells[3].innerText]]))")
    assert rows["join"] == ["failed", "executed"] and rows["load"][1] == "reused", rows
    assert page.locator(".jp-MainAreaWidget:not(.lm-mod-hidden) .jp-mlpipe-timeline "
                        'g[data-step="join"]').count() == 1, text
    page.screenshot(path=str(ARTIFACTS / "run-view.png"))
    runs = page.locator(f"{PANEL} .jp-mlpipe-runs li")
    runs.nth(0).locator("input").check()
    runs.nth(1).locator("input").check()
    page.click(f'{PANEL} button[data-action="compare"]')
    main_view(page, ".jp-mlpipe-compare-view")
    changes = page.eval_on_selector_all(
        ".jp-mlpipe-compare-steps tbody tr", "rows => rows.map(r => r.dataset.change)")
    # the failed run (scale 2, join edited) against the scale = 3 run: only load is the same
    assert changes == ["same", "changed", "changed", "changed"], changes
    params = page.inner_text(".jp-MainAreaWidget:not(.lm-mod-hidden) .jp-mlpipe-compare-params")
    assert "scale\t2\t3" in params, params
    page.screenshot(path=str(ARTIFACTS / "compare.png"))
    open_notebook(page, "demo.ipynb")


def check_wide_graph(page) -> None:
    """15 steps fit the default sidebar; zoomed in, the step of the active cell is brought in view;
    the sidebar narrows below 250 px."""
    open_notebook(page, "wide.ipynb")
    page.wait_for_selector(f'{PANEL} g.jp-mlpipe-node[data-step="s13"]', timeout=30_000)
    assert page.locator(f"{PANEL} g.jp-mlpipe-node").count() == WIDE
    assert outside_graph(page) == []
    for _ in range(4):
        page.click(f'{PANEL} button[data-action="zoom-in"]')
    assert "s13" in outside_graph(page)
    page.evaluate("""() => {
        const nb = window.jupyterapp.shell.currentWidget.content;
        nb.activeCellIndex = nb.widgets.findIndex(c => c.model.sharedModel.source
                                                  .startsWith('%%step s13'));
    }""")
    page.wait_for_function(f"""() => document.querySelector(
        '{PANEL} g[data-step="s13"]').classList.contains('jp-mod-selected')""")
    assert "s13" not in outside_graph(page)
    page.click(f'{PANEL} button[data-action="zoom-fit"]')
    assert outside_graph(page) == []
    handle = page.locator("#jp-main-split-panel > .lm-SplitPanel-handle").first.bounding_box()
    page.mouse.move(handle["x"] + 2, handle["y"] + 200)
    page.mouse.down()
    page.mouse.move(170, handle["y"] + 200, steps=5)
    page.mouse.up()
    width = page.locator(PANEL).bounding_box()["width"]
    assert width < 250, width
    page.screenshot(path=str(ARTIFACTS / "panel_narrow.png"))
    page.mouse.move(170, handle["y"] + 200)
    page.mouse.down()
    page.mouse.move(handle["x"] + 2, handle["y"] + 200, steps=5)
    page.mouse.up()


def check_cancel(page) -> None:
    """A long run can be cancelled from the panel: the run ends "cancelled"."""
    open_notebook(page, "slow.ipynb")
    page.wait_for_selector(f'{PANEL} g.jp-mlpipe-node[data-step="nap"]', timeout=30_000)
    page.click(f'{PANEL} button[data-action="run-all"]')
    wait_status(page, "nap", "running")
    assert not page.is_disabled(f'{PANEL} button[data-action="cancel"]')
    t0 = time.time()
    page.click(f'{PANEL} button[data-action="cancel"]')
    page.wait_for_selector(f'{PANEL} .jp-mlpipe-runs li[data-state="cancelled"]',
                           timeout=30_000)
    assert time.time() - t0 < 30  # not the 120 s the step would have slept
    page.wait_for_function(f"""() => document.querySelector(
        '{PANEL} button[data-action="cancel"]').disabled""", timeout=10_000)
    wait_status(page, "nap", "cancelled", 10_000)  # its own look, not a red "failed"
    assert "failed" not in page.inner_text(f"{PANEL} .jp-mlpipe-progress")
    assert page.is_hidden(f"{PANEL} .jp-mlpipe-error")


def check_schedules(page) -> None:
    """The palette command opens the notebook's schedules: kind, when, next time, last run."""
    page.evaluate("window.jupyterapp.commands.execute('jupyter-mlpipe:show-schedules')")
    page.wait_for_selector(f"{PANEL} .jp-mlpipe-schedules[open] tr[data-kind='cron']",
                           timeout=10_000)
    assert "Schedules (3)" in page.inner_text(f"{PANEL} .jp-mlpipe-schedules summary")
    rows = page.eval_on_selector_all(
        f"{PANEL} .jp-mlpipe-schedules tbody tr",
        "rows => rows.map(r => [r.dataset.status, ...[...r.cells].map(c => c.innerText)])")
    assert [r[:3] for r in rows] == [["never", "every", "every 1h"],
                                     ["never", "cron", "cron 0 6 * * *"],
                                     ["never", "on-change", "on change of data.csv"]], rows
    assert rows[2][3] == "when its inputs change" and rows[0][3] not in ("", "–"), rows
    assert all(r[4] == "never" for r in rows), rows
    assert page.evaluate("window.jupyterapp.commands.label("
                         "'jupyter-mlpipe:show-schedules')") == "Show Schedules"


def check_sweep(page) -> None:
    """Sweep mode: a = 1, 2, 3 runs three points; the table shows them when the sweep ends,
    and a click on the loss header sorts by it (again: the other way)."""
    page.evaluate(f"document.querySelector('{PANEL} .jp-mlpipe-params').open = true")
    page.check(f'{PANEL} .jp-mlpipe-params input[data-action="sweep-mode"]')
    page.fill(f'{PANEL} .jp-mlpipe-params input[name="a"]', "1, 2, 3")
    page.click(f'{PANEL} button[data-action="run-sweep"]')
    page.wait_for_selector(f'{PANEL} .jp-mlpipe-sweep[data-state="succeeded"] table',
                           timeout=90_000)
    assert "succeeded: 3 points" in page.inner_text(f"{PANEL} .jp-mlpipe-sweep-status")
    # the form was drawn again when the sweep ended: still in sweep mode, the values kept
    assert page.input_value(f'{PANEL} .jp-mlpipe-params input[name="a"]') == "1, 2, 3"

    def column() -> list[list[str]]:
        return page.eval_on_selector_all(
            f"{PANEL} .jp-mlpipe-sweep-points tbody tr",
            "rows => rows.map(r => [r.cells[0].innerText, r.dataset.status])")

    assert column() == [["1", "succeeded"], ["2", "succeeded"], ["3", "succeeded"]]
    page.click(f'{PANEL} .jp-mlpipe-sweep-points th[data-metric="loss"]')
    assert [a for a, _ in column()] == ["2", "1", "3"]
    page.click(f'{PANEL} .jp-mlpipe-sweep-points th[data-metric="loss"]')
    assert [a for a, _ in column()] == ["3", "1", "2"]
    assert "▼" in page.inner_text(f'{PANEL} .jp-mlpipe-sweep-points th[data-metric="loss"]')
    page.screenshot(path=str(ARTIFACTS / "panel_sweep.png"))
    # a point's row opens its run (a = 3 is the first row now)
    run_id = page.get_attribute(f"{PANEL} .jp-mlpipe-sweep-points tbody tr >> nth=0", "data-run-id")
    page.click(f"{PANEL} .jp-mlpipe-sweep-points tbody tr >> nth=0")
    assert "a\t3" in main_view(page, f'.jp-mlpipe-run-view[data-run-id="{run_id}"]')


def graph_states(lab, path: str) -> dict[str, str]:
    url, token, _ = lab
    with urllib.request.urlopen(f"{url}/mlpipe/api/graph?path={path}&token={token}") as r:
        return {s["name"]: s["status"] for s in json.load(r)["steps"]}


def check_widget(page, lab) -> None:
    """The notebook widget (pipe.widget()) draws the same graph with the same states, through
    the panel's renderer (anywidget)."""
    open_notebook(page, "widget.ipynb")
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget?.context?.path === 'widget.ipynb'"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session?.kernel",
        timeout=60_000)
    page.evaluate("window.jupyterapp.shell.currentWidget.sessionContext.ready.then("
                  "() => window.jupyterapp.commands.execute('notebook:run-all-cells'))")
    page.wait_for_selector('.jp-OutputArea svg.mlpipe-graph g[data-step="join"]',
                           timeout=60_000)
    widget = page.eval_on_selector_all(
        ".jp-OutputArea svg.mlpipe-graph g[data-step]",
        "els => Object.fromEntries(els.map(e => [e.dataset.step, e.dataset.status]))")
    assert widget == graph_states(lab, "demo.ipynb") and len(widget) == 4
    assert page.locator(".jp-OutputArea svg.mlpipe-graph path.jp-mlpipe-edge").count() == 4
    page.screenshot(path=str(ARTIFACTS / "widget.png"))
    # the panel follows the active notebook: this one has no steps
    assert page.inner_text(f"{PANEL} .jp-mlpipe-graph") == "No %%step cells in this notebook."
    assert page.inner_text(f"{PANEL} .jp-mlpipe-details") == ""


@contextlib.contextmanager
def lab_page(lab, notebook: str, name: str):
    """A Chromium page on JupyterLab with `notebook` open and the pipeline panel shown; its
    console goes to test-artifacts/, and a screenshot is taken if the test fails."""
    url, token, _ = lab
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 860})
        console = open(ARTIFACTS / f"{name}_console.log", "w")
        page.on("console", lambda m: console.write(f"{m.type}: {m.text}\n"))
        try:
            page.goto(f"{url}/lab/tree/{notebook}?token={token}")
            page.locator(f"{CELL}:visible").first.wait_for(timeout=60_000)
            # the panel may already be open (the workspace is shared): show it, never toggle it
            page.evaluate("window.jupyterapp.shell.activateById('jp-mlpipe-panel')")
            page.wait_for_selector(PANEL, state="visible", timeout=10_000)
            yield page
        except Exception:
            page.screenshot(path=str(ARTIFACTS / f"{name}_failure.png"))
            raise
        finally:
            browser.close()
            console.close()


def check_idle_runs_fold(page) -> None:
    """Two more runs that only reuse: one row with a +2 toggle, not three rows."""
    rows = page.locator(f"{PANEL} .jp-mlpipe-runs li:visible").count()
    for _ in range(2):
        done = page.locator(f"{PANEL} .jp-mlpipe-runs li").count() + 1
        page.evaluate("window.jupyterapp.commands.execute('jupyter-mlpipe:run-pipeline')")
        page.wait_for_function(f"""() => {{
            const rows = document.querySelectorAll('{PANEL} .jp-mlpipe-runs li');
            return rows.length >= {done} && rows[0].dataset.state === 'succeeded'
                && document.querySelector('{PANEL} button[data-action="cancel"]').disabled;
        }}""", timeout=60_000)
    toggle = page.locator(f'{PANEL} .jp-mlpipe-runs button[data-action="unfold-runs"]')
    assert toggle.inner_text() == "+1"  # the newest idle run shown, the other folded

    def shown(n: int) -> None:  # the list may be drawn again meanwhile: wait, don't count once
        page.wait_for_function(f"""() => [...document.querySelectorAll(
            '{PANEL} .jp-mlpipe-runs li')].filter(li => li.offsetParent !== null).length
            === {n}""", timeout=10_000)

    shown(rows + 1)
    toggle.click()
    shown(rows + 2)
    toggle.click()
    shown(rows + 1)


def check_broken_cell(page) -> None:
    """A syntax error in one step: the other steps are drawn, the broken one marked invalid."""
    open_notebook(page, "broken.ipynb")
    page.wait_for_selector(f'{PANEL} g.jp-mlpipe-node[data-step="after"]', timeout=30_000)
    assert node_states(page) == {"load": "stale", "bad": "invalid", "after": "stale"}
    error = page.inner_text(f"{PANEL} .jp-mlpipe-error")
    assert "cell 3, step 'bad'" in error, error  # as JupyterLab numbers cells


def test_panel_runs_inspects_and_compares(lab):
    """The demo notebook: first look, a live run, executed notebooks, parameters, a failure,
    run view, compare, metrics."""
    with lab_page(lab, "demo.ipynb", "panel_runs") as page:
        page.wait_for_selector(f'{PANEL} g.jp-mlpipe-node[data-step="join"]', timeout=30_000)
        check_first_look(page)
        run_all_live(page)
        check_idle_runs_fold(page)
        page.click(f'{PANEL} g.jp-mlpipe-node[data-step="right"]')
        active = page.wait_for_selector(ACTIVE_CELL)
        assert "%%step right" in active.inner_text()
        page.click(f'{PANEL} g.jp-mlpipe-node[data-step="join"]')
        page.wait_for_timeout(300)
        page.screenshot(path=str(ARTIFACTS / "panel.png"))
        check_executed_notebook(page)
        run_with_parameters(page)
        edit_and_fail(page)
        open_and_compare_runs(page)
        if os.environ.get("MLPIPE_UPDATE_SCREENSHOT"):  # refresh the README's pictures
            for name in ("panel.png", "run-view.png"):
                shutil.copy(ARTIFACTS / name, REPO / "docs" / name)
    assert (lab[2] / ".mlpipe" / "history.sqlite").exists()


def test_panel_big_broken_cancelled_and_the_widget(lab):
    """A wide graph fits, a broken cell hides nothing else, a run is cancelled, a sweep's points
    are tabled and sorted, schedules are listed, and the notebook widget draws the same graph
    with the panel's renderer."""
    with lab_page(lab, "wide.ipynb", "panel_more") as page:
        check_wide_graph(page)
        check_broken_cell(page)
        check_cancel(page)
        open_notebook(page, "sweep.ipynb")
        page.wait_for_selector(f'{PANEL} g.jp-mlpipe-node[data-step="score"]', timeout=30_000)
        check_schedules(page)
        check_sweep(page)
        check_widget(page, lab)
