"""The main-area pipeline view and the runs table in a real JupyterLab and a real Chromium:
a readable graph at 15 and 60 steps, reused marked apart from executed, a clicked node's outputs,
a running step's live log, the runs table (sort, filter, compare, re-run), charts, dark theme.
One JupyterLab for the module; each test its own page, so one failure hides nothing else.
Screenshots go to test-artifacts/view_*.png.

# data -> model   (view.ipynb: data makes a DataFrame, an array, a scalar; model reads k)
"""
from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

import pytest

from jupyter_mlpipe import Pipeline
from tests.helpers import write_notebook
from tests.labextension.lab import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, jupyter_lab

VIEW = ".jp-MainAreaWidget:not(.lm-mod-hidden) .jp-mlpipe-pview"
TABLE = ".jp-MainAreaWidget:not(.lm-mod-hidden) .jp-mlpipe-runs-table-view"
PANEL = "#jp-mlpipe-panel"
PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5"
       "ErkJggg==")

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason="needs Debian chromium: apt-get install -y chromium"),
]



def _notebooks(root: Path) -> None:
    write_notebook(root / "view.ipynb", [
        "%%step data --out frame arr n\nimport numpy as np, pandas as pd\n"
        "frame = pd.DataFrame({'a': range(1000), 'b': ['x'] * 1000})\n"
        "arr = np.arange(12, dtype='float32').reshape(3, 4)\nn = 7",
        "%%step model --in frame arr n --out score\nfrom jupyter_mlpipe import log_metric\n"
        "import base64\nfrom IPython.display import Image, display\nprint('rows', len(frame))\n"
        f"display(Image(data=base64.b64decode({PNG!r})))\n"
        "for i in range(4):\n    log_metric('loss', 1.0 / (i + 1), step=i)\n"
        "score = 0.98\nlog_metric('score', score)\nlog_metric('size', float(n * k))"],
        params="k = 1")
    write_notebook(root / "wide.ipynb", ["%%step load --out x\nx = 1"]
                   + [f"%%step s{i} --in x --out y{i}\ny{i} = x + {i}" for i in range(1, 14)]
                   + ["%%step join --in " + " ".join(f"y{i}" for i in range(1, 14))
                      + " --out z\nz = 0"])
    cells = []  # 60 steps: 6 branches of 9 from one source, joined by 5 merges
    cells.append("%%step source --out s0\ns0 = 1")
    for b in range(6):
        prev = "s0"
        for i in range(9):
            name = f"branch{b}_stage{i}"
            cells.append(f"%%step {name} --in {prev} --out v{b}_{i}\nv{b}_{i} = {prev} + 1")
            prev = f"v{b}_{i}"
    for m in range(5):
        ins = f"v{m}_8 v{m + 1}_8" if m == 0 else f"m{m - 1} v{m + 1}_8"
        cells.append(f"%%step merge{m} --in {ins} --out m{m}\nm{m} = 0")
    assert len(cells) == 60
    write_notebook(root / "big.ipynb", cells)
    write_notebook(root / "reuse.ipynb", [
        "%%step prepare --out rows\nrows = list(range(100))",
        "%%step fit --in rows --out w\nw = sum(rows) * k"], params="k = 1")
    write_notebook(root / "form.ipynb", [  # a run waits while `hold` exists
        "%%step prep --out v\nimport os, time\nwhile os.path.exists('hold'):\n"
        "    time.sleep(0.1)\nv = k * 2"], params="k = 1")
    write_notebook(root / "live.ipynb", [
        "%%step train --out done\nimport os, time\nprint('epoch 1 loss 0.5', flush=True)\n"
        "while not os.path.exists('go'):\n    time.sleep(0.1)\nprint('epoch 2 loss 0.25')\n"
        "done = True"])


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """`jupyter lab` over the view notebooks, view.ipynb run with k = 1 and k = 2 first."""
    tmp = tmp_path_factory.mktemp("viewlab")
    root = tmp / "root"
    root.mkdir()
    _notebooks(root)
    secret = str(tmp / "secret")  # one signing key for these runs and the lab's, never the user's
    saved = {k: os.environ.pop(k, None) for k in ("MLPIPE_HOME", "MLPIPE_SECRET_FILE")}
    os.environ["MLPIPE_SECRET_FILE"] = secret
    try:
        for k in (1, 2):
            assert Pipeline.from_notebook(root / "view.ipynb").run(jobs=1, params={"k": k}).ok
        for k in (1, "x"):  # 'x' * 2 runs; the notebook's k is an int, so 'x' is a bad value now
            assert Pipeline.from_notebook(root / "form.ipynb").run(jobs=1, params={"k": k}).ok
    finally:
        for name, value in saved.items():
            os.environ.pop(name, None)
            if value is not None:
                os.environ[name] = value
    with jupyter_lab(tmp, root, {"MLPIPE_SECRET_FILE": secret}, "view_lab.log") as served:
        yield served


@contextlib.contextmanager
def page_on(lab, notebook: str, name: str, theme: str = "JupyterLab Light"):
    """A Chromium page with `notebook` open and the pipeline view opened from the palette's
    command; a screenshot if the test fails."""
    url, token, _ = lab
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 900})
        console = open(ARTIFACTS / f"view_{name}_console.log", "w")
        page.on("console", lambda m: console.write(f"{m.type}: {m.text}\n"))
        try:
            # a workspace of its own: no tabs restored from another test's page
            page.goto(f"{url}/lab/workspaces/{name}/tree/{notebook}?token={token}")
            page.locator(".jp-Notebook .jp-Cell:visible").first.wait_for(timeout=60_000)
            page.evaluate(f"window.jupyterapp.commands.execute('apputils:change-theme', "
                          f"{{theme: '{theme}'}})")
            page.wait_for_function(f"document.body.dataset.jpThemeName === '{theme}'",
                                   timeout=20_000)
            show_view(page, notebook)
            yield page
        except Exception:
            page.screenshot(path=str(ARTIFACTS / f"view_{name}_failure.png"))
            raise
        finally:
            browser.close()
            console.close()


def show_view(page, notebook: str) -> None:
    """Bring the pipeline view forward once it follows `notebook` (the shared workspace may
    restore other tabs, and the notebook in the URL activates itself when it has loaded)."""
    page.wait_for_function(f"""() => window.jupyterapp.shell.currentWidget?.context?.path
        === '{notebook}'""", timeout=30_000)
    page.wait_for_function(f"document.querySelector('{PANEL} .jp-mlpipe-path')?.textContent"
                           f" === '{notebook}'", timeout=30_000)
    command(page, "jupyter-mlpipe:open-pipeline-view")
    page.wait_for_function(f"document.querySelector('{VIEW} .jp-mlpipe-path')?.textContent"
                           f" === '{notebook}'", timeout=30_000)
    page.wait_for_selector(f"{VIEW} g.jp-mlpipe-node", timeout=30_000)


def command(page, cmd: str, args: dict | None = None) -> None:
    page.evaluate(f"window.jupyterapp.commands.execute('{cmd}', {json.dumps(args or {})})")


def open_notebook(page, path: str) -> None:
    command(page, "docmanager:open", {"path": path})


def states(page) -> dict[str, str]:
    return page.eval_on_selector_all(
        f"{VIEW} g.jp-mlpipe-node",
        "els => Object.fromEntries(els.map(e => [e.dataset.step, e.dataset.status]))")


def label_heights(page) -> list[float]:
    """On-screen heights of the node labels, in CSS pixels."""
    return page.eval_on_selector_all(
        f"{VIEW} g.jp-mlpipe-node text:not(.jp-mlpipe-node-icon)",
        "els => els.map(e => e.getBoundingClientRect().height)")


def contrast(page, selector: str) -> float:
    """WCAG contrast of the element's text colour against the view's background."""
    return page.evaluate("""sel => {
        const lum = c => { const [r, g, b] = c.match(/[\\d.]+/g).slice(0, 3).map(Number)
            .map(v => v / 255).map(v => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
            return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
        const el = document.querySelector(sel);
        if (!el) throw new Error('nothing matches ' + sel);
        let bg = null;
        for (let n = el; n && !bg; n = n.parentElement) {
            const c = getComputedStyle(n).backgroundColor;
            if (c && !c.startsWith('rgba(0, 0, 0, 0)') && c !== 'transparent') bg = c; }
        const [a, b] = [lum(getComputedStyle(el).color), lum(bg)];
        return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05); }""", selector)


def test_graph_is_readable_at_15_and_60_steps(lab):
    with page_on(lab, "wide.ipynb", "graph") as page:
        assert len(states(page)) == 15
        assert min(label_heights(page)) >= 11  # 12 px labels, not shrunk to fit
        page.screenshot(path=str(ARTIFACTS / "view_15_steps.png"))
        open_notebook(page, "big.ipynb")
        show_view(page, "big.ipynb")  # the view follows the notebook
        page.wait_for_function(f"document.querySelectorAll('{VIEW} g.jp-mlpipe-node').length"
                               " === 60", timeout=30_000)
        assert min(label_heights(page)) >= 10.5
        graph = f"{VIEW} .jp-mlpipe-pview-graph"
        assert page.eval_on_selector(graph, "b => b.scrollHeight > b.clientHeight + 10 || "
                                            "b.scrollWidth > b.clientWidth + 10")
        assert page.is_visible(f"{VIEW} .jp-mlpipe-minimap")  # the whole graph, small
        before = float(page.get_attribute(f"{graph} svg", "data-zoom"))
        page.click(f'{VIEW} button[data-action="zoom-in"]')
        assert float(page.get_attribute(f"{graph} svg", "data-zoom")) > before
        page.click(f'{VIEW} button[data-action="zoom-fit"]')
        box = page.locator(graph).bounding_box()
        svg = page.locator(f"{graph} svg").bounding_box()
        assert svg["height"] <= box["height"] + 1 and svg["width"] <= box["width"] + 1
        page.click(f'{VIEW} button[data-action="zoom-reset"]')
        # scrolling reaches the last merge, and a click there selects it
        page.locator(f'{VIEW} g.jp-mlpipe-node[data-step="merge4"]').scroll_into_view_if_needed()
        page.click(f'{VIEW} g.jp-mlpipe-node[data-step="merge4"]')
        page.wait_for_selector(f'{VIEW} .jp-mlpipe-step-details[data-step="merge4"]')
        assert "never run" in page.inner_text(f"{VIEW} .jp-mlpipe-why")
        page.screenshot(path=str(ARTIFACTS / "view_60_steps.png"))


def test_opened_from_the_sidebar_and_a_node(lab):
    with page_on(lab, "view.ipynb", "open") as page:
        page.evaluate("""() => { for (const w of window.jupyterapp.shell.widgets('main'))
            if (w.id === 'jp-mlpipe-pipeline-view') w.close(); }""")
        page.wait_for_selector(VIEW, state="detached")
        open_notebook(page, "view.ipynb")
        page.evaluate("window.jupyterapp.shell.activateById('jp-mlpipe-panel')")
        page.wait_for_selector(f'{PANEL} g.jp-mlpipe-node[data-step="model"]', timeout=30_000)
        page.click(f'{PANEL} button[data-action="open-view"]')
        page.wait_for_selector(f"{VIEW} g.jp-mlpipe-node", timeout=10_000)
        open_notebook(page, "view.ipynb")
        page.dblclick(f'{PANEL} g.jp-mlpipe-node[data-step="data"]')
        page.wait_for_selector(f'{VIEW} .jp-mlpipe-step-details[data-step="data"]',
                               timeout=10_000)


def test_reused_is_marked_apart_from_executed(lab):
    with page_on(lab, "reuse.ipynb", "reuse") as page:
        # a first run with k = 0 stores both steps; then the notebook's k = 1 reuses `prepare`
        command(page, "jupyter-mlpipe:run-with-parameters", {"params": {"k": 0}})
        page.wait_for_function(f"""() => [...document.querySelectorAll('{VIEW} g.jp-mlpipe-node')]
            .every(n => n.dataset.status === 'succeeded')""", timeout=120_000)
        page.wait_for_function(f"document.querySelector('{VIEW} button[data-action=cancel]')"
                               ".disabled", timeout=30_000)
        page.click(f'{VIEW} button[data-action="run-all"]')
        page.wait_for_function(f"""() => {{
            const s = [...document.querySelectorAll('{VIEW} g.jp-mlpipe-node')]
                .map(n => n.dataset.status).sort().join(',');
            return s === 'reused,succeeded'; }}""", timeout=120_000)
        page.wait_for_timeout(1500)  # the run's colours stay after it ended
        assert states(page) == {"prepare": "reused", "fit": "succeeded"}
        fill = page.eval_on_selector_all(
            f"{VIEW} g.jp-mlpipe-node rect",
            "els => Object.fromEntries(els.map(r => [r.parentElement.dataset.step,"
            " getComputedStyle(r).fill]))")
        assert fill["prepare"] != fill["fit"], fill
        icons = page.eval_on_selector_all(
            f"{VIEW} g.jp-mlpipe-node", "els => Object.fromEntries(els.map(n => [n.dataset.step,"
            " n.querySelector('.jp-mlpipe-node-icon').textContent]))")
        assert icons == {"prepare": "♻", "fit": "✓"}
        legend = page.inner_text(f"{VIEW} .jp-mlpipe-pview-legend")
        assert "♻ reused" in legend and "✓ executed" in legend
        sidebar = page.eval_on_selector_all(
            f"{PANEL} g.jp-mlpipe-node", "els => els.map(n => n.dataset.status).sort()")
        assert sidebar == ["reused", "succeeded"]
        page.screenshot(path=str(ARTIFACTS / "view_reused.png"))


def test_a_clicked_node_shows_its_outputs(lab):
    with page_on(lab, "view.ipynb", "outputs") as page:
        page.click(f'{VIEW} g.jp-mlpipe-node[data-step="data"]')
        frame = f'{VIEW} .jp-mlpipe-output[data-output="frame"]'
        page.wait_for_selector(frame, timeout=30_000)
        assert "1,000 × 2" in page.inner_text(f"{frame} .jp-mlpipe-output-type")
        rows = page.eval_on_selector_all(f"{frame} tbody tr", "trs => trs.map(tr =>"
                                         " [...tr.cells].map(c => c.textContent))")
        assert rows[0] == ["dtype", "int64", rows[0][2]] and rows[0][2] in ("object", "str")
        assert rows[1:] == [[str(i), str(i), "x"] for i in range(5)]
        arr = page.inner_text(f'{VIEW} .jp-mlpipe-output[data-output="arr"]')
        assert "float32 · 3 × 4" in arr and "5.5" in arr  # shape, dtype, mean
        assert "int = 7" in page.inner_text(f'{VIEW} .jp-mlpipe-output[data-output="n"]')
        assert "Reused in run" in page.inner_text(f"{VIEW} .jp-mlpipe-from") or \
            "Executed in run" in page.inner_text(f"{VIEW} .jp-mlpipe-from")
        page.screenshot(path=str(ARTIFACTS / "view_outputs_data.png"))
        page.click(f'{VIEW} g.jp-mlpipe-node[data-step="model"]')
        page.wait_for_selector(f"{VIEW} .jp-mlpipe-stdout", timeout=30_000)
        assert page.inner_text(f"{VIEW} .jp-mlpipe-stdout").strip() == "rows 1000"
        assert page.locator(f"{VIEW} img.jp-mlpipe-figure").count() == 1
        metrics = page.inner_text(f"{VIEW} .jp-mlpipe-step-metrics")
        assert "score\t0.98" in metrics, metrics
        # the notebook says k = 1: the result the next run reuses (size 7), not the latest (14)
        assert "size\t7" in metrics, metrics
        curve = f'{VIEW} .jp-mlpipe-chart[data-metric="loss"]'
        assert page.locator(f"{curve} circle").count() == 4  # log_metric(..., step=0..3)
        assert page.locator(f"{curve} .jp-mlpipe-axis-label").first.text_content() == "step"
        page.screenshot(path=str(ARTIFACTS / "view_outputs_model.png"))
        page.click(f'{VIEW} a[data-action="open-executed"]')
        nb = ".jp-MainAreaWidget:not(.lm-mod-hidden) .jp-mlpipe-executed-notebook"
        page.wait_for_selector(f"{nb} .jp-Cell", timeout=30_000)
        sources = page.eval_on_selector_all(f"{nb} .jp-Cell .cm-content",
                                            "els => els.map(e => e.textContent)")
        assert not any("_mlpipe_kernel" in s for s in sources), sources  # no load/save cells
        assert page.locator(f"{nb} .jp-mlpipe-step-cell").count() == 1


def test_live_log_of_a_running_step(lab):
    root = lab[2]
    with page_on(lab, "live.ipynb", "live") as page:
        page.click(f'{VIEW} button[data-action="run-all"]')
        log = f"{VIEW} .jp-mlpipe-live-log"
        # nothing selected: the pane shows the log of the step running now
        page.wait_for_function(f"document.querySelector('{log}')?.textContent"
                               ".includes('epoch 1')", timeout=90_000)
        assert states(page)["train"] == "running"
        page.click(f'{VIEW} g.jp-mlpipe-node[data-step="train"]')
        page.wait_for_selector(f'{VIEW} .jp-mlpipe-step-details[data-step="train"] '
                               '.jp-mlpipe-live-log')
        assert page.inner_text(log).strip() == "epoch 1 loss 0.5"
        assert "Live log" in page.inner_text(f"{VIEW} .jp-mlpipe-log-box h4")
        page.screenshot(path=str(ARTIFACTS / "view_live_log.png"))
        (root / "go").write_text("")
        page.wait_for_function(f"document.querySelector('{log}')?.textContent"
                               ".includes('epoch 2')", timeout=60_000)
        assert page.inner_text(log).splitlines() == ["epoch 1 loss 0.5", "epoch 2 loss 0.25"]
        page.wait_for_function(f"""document.querySelector('{VIEW} g[data-step="train"]')
            .dataset.status === 'succeeded'""", timeout=60_000)


def test_runs_table_sorts_filters_compares_and_reruns(lab):
    with page_on(lab, "view.ipynb", "table") as page:
        page.click(f'{VIEW} button[data-action="runs-table"]')
        page.wait_for_selector(f"{TABLE} .jp-mlpipe-runs-table tbody tr", timeout=30_000)
        heads = page.eval_on_selector_all(f"{TABLE} th[data-column]",
                                          "ths => ths.map(t => t.dataset.column)")
        for col in ("state", "trigger", "started", "duration", "param:k", "metric:score",
                    "metric:size"):
            assert col in heads, heads

        def column(c: str) -> list[str]:
            return page.eval_on_selector_all(f'{TABLE} tbody td[data-column="{c}"]',
                                             "tds => tds.map(t => t.textContent)")

        page.click(f'{TABLE} th[data-column="metric:size"]')  # metrics sort high first
        sizes = [float(v) for v in column("metric:size")]
        assert sizes == sorted(sizes, reverse=True) and len(sizes) >= 2
        page.click(f'{TABLE} th[data-column="metric:size"]')
        assert [float(v) for v in column("metric:size")] == sorted(sizes)
        page.fill(f"{TABLE} .jp-mlpipe-filter", "k=2")
        assert column("param:k") == ["2"]
        page.fill(f"{TABLE} .jp-mlpipe-filter", "")
        boxes = page.locator(f"{TABLE} tbody input[type=checkbox]")
        boxes.nth(0).check()
        boxes.nth(1).check()
        diff = page.eval_on_selector_all(f"{TABLE} td.jp-mlpipe-diff",
                                         "tds => tds.map(t => t.dataset.column)")
        assert set(diff) == {"param:k", "metric:size"}, diff  # score is 0.98 in both
        assert "0.98" in column("metric:score")  # a person's number, not 0.980000
        page.screenshot(path=str(ARTIFACTS / "view_runs_table.png"))
        chart = f'{TABLE} .jp-mlpipe-chart[data-metric="score per run"]'
        ticks = [float(t) for t in page.eval_on_selector_all(
            f'{chart} text[data-axis="y"]', "ts => ts.map(t => t.textContent)")]
        assert 0.9 <= min(ticks) < 0.98 < max(ticks) <= 1.06, ticks  # not -0.02 .. 1.98
        assert page.locator(f'{TABLE} .jp-mlpipe-chart[data-metric="size against k"]').count()
        page.click(f'{TABLE} button[data-action="compare"]')
        page.wait_for_selector(".jp-MainAreaWidget:not(.lm-mod-hidden) .jp-mlpipe-compare-view "
                               "tr[data-differs='true']", timeout=30_000)
        page.click(".lm-TabBar-tab:has-text('Runs:')")
        runs = len(column("run"))
        k_of_first = column("param:k")[0]
        page.click(f'{TABLE} tbody tr >> nth=0 >> button[data-action="rerun"]')
        page.wait_for_timeout(500)
        end = time.time() + 120
        while time.time() < end:
            page.click(f'{TABLE} button[data-action="reload"]')
            page.wait_for_timeout(1000)
            if len(column("run")) > runs and "running" not in column("state"):
                break
        page.click(f'{TABLE} th[data-column="started"]')  # newest first
        assert column("param:k")[0] == k_of_first
        assert column("state")[0] == "succeeded", page.inner_text(PANEL)


def test_dark_theme_is_readable(lab):
    with page_on(lab, "view.ipynb", "dark", theme="JupyterLab Dark") as page:
        page.click(f'{VIEW} g.jp-mlpipe-node[data-step="model"]')
        page.wait_for_selector(f"{VIEW} .jp-mlpipe-stdout", timeout=30_000)
        for sel in (f"{VIEW} .jp-mlpipe-step-details h3", f"{VIEW} .jp-mlpipe-from",
                    f"{VIEW} .jp-mlpipe-stdout", f"{VIEW} a.jp-mlpipe-link",
                    f"{VIEW} .jp-mlpipe-pview-legend span[data-status='reused']",
                    f"{VIEW} .jp-mlpipe-output-type"):
            page.wait_for_selector(sel)
            page.wait_for_timeout(300)  # the pane may be drawn again as outputs arrive
            assert contrast(page, sel) >= 4.5, sel
        page.screenshot(path=str(ARTIFACTS / "view_dark.png"))
        command(page, "apputils:change-theme", {"theme": "JupyterLab Light"})


def panel_form(page):
    """The sidebar shown, its Parameters section open; returns the form's selector."""
    page.evaluate("window.jupyterapp.shell.activateById('jp-mlpipe-panel')")
    page.wait_for_selector(f"{PANEL} .jp-mlpipe-params summary", state="visible", timeout=30_000)
    if not page.eval_on_selector(f"{PANEL} details.jp-mlpipe-params", "d => d.open"):
        page.click(f"{PANEL} .jp-mlpipe-params summary")
    return f"{PANEL} form.jp-mlpipe-params-form"


def below(page, field: str, line: str) -> float:
    """How far under `field`'s bottom edge `line` starts (CSS px); it must be visible."""
    a, b = page.locator(field).bounding_box(), page.locator(line).bounding_box()
    assert a and b, (field, line)
    return b["y"] - (a["y"] + a["height"])


def run_count(lab, notebook: str) -> int:
    return len(Pipeline.from_notebook(lab[2] / notebook).runs(limit=1000))


def test_form_errors_are_said_next_to_the_form(lab):
    root = lab[2]
    with page_on(lab, "form.ipynb", "form") as page:
        form = panel_form(page)
        runs = run_count(lab, "form.ipynb")
        # the parameters form: a bad value is said under its field; no run starts
        page.fill(f"{form} input[name=k]", "2.5")
        page.click(f"{form} button[type=submit]")
        err = f'{form} .jp-mlpipe-field-error[data-field="k"]'
        page.wait_for_selector(err, state="visible", timeout=5_000)
        assert "k must be a whole number, not '2.5'" in page.inner_text(err)
        assert 0 <= below(page, f"{form} input[name=k]", err) <= 12
        assert page.get_attribute(f"{form} input[name=k]", "aria-invalid") is not None
        assert page.is_hidden(f"{PANEL} .jp-mlpipe-error")  # not (only) a banner elsewhere
        page.screenshot(path=str(ARTIFACTS / "view_form_error.png"))
        page.fill(f"{form} input[name=k]", "3")  # typing a fix clears the line
        assert page.is_hidden(err)
        # the sweep form: a bad value in the list, then a sweep with one value each
        page.check(f'{form} input[data-action="sweep-mode"]')
        page.fill(f"{form} input[name=k]", "1,,2")
        page.click(f"{form} button[type=submit]")
        page.wait_for_selector(err, state="visible", timeout=5_000)
        assert "k: an empty value in '1,,2'" in page.inner_text(err)
        page.fill(f"{form} input[name=k]", "4")
        page.click(f"{form} button[type=submit]")
        whole = f"{form} .jp-mlpipe-form-error"
        page.wait_for_selector(whole, state="visible", timeout=5_000)
        assert "give at least one parameter several comma-separated values" in \
            page.inner_text(whole)
        assert 0 <= below(page, f"{form} button[type=submit]", whole) <= 12
        page.uncheck(f'{form} input[data-action="sweep-mode"]')
        time.sleep(1)
        assert run_count(lab, "form.ipynb") == runs  # nothing was started
        # the server refuses (a run of this notebook is going on): said under the form
        (root / "hold").write_text("")
        try:
            page.click(f'{PANEL} button[data-action="run-all"]')
            page.wait_for_function(f"""document.querySelector('{PANEL} g[data-step="prep"]')
                ?.dataset.status === 'running'""", timeout=60_000)
            page.fill(f"{form} input[name=k]", "5")
            page.click(f"{form} button[type=submit]")
            page.wait_for_selector(whole, state="visible", timeout=10_000)
            assert "already running" in page.inner_text(whole), page.inner_text(whole)
            page.screenshot(path=str(ARTIFACTS / "view_form_server_error.png"))
        finally:
            (root / "hold").unlink()
        page.wait_for_function(f"""document.querySelector('{PANEL} g[data-step="prep"]')
            ?.dataset.status === 'succeeded'""", timeout=60_000)


def test_rerun_with_a_bad_past_value_says_why_under_its_row(lab):
    with page_on(lab, "form.ipynb", "rerun") as page:
        page.click(f'{VIEW} button[data-action="runs-table"]')
        page.wait_for_selector(f"{TABLE} .jp-mlpipe-runs-table tbody tr", timeout=30_000)
        runs = run_count(lab, "form.ipynb")
        row = page.locator(f'{TABLE} tbody tr:has(td[data-column="param:k"]:text-is("x"))')
        run_id = row.get_attribute("data-run-id")
        row.locator('button[data-action="rerun"]').click()
        said = f'{TABLE} tr.jp-mlpipe-row-message[data-for-run="{run_id}"]'
        page.wait_for_selector(said, timeout=5_000)
        text = page.inner_text(said)
        assert "Not re-run: k must be a whole number" in text and '"x"' in text, text
        # right under the row that was clicked
        assert page.evaluate(f"""() => document.querySelector('{TABLE} tr[data-run-id="{run_id}"]')
            .nextElementSibling.dataset.forRun""") == run_id
        assert contrast(page, f"{said} .jp-mlpipe-inline-error") >= 4.5
        page.screenshot(path=str(ARTIFACTS / "view_rerun_error.png"))
        time.sleep(1)
        assert run_count(lab, "form.ipynb") == runs


def test_one_sweep_id_in_the_panel_the_runs_table_and_rest(lab):
    url, token, _ = lab
    with page_on(lab, "form.ipynb", "sweepid") as page:
        form = panel_form(page)
        page.check(f'{form} input[data-action="sweep-mode"]')
        page.fill(f"{form} input[name=k]", "6, 7")
        page.click(f"{form} button[type=submit]")
        status = f"{PANEL} .jp-mlpipe-sweep-status"
        page.wait_for_function(f"document.querySelector('{status}')?.textContent"
                               ".includes('succeeded')", timeout=120_000)
        shown = page.inner_text(status)  # "Sweep ID succeeded: 2 points"
        sweep_id = shown.split()[1]
        page.click(f'{VIEW} button[data-action="runs-table"]')
        page.wait_for_selector(f"{TABLE} .jp-mlpipe-runs-table tbody tr", timeout=30_000)
        page.click(f'{TABLE} button[data-action="reload"]')
        page.fill(f"{TABLE} .jp-mlpipe-filter", sweep_id)  # pasted from the jobs box
        page.wait_for_timeout(300)
        triggers = page.eval_on_selector_all(f'{TABLE} tbody td[data-column="trigger"]',
                                             "tds => tds.map(t => t.textContent)")
        assert sorted(triggers) == [f"sweep {sweep_id} point 1/2",
                                    f"sweep {sweep_id} point 2/2"], triggers
        assert page.inner_text(f"{status} .jp-mlpipe-sweep-id") == sweep_id, shown  # to copy
        page.screenshot(path=str(ARTIFACTS / "view_sweep_id.png"))
        got = page.evaluate(f"""async () => (await fetch('{url}/mlpipe/api/sweeps/{sweep_id}'
            + '?path=form.ipynb', {{headers: {{Authorization: 'token {token}'}}}})).json()""")
        assert got["sweep_id"] == sweep_id and got["state"] == "succeeded", got


def test_open_links_look_like_links_and_boxes_read_in_both_themes(lab):
    def link_style(sel: str) -> dict:
        return page.eval_on_selector(sel, """a => { const s = getComputedStyle(a);
            const td = getComputedStyle(a.closest('td, p, div'));
            return {underline: s.textDecorationLine.includes('underline'),
                    differs: s.color !== td.color}; }""")

    with page_on(lab, "view.ipynb", "links") as page:
        page.click(f'{VIEW} button[data-action="runs-table"]')
        link = f"{TABLE} tbody a.jp-mlpipe-link"
        page.wait_for_selector(link, timeout=30_000)
        assert link_style(link) == {"underline": True, "differs": True}  # not plain text
        command(page, "apputils:change-theme", {"theme": "JupyterLab Dark"})
        page.wait_for_function("document.body.dataset.jpThemeLight === 'false'", timeout=20_000)
        page.wait_for_timeout(500)
        assert link_style(link) == {"underline": True, "differs": True}
        assert contrast(page, link) >= 4.5
        page.evaluate("window.jupyterapp.shell.activateById('jp-mlpipe-panel')")
        dirty = f"{PANEL} .jp-mlpipe-dirty"  # "Unsaved edits": JupyterLab marks it edited
        if page.is_visible(dirty):
            assert contrast(page, dirty) >= 4.5  # was white on light orange (1.3:1)
        form = panel_form(page)
        page.fill(f"{form} input[name=k]", "1.5")
        page.click(f"{form} button[type=submit]")
        err = f'{form} .jp-mlpipe-field-error[data-field="k"]'
        page.wait_for_selector(err, state="visible", timeout=5_000)
        assert contrast(page, err) >= 4.5
        page.screenshot(path=str(ARTIFACTS / "view_dark_form.png"))
        command(page, "apputils:change-theme", {"theme": "JupyterLab Light"})
