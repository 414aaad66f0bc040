"""A third party adds an executor kind without touching jupyter_mlpipe: by the registry API, or
by an entry point in the group `jupyter_mlpipe.executors`; a target names it with `executor`."""
from __future__ import annotations

import concurrent.futures as cf
import sys

import pytest
from tests.helpers import write_pipeline

from jupyter_mlpipe.interactive import in_kernel
from jupyter_mlpipe.errors import TargetError
from jupyter_mlpipe.executors import registry
from jupyter_mlpipe.executors.base import Executor, StepJob, read_result
from jupyter_mlpipe.pipeline.load import load_pipeline
from jupyter_mlpipe.run.runner import run_pipeline

STEPS = ["%%step make --out x --target toy\nx = n * 2",
         "%%step use --in x --out y --target toy\ny = x + 1"]
TOML = '[targets.toy]\nexecutor = "{kind}"\n'


class InProcessExecutor(Executor):
    """A toy kind: runs each step's prelude and body in this process, no kernel at all."""

    ran: list[str] = []

    def __init__(self, pipeline, params, jobs, target):
        self.pipeline, self.params, self.target = pipeline, params, target

    @staticmethod
    def probe(pipeline, target, home):
        return {"target": target.name, "kernel": "in-process", "python": sys.version[:4]}

    def submit(self, job: StepJob) -> cf.Future:
        fut: cf.Future = cf.Future()
        try:
            job.run_dir.mkdir(parents=True, exist_ok=True)
            home, s = str(job.store_home), job.step
            ns: dict = {}
            exec(self.pipeline.parameters_source, ns)  # then the overrides, as papermill does
            ns.update(self.params)
            for _, src in self.pipeline.prelude_cells:
                exec(src, ns)
            in_kernel.begin(home, job.run_id, s.name)
            ns.update({v: in_kernel.load(home, d) for v, d in job.inputs.items()})
            exec(s.body, ns)
            in_kernel.save(home, s.name, ns, list(s.outputs), s.outputs_declared,
                           list(s.writes), str(job.result_path))
            self.ran.append(s.name)
            fut.set_result(read_result(job))
        except Exception as exc:  # noqa: BLE001 - the runner reports it
            fut.set_exception(exc)
        return fut

    def close(self, now: bool = False) -> None:
        pass


class FakeEntryPoint:
    """What importlib.metadata gives for an installed package's entry point."""

    def __init__(self, name: str, cls: type):
        self.name, self.cls, self.loaded = name, cls, 0

    def load(self) -> type:
        self.loaded += 1
        return self.cls


@pytest.fixture
def kinds(monkeypatch):
    fresh = registry.ExecutorRegistry()
    monkeypatch.setattr(registry, "kinds", fresh)
    InProcessExecutor.ran = []
    return fresh


def test_a_kind_registered_through_the_api_runs_steps(tmp_path, kinds):
    kinds.register("toy", InProcessExecutor)
    nb = write_pipeline(tmp_path, STEPS, toml=TOML.format(kind="toy"))
    run = run_pipeline(load_pipeline(nb), jobs=1)
    assert run.ok and run.outputs("use")["y"] == 7
    assert InProcessExecutor.ran == ["make", "use"]
    again = run_pipeline(load_pipeline(nb), jobs=1)  # the probed environment keys the cache
    assert again.ok and {str(s.state) for s in again.steps.values()} == {"reused"}


def test_a_kind_from_an_entry_point_is_loaded_when_first_used(tmp_path, kinds):
    ep = FakeEntryPoint("toy-ep", InProcessExecutor)
    kinds.register_entry_points([ep])
    assert ep.loaded == 0  # declared, not imported
    nb = write_pipeline(tmp_path, STEPS, toml=TOML.format(kind="toy-ep"))
    run = run_pipeline(load_pipeline(nb), jobs=1)
    assert run.ok and run.outputs("use")["y"] == 7 and ep.loaded == 1


def test_built_in_kinds_are_strings_until_used_and_entry_points_do_not_replace_them(kinds):
    assert all(isinstance(ref, str) for ref in registry.BUILT_IN.values())
    kinds.register_entry_points([FakeEntryPoint("local", InProcessExecutor)])
    assert kinds.get("local").__name__ == "LocalExecutor"


def test_unknown_kind_is_named_before_any_step_runs(tmp_path, kinds):
    kinds.register_entry_points([])
    nb = write_pipeline(tmp_path, STEPS, toml=TOML.format(kind="slurm"))
    with pytest.raises(TargetError, match="target 'toy' uses executor kind 'slurm'"):
        run_pipeline(load_pipeline(nb), jobs=1)
    assert not list((tmp_path / ".mlpipe").glob("runs/*"))


def test_registry_import_is_light():
    import subprocess

    code = ("import sys, jupyter_mlpipe.executors.registry as r; r.kinds.get('local'); "
            "r.kinds.get('gateway'); r.kinds.get('dask'); "
            "print(sorted(m for m in ('papermill', 'nbformat', 'distributed', 'jupyter_server')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
