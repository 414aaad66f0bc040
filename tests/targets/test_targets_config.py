"""Targets from mlpipe.toml / pyproject.toml, --target override, errors before any step starts."""
from __future__ import annotations

import shutil

import pytest
from tests.helpers import write_pipeline

from jupyter_mlpipe.cli.main import main
from jupyter_mlpipe.errors import TargetError
from jupyter_mlpipe.pipeline.load import load_pipeline
from jupyter_mlpipe.api import Pipeline
from jupyter_mlpipe.run.runner import run_pipeline
from jupyter_mlpipe.executors.registry import check_targets
from jupyter_mlpipe.targets import load_targets

STEPS = ["%%step make --out x\nx = n * 2",
         "%%step use --in x --out y --target remote\ny = x + 1"]


def test_mlpipe_toml_beside_the_notebook(tmp_path):
    write_pipeline(tmp_path, STEPS, toml="""
[targets.remote]
gateway = "http://127.0.0.1:9"
token_env = "SOME_TOKEN"
retries = 1
[targets.cluster]
dask = "local"
resources = { GPU = 1 }
""")
    t = load_targets(tmp_path)
    assert t.get("remote").kind == "gateway" and t.get("remote").retries == 1
    assert t.get("cluster").kind == "dask" and t.get("cluster").resources == {"GPU": 1}
    assert t.get("local").kind == "local"  # always there


def test_pyproject_tool_mlpipe_in_a_parent_folder(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n[tool.mlpipe.targets.big]\nkernel = "python3"\ngpus = 2\n')
    write_pipeline(tmp_path / "notebooks", STEPS)
    t = load_targets(tmp_path / "notebooks")
    assert t.get("big").gpus == 2 and t.source == tmp_path / "pyproject.toml"


def test_unknown_key_and_conflicting_kinds_are_named(tmp_path):
    write_pipeline(tmp_path, STEPS, toml='[targets.remote]\ngatway = "http://x"\n')
    with pytest.raises(TargetError, match="unknown key.*gatway"):
        load_targets(tmp_path)
    (tmp_path / "mlpipe.toml").write_text('[targets.r]\ngateway = "http://x"\ndask = "local"\n')
    with pytest.raises(TargetError, match="both gateway and dask"):
        load_targets(tmp_path)


def test_unknown_target_fails_before_any_step_runs(tmp_path, capsys):
    nb = write_pipeline(tmp_path, STEPS)  # no mlpipe.toml: only `local` exists
    assert main(["run", str(nb)]) == 2
    err = capsys.readouterr().err
    assert "unknown compute target 'remote'" in err and "[targets.remote]" in err
    assert not list((tmp_path / ".mlpipe").glob("runs/*"))  # nothing started


def test_unreachable_gateway_fails_fast_and_names_the_fix(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SOME_TOKEN", "x")
    nb = write_pipeline(tmp_path, STEPS, toml="""
[targets.remote]
gateway = "http://127.0.0.1:9"
token_env = "SOME_TOKEN"
timeout = 2
""")
    assert main(["run", str(nb)]) == 2
    err = capsys.readouterr().err
    assert "gateway http://127.0.0.1:9 is unreachable" in err and "kernelgateway" in err
    assert not list((tmp_path / ".mlpipe").glob("runs/*"))


def test_missing_token_variable_is_named(tmp_path, monkeypatch):
    monkeypatch.delenv("NOT_SET_TOKEN", raising=False)
    write_pipeline(tmp_path, STEPS, toml='[targets.remote]\ngateway = "http://127.0.0.1:9"\n'
                                         'token_env = "NOT_SET_TOKEN"\n')
    spec = load_pipeline(tmp_path / "pipe.ipynb")
    with pytest.raises(TargetError, match=r"\$NOT_SET_TOKEN, which is not set"):
        check_targets(spec, {"remote"}, tmp_path / ".mlpipe")


def test_unreachable_scheduler_fails_fast(tmp_path):
    write_pipeline(tmp_path, STEPS, toml='[targets.remote]\ndask = "tcp://127.0.0.1:9"\n'
                                         'timeout = 2\n')
    spec = load_pipeline(tmp_path / "pipe.ipynb")
    with pytest.raises(TargetError, match="scheduler tcp://127.0.0.1:9 is unreachable"):
        check_targets(spec, {"remote"}, tmp_path / ".mlpipe")


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine has GPUs")
def test_gpu_target_without_gpus_fails_before_running(tmp_path):
    write_pipeline(tmp_path, ["%%step s --out x --target gpu\nx = 1"],
                   toml="[targets.gpu]\ngpus = 1\n")
    with pytest.raises(TargetError, match="asks for 1 GPU"):
        run_pipeline(load_pipeline(tmp_path / "pipe.ipynb"), jobs=1)


def test_run_target_overrides_every_step_and_enters_the_key(tmp_path):
    # `alt` is a second local target with its own kernel env var: a different environment
    nb = write_pipeline(tmp_path, ["%%step make --out x\nx = n * 2",
                                   "%%step use --in x --out y\ny = x + int(os.environ['K'])"],
                        toml='[targets.alt]\nenv = { K = "5" }\n[targets.local]\n'
                             'env = { K = "1" }\n')
    spec = load_pipeline(nb)
    run = run_pipeline(spec, jobs=2)
    assert run.ok and run.outputs("use")["y"] == 7
    run = run_pipeline(spec, jobs=2, target="alt")
    assert run.ok and run.outputs("use")["y"] == 11
    assert all(s.state == "succeeded" for s in run.steps.values())  # env is in the key
    # results of both targets are kept: the plain notebook (local target) is still cached
    assert {str(s.state) for s in Pipeline(spec).status()} == {"cached"}
    assert main(["run", str(nb), "--target", "alt"]) == 0  # back on alt: all reused
    (tmp_path / "mlpipe.toml").write_text('[targets.local]\nenv = { K = "2" }\n')
    status = {s.name: s for s in Pipeline(load_pipeline(nb)).status()}
    assert "target environment changed" in status["make"].reasons


def test_default_local_env_names_kernel_and_python(tmp_path):
    import sys

    nb = write_pipeline(tmp_path, ["%%step make --out x\nx = 1"])
    env = check_targets(load_pipeline(nb), {"local"}, tmp_path / ".mlpipe")
    assert env["local"] == {"target": "local", "kernel": "python3",
                            "python": f"{sys.version_info[0]}.{sys.version_info[1]}"}
