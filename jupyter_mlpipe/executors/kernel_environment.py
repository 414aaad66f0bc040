"""The environment of a target's local kernels and of the template they are forked from.

A module of its own, light to import: `mlpipe run` computes it first thing, to spawn the kernel
template before it imports the rest of the run (executors/ahead.py, issue 24)."""
from __future__ import annotations

import os

from ..kernels import readlog
from ..targets import Target, gpu_devices


def hidden_gpus(target: Target) -> dict[str, str]:
    """A step that asks for no GPU sees none (kubeflow/kale#181), unless its env says which."""
    if target.gpus or "CUDA_VISIBLE_DEVICES" in target.env or not gpu_devices():
        return {}
    return {"CUDA_VISIBLE_DEVICES": ""}


def kernel_env(target: Target) -> dict[str, str]:
    """The environment of a target's kernels, and of the template they are forked from: with
    the read log's library preloaded (files C code and subprocesses read, kernels/readlog.py)."""
    env = {**os.environ, **hidden_gpus(target), **target.env,
           "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    return env if os.environ.get("MLPIPE_NO_MANIFEST") else readlog.with_preload(env)
