"""`%%step` in real kernels never serves or stores a stale or wrong result: a module edited
after its import, a prelude constant changed but not saved, an input changed in place, and
"Run All" outside JupyterLab (nbclient, no JPY_SESSION_NAME) still finds its notebook."""
from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest
from tests.helpers import write_notebook
from tests.helpers_convert import make_notebook, run_original

from jupyter_mlpipe import Pipeline


class LiveKernel:
    """A real kernel started in `cwd`, fed cells one at a time, as a user in JupyterLab."""

    def __init__(self, cwd: Path):
        from jupyter_client.manager import start_new_kernel

        env = {k: v for k, v in os.environ.items() if k != "JPY_SESSION_NAME"}
        self.km, self.kc = start_new_kernel(kernel_name="python3", cwd=str(cwd), env=env)

    def run(self, code: str) -> str:
        out: list[str] = []

        def hook(msg):
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                out.append("\n".join(msg["content"]["traceback"]))

        self.kc.execute_interactive(code, output_hook=hook, timeout=120)
        return "".join(out)

    def value(self, name: str):
        return json.loads(self.run(f"import json as _j; print(_j.dumps({name}))"))

    def close(self):
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


@pytest.fixture
def kernel(tmp_path):
    k = LiveKernel(tmp_path)
    yield k
    k.close()


def _open(kernel: LiveKernel, path: Path) -> None:
    kernel.run(f"%load_ext jupyter_mlpipe\n%mlpipe notebook {path}")


# 6 ------------------------------------------------------------------------------------------
STEP_6 = "%%step s --out v\nv = helpers.f(1)"


def test_module_edited_after_import_is_not_stored(tmp_path, make_nb, kernel):
    (tmp_path / "helpers.py").write_text("def f(x):\n    return x + 1\n")
    path = make_nb(["import helpers", STEP_6])
    _open(kernel, path)
    kernel.run("import helpers")
    kernel.run(STEP_6)
    (tmp_path / "helpers.py").write_text("def f(x):\n    return x + 100\n")
    out = kernel.run(STEP_6)
    assert "helpers.py changed since this kernel imported it: the result is not stored" in out
    assert "importlib.reload(helpers)" in out and kernel.value("v") == 2  # the old module ran
    run = Pipeline.from_notebook(path).run(jobs=1)
    assert str(run.steps["s"].state) == "succeeded" and run.outputs("s")["v"] == 101
    kernel.run("import importlib; importlib.reload(helpers)")
    out = kernel.run(STEP_6)
    assert "reused s" in out and kernel.value("v") == 101


# 7 ------------------------------------------------------------------------------------------
STEP_7 = "%%step s --out v\nv = THRESHOLD * 2"


def test_unsaved_prelude_constant_is_not_reused(make_nb, kernel):
    path = make_nb(["THRESHOLD = 0.5", STEP_7])
    _open(kernel, path)
    kernel.run("THRESHOLD = 0.5")
    kernel.run(STEP_7)
    assert kernel.value("v") == 1.0
    kernel.run("THRESHOLD = 0.7")  # the prelude cell edited and re-run, not saved
    out = kernel.run(STEP_7)
    assert "reused" not in out and kernel.value("v") == 1.4
    kernel.run("THRESHOLD = 0.5")
    out = kernel.run(STEP_7)
    assert "reused s" in out and kernel.value("v") == 1.0


# 8 ------------------------------------------------------------------------------------------
MUTATING = ["raw = [1, 2, 3]", "raw.append(4)\nt = sum(raw)", "n = len(raw)"]
MAGICS = ["%%step load --out raw", "%%step total --in raw --out t", "%%step count --in raw --out n"]


def _run_all(path: Path, names: list[str]) -> tuple[dict, list[str]]:
    """Execute the notebook top to bottom in a fresh kernel (as "Run All" does); return the
    named values and each cell's printed text."""
    import nbclient

    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(
        f"import json as _j; print(_j.dumps({{_n: globals()[_n] for _n in {names!r}}}))"))
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=120,
                            resources={"metadata": {"path": str(path.parent)}}).execute()
    texts = ["".join(o.get("text", "") for o in c.get("outputs", [])) for c in nb.cells]
    return json.loads(texts[-1]), texts[:-1]


def test_input_changed_in_place_run_all_twice_as_plain(tmp_path, make_nb, monkeypatch):
    (tmp_path / "plain").mkdir()
    plain = make_notebook(tmp_path / "plain" / "plain.ipynb", MUTATING)
    expected = run_original(plain, ["t", "n"])
    path = make_nb([f"{m}\n{b}" for m, b in zip(MAGICS, MUTATING)])
    monkeypatch.setenv("JPY_SESSION_NAME", str(path))
    first, texts = _run_all(path, ["t", "n"])
    second, _ = _run_all(path, ["t", "n"])
    assert first == second == expected == {"t": 10, "n": 4}
    assert any("step 'total' changed its input 'raw' in place: the result is not stored" in t
               for t in texts)


def test_input_changed_in_place_fails_a_batch_step(make_nb, mlpipe_cli):
    path = make_nb([f"{m}\n{b}" for m, b in zip(MAGICS, MUTATING)])
    done = mlpipe_cli("run", path)
    assert done.returncode != 0
    said = done.stdout + done.stderr
    assert "changed its input 'raw' in place" in said and "--out raw" in said


# 9 ------------------------------------------------------------------------------------------
LOGGED = ["%%step load --out raw\nopen('ran.txt', 'a').write('load\\n')\nraw = [1, 2, 3]",
          "%%step total --in raw --out t\nopen('ran.txt', 'a').write('total\\n')\nt = sum(raw)"]


def test_run_all_under_nbclient_finds_its_notebook(tmp_path, make_nb, mlpipe_cli, monkeypatch):
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    path = make_nb(LOGGED)
    write_notebook(tmp_path / "other.ipynb", ["x = 1"])  # holds no step: not a candidate
    assert mlpipe_cli("run", path).returncode == 0
    ran = (tmp_path / "ran.txt").read_text()
    values, texts = _run_all(path, ["t"])
    assert values == {"t": 6}
    assert [t.startswith("reused ") for t in texts if "load" in t or "total" in t] == [True] * 2
    assert (tmp_path / "ran.txt").read_text() == ran  # no step body ran


def test_notebook_by_content_prefers_the_exact_cell_and_names_the_fix(tmp_path):
    from jupyter_mlpipe.interactive.kernel_notebook import notebook_holding

    write_notebook(tmp_path / "a.ipynb", ["%%step s --out v\nv = 1"])
    write_notebook(tmp_path / "b.ipynb", ["%%step s --out v\nv = 2"])
    found, why = notebook_holding("s", "s --out v", "v = 2", tmp_path)
    assert found == (tmp_path / "b.ipynb").resolve(), why
    found, why = notebook_holding("s", "s --out v", "v = 3", tmp_path)
    assert found is None and "a.ipynb, b.ipynb" in why and "%mlpipe notebook PATH" in why
    found, why = notebook_holding("t", "t", "", tmp_path)
    assert found is None and "cannot tell which notebook" in why
