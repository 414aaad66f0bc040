"""Local GPU steps: each running step gets its own CUDA_VISIBLE_DEVICES; its notebook says which.

`assign_devices` is the whole policy and a pure function; `DevicePool` adds waiting. A GPU
kernel is started for its step (the device must be fixed before the kernel starts), so these
steps do not use the warm-kernel slots of LocalExecutor.
"""
from __future__ import annotations

import threading
from typing import Any, Sequence

from ..errors import TargetError
from ..targets import Target, gpu_devices
from .base import Executor, StepJob, _code, warmup_notebook
from .local import LocalExecutor, _Kernel


def assign_devices(devices: Sequence[str], busy: set[str] | frozenset[str],
                   want: int) -> list[str] | None:
    """The first `want` devices not busy, in listed order; None if fewer are free."""
    if want <= 0:
        return []
    free = [d for d in devices if d not in busy]
    return free[:want] if len(free) >= want else None


class DevicePool:
    """Hands out device indices; `acquire` waits until enough are free."""

    def __init__(self, devices: Sequence[str]):
        self.devices = list(devices)
        self.busy: set[str] = set()
        self._cond = threading.Condition()

    def acquire(self, want: int) -> list[str]:
        if want > len(self.devices):
            raise TargetError(f"a step asks for {want} GPU(s); this machine has "
                              f"{len(self.devices)}")
        with self._cond:
            while (got := assign_devices(self.devices, self.busy, want)) is None:
                self._cond.wait()
            self.busy.update(got)
            return got

    def release(self, got: Sequence[str]) -> None:
        with self._cond:
            self.busy.difference_update(got)
            self._cond.notify_all()


class GpuExecutor(LocalExecutor):
    """At most (devices // gpus) steps at once, each on devices no other running step has."""

    def __init__(self, pipeline, params, jobs, target: Target,
                 devices: Sequence[tuple[str, str]] | None = None):
        devices = list(devices if devices is not None else gpu_devices())
        self.names = dict(devices)
        self.target = target
        self.pool = DevicePool([i for i, _ in devices])
        slots = max(1, len(devices) // max(1, target.gpus))
        super().__init__(pipeline, params, min(jobs, slots), env=target.env or None)

    def expect(self, n: int) -> None:  # no warm kernels: the device is chosen per step
        return None

    def submit(self, job: StepJob):
        return Executor.submit(self, job)

    def execute(self, job: StepJob) -> Any:
        import nbformat

        got = self.pool.acquire(self.target.gpus)
        visible = ",".join(got)
        model = ", ".join(sorted({self.names.get(d, "?") for d in got}))
        try:
            env = {**self.env, "CUDA_VISIBLE_DEVICES": visible}
            kernel = _Kernel(self.target.kernel_name(self.pipeline), str(self.pipeline.root), env)
            try:
                warm = warmup_notebook(self.pipeline)
                warm.cells.append(_code(
                    f"print('jupyter_mlpipe: step {job.step.name} runs on GPU {visible} "
                    f"({model})')", ["mlpipe-internal"]))
                warm = self._run_papermill(kernel, warm, None, parameters=self.params)
                nb = self._execute_on(kernel, warm, job)
            finally:
                kernel.shutdown()
        finally:
            self.pool.release(got)
        nb.metadata.setdefault("mlpipe", {})["device"] = {
            "CUDA_VISIBLE_DEVICES": visible, "gpu": model}
        nbformat.write(nb, job.notebook_path)
        return nb

    def close(self, now: bool = False) -> None:
        Executor.close(self, now)
