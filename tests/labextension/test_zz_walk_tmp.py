"""Temporary walkthrough (not committed)."""
from tests.labextension.test_pipeline_view_browser import (  # noqa: F401
    lab, page_on, VIEW, TABLE, PANEL, ARTIFACTS, contrast, panel_form, command)


def test_walk_sweep(lab):
    with page_on(lab, "view.ipynb", "walksweep") as page:
        form = panel_form(page)
        page.check(f'{form} input[data-action="sweep-mode"]')
        page.fill(f"{form} input[name=k]", "1, 2, 3")
        page.click(f"{form} button[type=submit]")
        status = f"{PANEL} .jp-mlpipe-sweep-status"
        page.wait_for_function(f"document.querySelector('{status}')?.textContent"
                               ".includes('succeeded')", timeout=180_000)
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / "walk_sweep_default.png"))
        print("WIDTH", page.evaluate("document.querySelector('#jp-mlpipe-panel').getBoundingClientRect().width"))
        print("SWEEP", page.evaluate(f"""() => {{ const t = document.querySelector('{PANEL} .jp-mlpipe-sweep-points');
            const box = document.querySelector('{PANEL} .jp-mlpipe-sweep');
            return [t.scrollWidth, box.clientWidth, [...t.querySelectorAll('th')].map(th => th.textContent)]; }}"""))
        # narrow: drag the sidebar's split handle
        page.evaluate("""() => { const p = document.querySelector('#jp-left-stack');
            const h = document.querySelector('#jp-main-split-panel > .lm-SplitPanel-handle');
            return [p && p.getBoundingClientRect().width, !!h]; }""")
        handle = page.locator("#jp-main-split-panel > .lm-SplitPanel-handle").first
        box = handle.bounding_box()
        page.mouse.move(box["x"] + 2, box["y"] + 300)
        page.mouse.down()
        page.mouse.move(box["x"] - 200, box["y"] + 300, steps=5)
        page.mouse.up()
        page.wait_for_timeout(500)
        print("NARROW", page.evaluate("document.querySelector('#jp-mlpipe-panel').getBoundingClientRect().width"))
        print("SWEEP", page.evaluate(f"""() => {{ const t = document.querySelector('{PANEL} .jp-mlpipe-sweep-points');
            const box = document.querySelector('{PANEL} .jp-mlpipe-sweep');
            return [t.scrollWidth, box.clientWidth, [...t.rows[0].cells].map(c => [c.textContent, c.getBoundingClientRect().width, getComputedStyle(c).paddingRight, getComputedStyle(c).fontSize])]; }}"""))
        page.screenshot(path=str(ARTIFACTS / "walk_sweep_narrow.png"))
        page.click(f"{PANEL} .jp-mlpipe-sweep-points tbody tr >> nth=0")
        page.wait_for_timeout(2000)
        page.screenshot(path=str(ARTIFACTS / "walk_sweep_row_click.png"))
