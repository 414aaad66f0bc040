"""The sidebar panel in a real JupyterLab and a real Chromium: lists steps, runs the pipeline
live, jumps to a step's cell on click. Saves test-artifacts/panel.png
(MLPIPE_UPDATE_SCREENSHOT=1 also refreshes docs/panel.png for the README).

# load -> left, right -> join   (tests/notebooks/panel_demo.ipynb)
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import write_notebook

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = Path(__file__).parent / "notebooks"
PANEL = "#jp-mlpipe-panel"
DONE = ("succeeded", "reused", "cached")

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason="needs Debian chromium: apt-get install -y chromium"),
]


def _labextension_installed() -> bool:
    from jupyter_core.paths import jupyter_path

    return any((Path(p) / "jupyter-mlpipe-labextension" / "package.json").exists()
               for p in jupyter_path("labextensions"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    """A `jupyter lab` subprocess serving a copy of panel_demo.ipynb; yields (url, token)."""
    if not _labextension_installed():
        pytest.skip("the labextension is not built/installed: pip install -e . (needs Node)")
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(NOTEBOOKS / "panel_demo.ipynb", root / "demo.ipynb")
    write_notebook(root / "widget.ipynb", [
        "from jupyter_mlpipe import Pipeline\nPipeline.from_notebook('demo.ipynb').widget()"])
    write_notebook(root / "slow.ipynb",
                   ["%%step nap --out done\nimport time\ntime.sleep(120)\ndone = True"])
    config = tmp_path / "config"
    (config / "labconfig").mkdir(parents=True)
    (config / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    port, token = _free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if k != "MLPIPE_HOME"}
    env.update(JUPYTER_CONFIG_DIR=str(config), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    log = open(tmp_path / "lab.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--allow-root", "--ip", "127.0.0.1",
         "--port", str(port), f"--ServerApp.token={token}", "--no-browser",
         f"--ServerApp.root_dir={root}", f"--LabApp.workspaces_dir={tmp_path / 'ws'}",
         "--LabApp.expose_app_in_browser=True",  # window.jupyterapp, to run the widget cell
         "--ServerApp.log_level=" + os.environ.get("MLPIPE_TEST_LAB_LOG_LEVEL", "INFO")],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        end = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.time() > end:
                    raise RuntimeError("jupyter lab did not start:\n"
                                       + (tmp_path / "lab.log").read_text()[-3000:])
                time.sleep(0.3)
        yield url, token, root
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        artifacts = REPO / "test-artifacts"
        artifacts.mkdir(exist_ok=True)
        shutil.copy(tmp_path / "lab.log", artifacts / "panel_browser_lab.log")


def node_states(page) -> dict[str, str]:
    return page.eval_on_selector_all(
        f"{PANEL} g.jp-mlpipe-node",
        "els => Object.fromEntries(els.map(e => [e.dataset.step, e.dataset.status]))")


def test_panel_runs_the_pipeline_and_jumps_to_cells(lab):
    url, token, root = lab
    artifacts = REPO / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 860})
        console = open(artifacts / "panel_browser_console.log", "w")
        page.on("console", lambda m: console.write(f"{m.type}: {m.text}\n"))
        try:
            page.goto(f"{url}/lab/tree/demo.ipynb?token={token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
            page.click('.jp-SideBar [data-id="jp-mlpipe-panel"]')
            page.wait_for_selector(f'{PANEL} g.jp-mlpipe-node[data-step="join"]',
                                   timeout=30_000)
            assert node_states(page) == dict.fromkeys(["load", "left", "right", "join"],
                                                      "stale")
            assert page.is_hidden(f"{PANEL} .jp-mlpipe-error")

            seen = set()
            page.click(f'{PANEL} button[data-action="run-all"]')
            end = time.time() + 120
            while time.time() < end:
                states = node_states(page)
                seen |= set(states.values())
                if all(s in DONE for s in states.values()) and len(states) == 4:
                    break
                time.sleep(0.1)
            assert all(s in DONE for s in node_states(page).values()), node_states(page)
            assert seen & {"running", "pending", "succeeded"}, seen  # it was shown live
            page.wait_for_selector(f'{PANEL} .jp-mlpipe-runs li[data-state="succeeded"]',
                                   timeout=30_000)
            page.wait_for_function(
                f"""() => [...document.querySelectorAll('{PANEL} g.jp-mlpipe-node')]
                       .every(n => n.dataset.status === 'cached')""", timeout=30_000)
            assert page.is_hidden(f"{PANEL} .jp-mlpipe-error")

            page.click(f'{PANEL} g.jp-mlpipe-node[data-step="right"]')
            active = page.wait_for_selector(".jp-Notebook .jp-Cell.jp-mod-active")
            assert "%%step right" in active.inner_text()
            page.click(f'{PANEL} g.jp-mlpipe-node[data-step="load"]')
            page.wait_for_function(
                """() => document.querySelector('.jp-Notebook .jp-Cell.jp-mod-active')
                       .innerText.includes('%%step load')""", timeout=10_000)
            page.click(f'{PANEL} g.jp-mlpipe-node[data-step="join"]')
            page.wait_for_timeout(300)
            page.screenshot(path=str(artifacts / "panel.png"))
            if os.environ.get("MLPIPE_UPDATE_SCREENSHOT"):  # refresh the README's picture
                shutil.copy(artifacts / "panel.png", REPO / "docs" / "panel.png")

            # the executed notebook of the selected step opens in a new tab
            with page.expect_popup() as popup:
                page.click(f'{PANEL} button[data-action="open-notebook"]')
            popup.value.wait_for_load_state()
            assert "90" in popup.value.content()  # what the join step printed
            popup.value.close()

            # an edit, once saved, turns the step stale; running it shows the failure in red
            page.click(".jp-Notebook .jp-Cell.jp-mod-active .cm-content")
            page.keyboard.press("Control+End")
            page.keyboard.type("\nraise ValueError")
            page.keyboard.press("Control+s")
            page.wait_for_function(
                f"""() => document.querySelector('{PANEL} g[data-step="join"]')
                       .dataset.status === 'stale'""", timeout=30_000)
            assert node_states(page)["load"] == "cached"
            page.click(f'{PANEL} button[data-action="run-all"]')
            page.wait_for_selector(f'{PANEL} .jp-mlpipe-runs li[data-state="failed"]',
                                   timeout=120_000)
            page.wait_for_function(
                f"""() => document.querySelector('{PANEL} g[data-step="join"]')
                       .dataset.status === 'failed'""", timeout=30_000)
            assert node_states(page) == {"load": "cached", "left": "cached",
                                         "right": "cached", "join": "failed"}
            error = page.inner_text(f"{PANEL} .jp-mlpipe-error")
            assert "join" in error and "ValueError" in error
            page.screenshot(path=str(artifacts / "panel_failed.png"))

            # a long run can be cancelled from the panel: the run ends "cancelled"
            page.evaluate("window.jupyterapp.commands.execute('docmanager:open', "
                          "{path: 'slow.ipynb'})")
            page.wait_for_selector(f'{PANEL} g.jp-mlpipe-node[data-step="nap"]', timeout=30_000)
            page.click(f'{PANEL} button[data-action="run-all"]')
            page.wait_for_function(
                f"""() => document.querySelector('{PANEL} g[data-step="nap"]')
                       ?.dataset.status === 'running'""", timeout=60_000)
            t0 = time.time()
            page.click(f'{PANEL} button[data-action="cancel"]')
            page.wait_for_selector(f'{PANEL} .jp-mlpipe-runs li[data-state="cancelled"]',
                                   timeout=30_000)
            assert time.time() - t0 < 30  # not the 120 s the step would have slept

            # the notebook widget (pipe.widget()) draws the same graph with the same states
            page.evaluate("window.jupyterapp.commands.execute('docmanager:open', "
                          "{path: 'widget.ipynb'})")
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
            assert widget == {"load": "cached", "left": "cached", "right": "cached",
                              "join": "stale"}
            page.screenshot(path=str(artifacts / "widget.png"))
            # the panel follows the active notebook: this one has no steps
            assert (page.inner_text(f"{PANEL} .jp-mlpipe-graph")
                    == "No %%step cells in this notebook.")
            assert page.inner_text(f"{PANEL} .jp-mlpipe-details") == ""

        except Exception:
            page.screenshot(path=str(artifacts / "panel_failure.png"))
            raise
        finally:
            browser.close()
            console.close()
    assert (root / ".mlpipe" / "history.sqlite").exists()
