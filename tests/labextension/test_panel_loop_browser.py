"""The panel in a real JupyterLab and Chromium, as a user meets it in the first hour: a mistyped
`%%step` option leaves the step drawn invalid with a "did you mean" (its downstream drawn too),
a float parameter whose default is whole (`C = 1.0`) takes 0.5 in the form and in its sweep
mode, the form shows the parameters cell as edited (unsaved), the last-run line says a run failed (naming the step) or was cancelled, and the graph
follows a Run All in the notebook's own kernel, step by step.

# load -> train -> report   (typo.ipynb: train has `--outt model`)
"""
from __future__ import annotations

import time

from tests.helpers import write_notebook
from tests.labextension.test_panel_browser import (  # noqa: F401 - `lab`: the JupyterLab fixture
    PANEL, lab, lab_page, node_states, open_notebook, sync_api, wait_status)

import pytest

pytestmark = [pytest.mark.slow]


def progress(page) -> str:
    return page.inner_text(f"{PANEL} .jp-mlpipe-progress")


def check_typo(page) -> None:
    open_notebook(page, "typo.ipynb")
    page.wait_for_selector(f'{PANEL} g.jp-mlpipe-node[data-step="report"]', timeout=30_000)
    assert node_states(page) == {"load": "stale", "train": "invalid", "report": "stale"}
    error = page.inner_text(f"{PANEL} .jp-mlpipe-error")
    assert "--outt" in error and "did you mean '--out'?" in error, error


def check_float_parameter_and_failure(page) -> None:
    open_notebook(page, "floaty.ipynb")
    page.wait_for_selector(f'{PANEL} g.jp-mlpipe-node[data-step="fit"]', timeout=30_000)
    page.click(f"{PANEL} .jp-mlpipe-params summary")
    field = f'{PANEL} .jp-mlpipe-params input[name="C"]'
    assert page.get_attribute(field, "data-kind") == "float"
    # the form shows the parameters cell as it is in the editor, before any save
    page.click(".jp-Notebook .jp-Cell:visible .cm-content >> text=C = 1.0")
    page.keyboard.press("Control+a")
    page.keyboard.type("C = 0.25")
    page.wait_for_function(f"""() => document.querySelector('{field}')?.value === '0.25'""",
                           timeout=10_000)
    page.fill(field, "0.5")
    page.click(f'{PANEL} button[data-action="run-params"]')  # C = 0.5: fit raises
    page.wait_for_selector(f'{PANEL} .jp-mlpipe-runs li[data-state="failed"]', timeout=120_000)
    wait_status(page, "fit", "failed", 30_000)
    assert "whole number" not in page.inner_text(PANEL)
    page.wait_for_function(f"""() => document.querySelector('{PANEL} .jp-mlpipe-progress')
        .textContent.startsWith('Last run')""", timeout=10_000)
    assert progress(page).startswith("Last run failed at fit · 0/1 steps"), progress(page)
    # sweep mode types the values the same way
    page.check(f'{PANEL} .jp-mlpipe-params input[data-action="sweep-mode"]')
    page.fill(field, "1.5, 2.5")
    page.click(f'{PANEL} button[data-action="run-sweep"]')
    page.wait_for_selector(f'{PANEL} .jp-mlpipe-sweep[data-state="succeeded"] table',
                           timeout=120_000)
    points = page.eval_on_selector_all(f"{PANEL} .jp-mlpipe-sweep-points tbody tr",
                                       "rows => rows.map(r => r.cells[0].innerText)")
    assert points == ["1.5", "2.5"], points
    assert "whole number" not in page.inner_text(PANEL)


def check_cancelled(page) -> None:
    open_notebook(page, "slow.ipynb")
    page.wait_for_selector(f'{PANEL} g.jp-mlpipe-node[data-step="nap"]', timeout=30_000)
    page.click(f'{PANEL} button[data-action="run-all"]')
    wait_status(page, "nap", "running")
    page.click(f'{PANEL} button[data-action="cancel"]')
    wait_status(page, "nap", "cancelled", 30_000)
    end = time.time() + 10
    while not progress(page).startswith("Last run") and time.time() < end:
        time.sleep(0.1)
    assert progress(page).startswith("Last run cancelled · 0/1 steps"), progress(page)


def check_interactive_run_all(page) -> None:
    """Run All in the notebook's own kernel: the graph follows each %%step cell live, without
    a save; the second Run All shows the steps reused."""
    open_notebook(page, "live.ipynb")
    page.wait_for_selector(f'{PANEL} g.jp-mlpipe-node[data-step="nap"]', timeout=30_000)
    assert node_states(page) == {"load": "stale", "nap": "stale"}
    seen = set()

    def run_all(done: str) -> None:
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        end = time.time() + 120
        while time.time() < end:
            states = node_states(page)
            seen.add(states["nap"])
            if states == {"load": done, "nap": done}:
                return
            time.sleep(0.1)
        raise AssertionError(node_states(page))

    run_all("succeeded")
    assert "running" in seen, seen  # nap sleeps 2 s in the kernel: shown running meanwhile
    page.wait_for_timeout(1500)  # the kernel idle: the next Run All is a run of its own
    run_all("reused")


def test_panel_invalid_step_float_form_and_truthful_summaries(lab):
    root = lab[2]
    write_notebook(root / "typo.ipynb", ["%%step load --out raw\nraw = [1, 2, 3]",
                                         "%%step train --in raw --outt model\nmodel = sum(raw)",
                                         "%%step report --in model\nprint(model)"])
    write_notebook(root / "floaty.ipynb", [
        "%%step fit --out m\nif C == 0.5:\n    raise ValueError('C too small')\nm = C * 2"],
        params="C = 1.0")
    write_notebook(root / "live.ipynb", [
        "%%step load --out raw\nraw = [1, 2, 3]",
        "%%step nap --in raw --out total\nimport time\ntime.sleep(2)\ntotal = sum(raw)"])
    with lab_page(lab, "typo.ipynb", "panel_loop") as page:
        check_typo(page)
        check_float_parameter_and_failure(page)
        check_cancelled(page)
        check_interactive_run_all(page)
