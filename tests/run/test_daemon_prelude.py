"""The run daemon's warm kernel template runs the prelude's imports once and keeps them between
runs. What those imports read (a data file a project module loads at import) counts for every
step, and a template that read a file since changed is not lent again (issue 20, class 1)."""
from __future__ import annotations

import sys

import pytest

from tests.daemon.test_daemon import daemon, daemon_status  # noqa: F401 - fixture
from tests.helpers import mlpipe, wait_for, write_notebook

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork: Linux")


@pytest.mark.slow
def test_a_file_read_by_the_daemon_templates_imports_counts(daemon, tmp_path):  # noqa: F811
    (tmp_path / "lookup.py").write_text(
        "TABLE = [int(x) for x in open('table.txt').read().split()]\n")
    (tmp_path / "table.txt").write_text("1 2 3\n")
    nb = write_notebook(tmp_path / "p.ipynb", [
        "import lookup",
        "%%step total --out s\ns = sum(lookup.TABLE)\nopen('s.txt', 'w').write(str(s))\n"
        "open('executed.log', 'a').write('total\\n')",
    ])

    def run() -> tuple[str, list[str]]:
        (tmp_path / "executed.log").unlink(missing_ok=True)
        r = mlpipe("run", nb.name, cwd=tmp_path)
        assert r.returncode == 0, r.stdout + r.stderr
        log = tmp_path / "executed.log"
        return (tmp_path / "s.txt").read_text(), log.read_text().split() if log.exists() else []

    def warm() -> bool:
        return any(t["ready"] for t in daemon_status()["templates"])

    assert run() == ("6", ["total"])
    wait_for(warm, 60)
    (tmp_path / "table.txt").write_text("1 2 3 40\n")  # read by the template's `import lookup`
    assert run() == ("46", ["total"])
    wait_for(warm, 60)
    assert run() == ("46", [])  # and reused while nothing changes
    (tmp_path / "table.txt").write_text("1 2 3 400\n")
    assert run() == ("406", ["total"])
