"""`pytest --nbval-lax notebooks/` runs the example notebooks top to bottom in a kernel."""
from __future__ import annotations

import os

import pytest

os.environ["MLPIPE_DAEMON"] = "off"  # a run daemon the developer started is not part of a test

# targets.ipynb runs steps on a kernel gateway and a Dask cluster that it does not start
# itself; tests/targets/test_example_notebook.py starts both and runs it.
collect_ignore = ["targets.ipynb"]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """nbval makes each cell a test, and a notebook's cells must run in order: put them back
    in order after pytest-randomly (part of the test extras) shuffled them."""
    items.sort(key=lambda item: (str(item.fspath), getattr(item, "cell_num", 0)))
