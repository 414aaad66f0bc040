"""The panel's "Debug in notebook" in a real JupyterLab and Chromium: the selected step's debug
notebook is written beside the pipeline notebook and opened as a notebook tab; after
`mlpipe verify`, a step whose outputs differed is marked in the graph.

# load -> left, right -> join   (tests/notebooks/panel_demo.ipynb, in test_panel_browser's lab)
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import write_notebook
from tests.labextension.test_panel_browser import PANEL, lab, lab_page, pytestmark  # noqa: F401 - fixtures

MLPIPE = Path(sys.executable).with_name("mlpipe")


def mlpipe(root: Path, *args) -> subprocess.CompletedProcess:
    """`mlpipe` as the lab's server runs it: its Jupyter data folder, so its signing key."""
    env = {k: v for k, v in os.environ.items() if k not in ("MLPIPE_HOME", "MLPIPE_SECRET_FILE")}
    env["JUPYTER_DATA_DIR"] = str(root.parent / "data")
    return subprocess.run([MLPIPE, *map(str, args)], capture_output=True, text=True, env=env,
                          check=False)


def test_debug_in_notebook_opens_the_step_with_its_inputs_and_verify_marks(lab):  # noqa: F811
    _, _, root = lab
    run = mlpipe(root, "run", root / "demo.ipynb")
    assert run.returncode == 0, run.stderr
    noisy = write_notebook(root / "noisy.ipynb", [
        "%%step seed --out s\ns = 1", "%%step draw --in s --out x\nimport random\nx = random.random()"])
    assert mlpipe(root, "run", noisy).returncode == 0
    assert mlpipe(root, "verify", noisy).returncode == 1

    with lab_page(lab, "demo.ipynb", "debug_button") as page:
        page.wait_for_selector(f'{PANEL} g.jp-mlpipe-node[data-step="join"][data-status="cached"]',
                               timeout=30_000)
        page.click(f'{PANEL} g.jp-mlpipe-node[data-step="join"]')
        page.click(f'{PANEL} button[data-action="debug"]')
        tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")
        page.wait_for_function(
            """() => document.querySelector('.lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current')
                   ?.innerText.includes('demo.debug-join.ipynb')""", timeout=30_000)
        assert "demo.debug-join.ipynb" in tab.inner_text()
        assert (root / "demo.debug-join.ipynb").is_file()
        page.wait_for_function("""() => {
            const w = window.jupyterapp.shell.currentWidget;
            return w?.context?.path === 'demo.debug-join.ipynb' && w.content.widgets.length > 3;
        }""", timeout=30_000)
        text = "\n".join(page.evaluate(
            "window.jupyterapp.shell.currentWidget.content.widgets"
            ".map(c => c.model.sharedModel.source)"))
        assert "_mlpipe_load(" in text and "%%step" not in text

        page.evaluate("window.jupyterapp.commands.execute('docmanager:open', "
                      "{path: 'noisy.ipynb'})")
        page.wait_for_selector(f'{PANEL} g.jp-mlpipe-node[data-step="draw"]', timeout=30_000)
        marks = page.eval_on_selector_all(
            f"{PANEL} g.jp-mlpipe-node",
            "els => Object.fromEntries(els.map(e => [e.dataset.step, e.dataset.verify]))")
        assert marks == {"seed": "same", "draw": "differs"}, marks
        title = page.eval_on_selector(
            f'{PANEL} g.jp-mlpipe-node[data-step="draw"] title', "e => e.textContent")
        assert "mlpipe verify: differs x" in title
