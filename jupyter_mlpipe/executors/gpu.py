"""Local GPU steps: each running step gets its own CUDA_VISIBLE_DEVICES; its notebook says which.

`assign_devices` is the whole policy and a pure function; `DevicePool` adds waiting. A GPU
kernel is started for its step (the device must be fixed before the kernel starts), so these
steps do not use the warm-kernel slots of LocalExecutor: a thread per running step. Forked
kernels get CUDA_VISIBLE_DEVICES in their os.environ before any user code runs, and the
template never imports a CUDA library (forkserver.CUDA_MODULES), so forking is safe here too.
"""
from __future__ import annotations

import concurrent.futures as cf
import threading
from pathlib import Path
from typing import Any, Sequence

from ..errors import TargetError
from ..models import PipelineSpec
from ..kernels.template_pool import TemplateLoan
from ..targets import Target, gpu_devices, local_env
from .base import StepJob, StepOutcome
from .kernels import KernelExecutor
from .notebooks import code_cell, warmup_notebook


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


class GpuExecutor(KernelExecutor):
    """At most (devices // gpus) steps at once, each on devices no other running step has."""

    def __init__(self, pipeline: PipelineSpec, params: dict[str, Any], jobs: int,
                 target: Target, devices: Sequence[tuple[str, str]] | None = None, *,
                 templates: TemplateLoan | None = None):
        devices = list(devices if devices is not None else gpu_devices())
        self.names = dict(devices)
        self.device_pool = DevicePool([i for i, _ in devices])
        slots = max(1, len(devices) // max(1, target.gpus))
        super().__init__(pipeline, params, min(jobs, slots), target, templates=templates)
        self._threads = cf.ThreadPoolExecutor(max_workers=self.jobs,
                                              thread_name_prefix="mlpipe-gpu-step")

    @staticmethod
    def probe(pipeline: PipelineSpec, target: Target, home: Path) -> dict[str, Any]:
        found = len(gpu_devices())
        if found < target.gpus:
            raise TargetError(
                f"target '{target.name}' asks for {target.gpus} GPU(s), but nvidia-smi lists "
                f"{found} here. Run those steps on a machine with GPUs, or use another --target.")
        return local_env(pipeline, target)

    def submit(self, job: StepJob) -> cf.Future:
        return self._threads.submit(self.run_step, job)

    def run_step(self, job: StepJob) -> StepOutcome:
        """Wait for free devices, start a kernel that sees only them, run the step on it."""
        import nbformat  # heavy (about 1 s): kept out of a warm re-run, which only probes

        got = self.device_pool.acquire(self.target.gpus)
        visible = ",".join(got)
        model = ", ".join(sorted({self.names.get(d, "?") for d in got}))
        try:
            kernel, warm, error = None, None, None
            try:
                kernel = self.start_kernel({**self.env, "CUDA_VISIBLE_DEVICES": visible})
                warm = warmup_notebook(self.pipeline)
                warm.cells.append(code_cell(
                    f"print('jupyter_mlpipe: step {job.step.name} runs on GPU {visible} "
                    f"({model})')", ["mlpipe-internal"]))
                warm = self.warm_up(kernel, warm)
            except Exception as exc:  # noqa: BLE001 - reported on the step
                error = exc
            try:
                outcome = self.finish(kernel, warm, error, job)
            finally:
                if kernel is not None:
                    self.stop_kernel(kernel)
        finally:
            self.device_pool.release(got)
        nb = nbformat.read(job.notebook_path, as_version=4)
        nb.metadata.setdefault("mlpipe", {})["device"] = {
            "CUDA_VISIBLE_DEVICES": visible, "gpu": model}
        nbformat.write(nb, job.notebook_path)
        return outcome

    def close(self, now: bool = False) -> None:
        self.close_kernels(now)
        self._threads.shutdown(wait=not now, cancel_futures=now)
        self.close_template()
