"""Names that become file names (--module names, published pipeline names and versions) are
checked for length before they reach the disk: a clear error, never `OSError: File name too
long`."""
from __future__ import annotations

import pytest

from tests.helpers import write_notebook
from tests.helpers_convert import ipython_shell, make_notebook

LONG = "m" * 200


@pytest.fixture(autouse=True)
def registries(tmp_path, monkeypatch):
    monkeypatch.setenv("MLPIPE_MODULES", str(tmp_path / "modules"))
    monkeypatch.setenv("MLPIPE_PIPELINES", str(tmp_path / "pipelines"))


@pytest.mark.parametrize("ref", [LONG, f"{LONG}@1", f"short@{'9' * 300}"])
def test_mlpipe_run_with_a_long_module_name(tmp_path, mlpipe_cli, ref):
    nb = write_notebook(tmp_path / "use.ipynb", [f"%%step a --module {ref}\n# code"])
    r = mlpipe_cli("run", nb)
    out = r.stdout + r.stderr
    assert r.returncode == 2, out
    assert "File name too long" not in out and "Traceback" not in out, out
    assert "--module" in out and "at most" in out, out


def test_the_magic_says_the_same_without_an_oserror(tmp_path, capsys):
    user = make_notebook(tmp_path / "user.ipynb", ["%load_ext jupyter_mlpipe",
                                                   f"%%step a --module {LONG}\n# code"])
    ip = ipython_shell()
    ip.run_line_magic("mlpipe", f"notebook {user}")
    result = ip.run_cell(f"%%step a --module {LONG}\n# code")
    out = capsys.readouterr()
    text = out.out + out.err
    assert not isinstance(result.error_in_exec, OSError), result.error_in_exec
    assert "File name too long" not in text, text
    assert "is not a valid module name: at most 100" in text, text


def test_publish_refuses_a_long_pipeline_name_or_version(tmp_path, mlpipe_cli):
    nb = write_notebook(tmp_path / "p.ipynb", ["%%step a --out x\nx = 1"])
    for args in (["--name", LONG], ["--name", "ok", "--version", "1" * 300]):
        r = mlpipe_cli("publish", nb, *args)
        out = r.stdout + r.stderr
        assert r.returncode == 2 and "at most" in out and "too long" not in out, out
    assert not (tmp_path / "pipelines").exists() or not any((tmp_path / "pipelines").iterdir())
