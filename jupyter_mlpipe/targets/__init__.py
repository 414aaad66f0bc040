"""Compute targets: their configuration (config.py) and their environment for cache keys
(environment.py). Re-exports only; checking targets before a run is the executors' job
(executors/registry.py: check_targets), so nothing here imports an executor."""
from __future__ import annotations

from .config import LOCAL, LOCAL_KINDS, Target, Targets, find_config, load_targets, override_target
from .environment import (
    base_env, gpu_devices, key_env, local_env, local_kernel_python, read_recorded, record_env,
    recorded_envs)

__all__ = ["LOCAL", "LOCAL_KINDS", "Target", "Targets", "base_env", "find_config", "gpu_devices",
           "key_env", "load_targets", "local_env", "local_kernel_python", "override_target",
           "read_recorded", "record_env", "recorded_envs"]
