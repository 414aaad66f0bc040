"""On a machine with GPUs, a step that asks for none sees none (kubeflow/kale#181)."""
from __future__ import annotations

from jupyter_mlpipe.executors import kernel_environment
from jupyter_mlpipe.targets import Target


def test_steps_without_gpus_see_none_on_a_gpu_machine(monkeypatch):
    monkeypatch.setattr(kernel_environment, "gpu_devices", lambda: [("0", "H100"), ("1", "H100")])
    assert kernel_environment.hidden_gpus(Target("local")) == {"CUDA_VISIBLE_DEVICES": ""}
    assert kernel_environment.hidden_gpus(Target("train", gpus=1)) == {}  # its own device, as before
    assert kernel_environment.hidden_gpus(Target("pinned", env={"CUDA_VISIBLE_DEVICES": "1"})) == {}
    monkeypatch.setattr(kernel_environment, "gpu_devices", lambda: [])
    assert kernel_environment.hidden_gpus(Target("local")) == {}  # no GPUs: the environment is unchanged


def test_dask_steps_without_gpus_see_none_on_the_worker():
    from jupyter_mlpipe.executors.remote_step import worker_env

    assert worker_env(Target("cluster", dask="local")) == {"CUDA_VISIBLE_DEVICES": ""}
    assert worker_env(Target("gpu", dask="local", resources={"GPU": 1})) == {}
    assert worker_env(Target("gpu", dask="local", gpus=1)) == {}
    assert worker_env(Target("pinned", dask="local", env={"CUDA_VISIBLE_DEVICES": "2"})) == {}
