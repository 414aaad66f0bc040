"""Every ```python block of README.md, and of the manual's pages (docs/), runs as written: in
order, as the cells of one notebook (`train.ipynb`, beside a copy of notebooks/ and its data/),
top to bottom in a real kernel that knows its notebook as JupyterLab tells it
(JPY_SESSION_NAME). Their control cells (`Pipeline.from_notebook(...)`, `pipe.run()`,
`pipe.widget()`, `.sweep(...)`) sit between the steps, as a user pastes them; they must neither
break the steps' kernels nor enter a key. The manual's pages build on each other's examples in
the order below (the magic's pipeline, then its evaluation, module and sweep)."""
from __future__ import annotations

import re
import shutil

import nbformat
import pytest

from tests.helpers import ROOT, write_notebook

BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


MANUAL = ["magic", "reuse", "cli", "api", "jupyterlab", "targets", "team", "convert",
          "tracking", "sweeps", "schedules", "modules", "published"]


def blocks_of(*pages) -> list[str]:
    return [b.rstrip("\n") for page in pages for b in BLOCK.findall(page.read_text())]


def readme_blocks() -> list[str]:
    return blocks_of(*[ROOT / "docs" / f"{name}.md" for name in MANUAL])


def readme_notebook(folder, blocks: list[str] | None = None):
    """The blocks as cells; the block that says it is the parameters cell is tagged."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    for block in readme_blocks() if blocks is None else blocks:
        cell = nbformat.v4.new_code_cell(block)
        if block.startswith("# parameters"):
            cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    path = folder / "train.ipynb"
    nbformat.write(nb, path)
    return path


def _texts(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def run_all(tmp_path, monkeypatch, blocks: list[str] | None = None):
    """The blocks as train.ipynb beside a copy of notebooks/, run top to bottom in a real kernel
    as JupyterLab would (JPY_SESSION_NAME set); returns (path, executed notebook)."""
    import nbclient

    folder = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", folder,
                    ignore=shutil.ignore_patterns(".mlpipe", "*.ipynb_checkpoints"))
    monkeypatch.delenv("MLPIPE_HOME", raising=False)
    path = readme_notebook(folder, blocks)
    monkeypatch.setenv("JPY_SESSION_NAME", str(path))
    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=600,
                            resources={"metadata": {"path": str(folder)}}).execute()
    return path, nb


@pytest.mark.slow
def test_the_manuals_python_blocks_run_as_written(tmp_path, monkeypatch):
    from jupyter_mlpipe import Pipeline
    from jupyter_mlpipe.automation.modules import publish

    # The README's `mlpipe module publish features.ipynb clean --name cleaner --version 1.0`,
    # which its `%%step clean --module cleaner@1.0` block follows.
    monkeypatch.setenv("MLPIPE_MODULES", str(tmp_path / "modules"))
    features = write_notebook(tmp_path / "features.ipynb", [
        "%%step load --out raw\nraw = None",
        "%%step clean --in raw --out clean_raw\nclean_raw = raw.dropna()"])
    publish(features, "clean", "cleaner", "1.0")
    path, nb = run_all(tmp_path, monkeypatch)

    errors = [(c.source, o) for c in nb.cells for o in c.outputs if o.output_type == "error"]
    assert not errors
    steps = {c.source.split()[1]: _texts(c) for c in nb.cells if c.source.startswith("%%step")}
    assert set(steps) == {"load", "train", "evaluate", "clean"}
    # The Python API block ran the pipeline from inside the notebook (n_estimators=200), the
    # sweep ran three points; the step cells computed (or reused) their own results.
    assert all(t.startswith(("stored ", "reused ")) for t in steps.values()), steps
    api = next(c for c in nb.cells if "pipe.widget()" in c.source)
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {})
               for o in api.outputs)  # the live graph
    sweep = next(c for c in nb.cells if ".sweep(" in c.source)
    shown = "".join(o.get("data", {}).get("text/plain", "") for o in sweep.outputs)
    assert shown.count("'n_estimators'") == 3 and "accuracy" in shown
    # The control cells are in no key: the pipeline as saved is cached, step by step.
    status = {s.name: s.describe() for s in Pipeline.from_notebook(path).status()}
    assert all(d.startswith("cached") for d in status.values()), status


@pytest.mark.slow
def test_the_readmes_python_blocks_run_as_written(tmp_path, monkeypatch):
    from jupyter_mlpipe import Pipeline

    path, nb = run_all(tmp_path, monkeypatch, blocks_of(ROOT / "README.md"))

    errors = [(c.source, o) for c in nb.cells for o in c.outputs if o.output_type == "error"]
    assert not errors
    steps = {c.source.split()[1]: _texts(c) for c in nb.cells if c.source.startswith("%%step")}
    assert set(steps) == {"load", "train"}
    assert all(t.startswith(("stored ", "reused ")) for t in steps.values()), steps
    api = next(c for c in nb.cells if "run.outputs(" in c.source)
    shown = "".join(o.get("data", {}).get("text/plain", "") for o in api.outputs)
    assert "RandomForestClassifier" in shown  # the model the API's run (n_estimators=200) made
    status = {s.name: s.describe() for s in Pipeline.from_notebook(path).status()}
    assert all(d.startswith("cached") for d in status.values()), status
