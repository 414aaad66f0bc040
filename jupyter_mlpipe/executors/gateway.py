"""Steps on remote kernels of Jupyter Kernel / Enterprise Gateway; data moves over their channel.

Per step: start a kernel over the gateway's REST API (jupyter_server's GatewayKernelManager),
send remote_helper.py into it, push the step's input artifacts and --reads files in base64
chunks, run the warm-up and step notebooks with papermill on that kernel (MlpipeEngine), then
pull outputs and --writes files back as chunked display_data and adopt them into the local store.
While steps run, the next kernels are started (and sent the helper) ahead, up to --jobs of them,
as `expect` says more steps may come: a step finds its kernel ready instead of waiting for one.
"""
from __future__ import annotations

import asyncio
import base64
import concurrent.futures as cf
import hashlib
import json
import os
import shutil
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from ..pipeline.analysis import local_module_files, parse
from ..errors import StepExecutionError, TargetError
from ..models import PipelineSpec
from ..store import serialize
from ..store.files import Store
from ..store.received import received_name
from ..targets import Target, base_env, read_recorded
from .base import Executor, StepJob, StepOutcome, read_result, require_modules
from .gateway_client import RemoteKernel, probe_gateway, release_gateway
from .live_log import LogFile
from .notebooks import code_cell, step_notebook, warmup_notebook
from .papermill import error_from_papermill, run_papermill, save_combined, timeout_error

CHUNK = 2 << 20  # raw bytes per message (base64 adds a third; gateways cap messages at 10 MiB)


def _helper_source() -> str:
    return (Path(__file__).with_name("remote_helper.py")).read_text()


def adopt_artifact(store: Store, tmp: Path, sha256: str | None, root: Path) -> str:
    """Check a received artifact body against the digest the remote sent and its structure,
    then sign it into the store (the remote never sees the signing key). It is never unpickled
    here: the kernels that load it as an input, or the user, do, after checking our signature.
    Its name is a digest of its bytes (store/received.py), not of its value."""
    h = hashlib.sha256()
    with open(tmp, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
        if h.hexdigest() != sha256:
            raise TargetError(f"an output arrived damaged from the remote kernel ({tmp.name}); "
                              "run the step again.")
        f.seek(0)
        try:
            digest, content = received_name(f, root)
        except (serialize.ArtifactDamaged, serialize.ArtifactUnsigned) as exc:
            raise TargetError(f"an output from the remote kernel ({tmp.name}) is not an "
                              f"artifact this version writes ({exc}); it was not stored. Check "
                              "that the gateway runs the same jupyter_mlpipe helper, and run "
                              "the step again.") from None
    store.adopt_value(tmp, digest, content)
    return digest


def check_remote(target: Target, kernel_name: str, manifest: dict) -> list[str]:
    """Why what a step read on the remote host (remote_helper's manifest) no longer holds,
    asked of a fresh kernel there ([]: it holds); TargetError if none starts."""
    kernel = RemoteKernel(target, kernel_name)
    try:
        src = _helper_source()
        got: dict[str, Any] = {}
        kernel.execute(
            "import types as _t\n_mlpipe_remote = _t.ModuleType('_mlpipe_remote')\n"
            f"exec(compile({src!r}, 'jupyter_mlpipe/remote_helper.py', 'exec'), "
            "_mlpipe_remote.__dict__)\n"
            f"_mlpipe_remote.begin({target.env!r})\n"
            f"_mlpipe_remote.check(__import__('json').loads({json.dumps(manifest)!r}))",
            lambda c: got.update(c["data"].get("application/x-mlpipe-info", {})), timeout=120)
        return list(got.get("reasons", ["the remote kernel did not answer the check"]))
    finally:
        kernel.shutdown()


class GatewayExecutor(Executor):
    """Up to --jobs remote kernels at once, one per step."""

    def __init__(self, pipeline: PipelineSpec, params: dict[str, Any], jobs: int,
                 target: Target):
        self.pipeline, self.params, self.jobs = pipeline, params, max(1, jobs)
        self.target = target
        self.kernel_name = target.kernel_name(pipeline)
        self._threads = cf.ThreadPoolExecutor(max_workers=self.jobs,
                                              thread_name_prefix="mlpipe-gateway-step")
        self._starter = cf.ThreadPoolExecutor(max_workers=1,
                                              thread_name_prefix="mlpipe-gateway-start")
        self._lock = threading.Lock()
        self._ahead: list[cf.Future] = []  # kernels started ahead, not yet given a step

    @staticmethod
    def probe(pipeline: PipelineSpec, target: Target, home: Path) -> dict[str, Any]:
        require_modules(target, "jupyter_server", "websocket")
        return {**base_env(pipeline, target),
                **probe_gateway(target, target.kernel_name(pipeline),
                                read_recorded(home, target.name))}

    def expect(self, n: int) -> None:
        """Start kernels ahead for up to n more steps (at most --jobs waiting at once)."""
        with self._lock:
            while len(self._ahead) < min(n, self.jobs):
                self._ahead.append(self._starter.submit(self._new_kernel))

    def submit(self, job: StepJob) -> cf.Future:
        return self._threads.submit(self.run_step, job)

    def close(self, now: bool = False) -> None:
        self._threads.shutdown(wait=not now, cancel_futures=now)
        with self._lock:
            ahead, self._ahead = self._ahead, []
        self._starter.shutdown(wait=False, cancel_futures=True)
        for fut in ahead:
            if fut.cancel():
                continue
            try:
                fut.result(timeout=None if not now else 10).shutdown()
            except Exception:  # noqa: BLE001 - it never came up: nothing to stop
                pass
        release_gateway()

    def _new_kernel(self) -> RemoteKernel:
        """A kernel on the gateway with remote_helper.py loaded (TargetError if none starts)."""
        kernel = RemoteKernel(self.target, self.kernel_name)
        try:
            self._send_helper(kernel)
        except Exception as exc:  # noqa: BLE001 - reported as the kernel failing to start
            kernel.shutdown()
            raise TargetError(f"target '{self.target.name}': the kernel did not take "
                              f"remote_helper.py: {type(exc).__name__}: {exc}") from None
        return kernel

    def _take_kernel(self) -> RemoteKernel:
        """A kernel started ahead if one is (or comes) up, else one started now."""
        with self._lock:
            fut = self._ahead.pop(0) if self._ahead else None
        if fut is not None:
            try:
                kernel = fut.result()
                asyncio.set_event_loop(kernel.loop)  # it was started in the starter thread
                if kernel.alive():
                    return kernel
                kernel.shutdown()
            except (TargetError, cf.CancelledError):
                pass  # starting it again below says what is wrong
        return self._new_kernel()

    def run_step(self, job: StepJob) -> StepOutcome:
        job.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            kernel = self._take_kernel()
        except TargetError as exc:
            raise StepExecutionError(job.step.name, "GatewayLost", str(exc)) from None
        try:
            return read_result(job, self._run(kernel, job))
        finally:
            kernel.shutdown()

    # ---- one step ----------------------------------------------------------------------
    def _run(self, kernel: RemoteKernel, job: StepJob) -> Any:
        # heavy (about 1.2 s): kept out of a warm re-run, which loads this class only to probe
        from nbclient.exceptions import CellTimeoutError, DeadKernelError
        from papermill.exceptions import PapermillExecutionError

        store = Store(job.store_home)
        step = job.step
        out = job.notebook_path
        warm = None
        try:
            for var, digest in job.inputs.items():
                self._push(kernel, store.value_path(digest), f".mlpipe-in/{digest}")
            for rel in step.reads:
                self._push_path(kernel, self.pipeline.root, rel)
            for rel in self._local_modules(job):  # the prelude's `import mylib` must work there
                self._push(kernel, self.pipeline.root / rel, rel)
            kernel.execute("_mlpipe_remote.record()", timeout=60)  # before the prelude
            warm_nb = warmup_notebook(self.pipeline, record=False)
            warm_nb.cells[-1] = code_cell("# jupyter_mlpipe: inputs and outputs travel over this "
                                      "kernel's channel (remote_helper.py)", ["mlpipe-internal"])
            warm = self._papermill(kernel, warm_nb, None, self.params)
            log = LogFile(job.run_dir / f"{step.name}.log")  # the view's live log
            try:
                executed = self._papermill(kernel, self._step_notebook(job), out, None,
                                           job.timeout, log)
            finally:
                log.close()
            self._pull_results(kernel, job, store)
        except PapermillExecutionError as exc:
            save_combined(warm, out)
            raise error_from_papermill(step.name, exc, str(out)) from None
        except CellTimeoutError:  # its remote kernel is shut down below (run_step)
            save_combined(warm, out)
            raise timeout_error(step.name, job.timeout, str(out),
                                "stopped: its remote kernel was shut down") from None
        except (DeadKernelError, ConnectionError, TimeoutError, RuntimeError, OSError) as exc:
            if warm is not None:
                save_combined(warm, out)
            dead = isinstance(exc, DeadKernelError) or not kernel.alive()
            if not dead:  # e.g. the remote side lacks cloudpickle, or a local read failed
                raise StepExecutionError(step.name, "TransferError",
                                         f"moving data to or from the remote kernel failed: "
                                         f"{type(exc).__name__}: {exc}",
                                         notebook=str(out)) from None
            why = ((kernel.kc.lost if kernel.kc is not None else None)
                   or f"{type(exc).__name__}: {exc}")
            raise StepExecutionError(
                step.name, "KernelLost", f"remote kernel on {self.target.gateway}: {why}",
                notebook=str(out),
                kernel_died=True) from None
        save_combined(warm, out, executed)
        return executed

    def _local_modules(self, job: StepJob) -> list[str]:
        """Project files the step or the prelude imports (the same ones its cache key hashes)."""
        root = self.pipeline.root.resolve()
        sources = [job.step.body] + [src for _, src in self.pipeline.prelude_cells]
        files: set[str] = set()
        for src in sources:
            try:
                tree = parse(src)
            except Exception:  # noqa: BLE001 - the key computation reported it already
                continue
            files.update(f.relative_to(root).as_posix() for f in local_module_files(tree, root))
        return sorted(files)

    def _send_helper(self, kernel: RemoteKernel) -> None:
        src = _helper_source()
        kernel.execute(
            "import types as _t\n_mlpipe_remote = _t.ModuleType('_mlpipe_remote')\n"
            f"exec(compile({src!r}, 'jupyter_mlpipe/remote_helper.py', 'exec'), "
            "_mlpipe_remote.__dict__)\n"
            f"_mlpipe_remote.begin({self.target.env!r})\ndel _t", timeout=60)

    def _push(self, kernel: RemoteKernel, src: Path, dest: str) -> None:
        with open(src, "rb") as f:
            offset = 0
            while True:
                block = f.read(CHUNK)
                if not block and offset:
                    break
                kernel.execute(f"_mlpipe_remote.put({dest!r}, "
                               f"{base64.b64encode(block).decode()!r}, {offset})", timeout=300)
                offset += len(block)
                if not block:
                    break

    def _push_path(self, kernel: RemoteKernel, root: Path, rel: str) -> None:
        full = root / rel
        files = sorted(p for p in full.rglob("*") if p.is_file()) if full.is_dir() else [full]
        for p in files:
            self._push(kernel, p, p.relative_to(root).as_posix())

    def _pull(self, kernel: RemoteKernel, path: str, dest: Path) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(dest, "wb") as f:
            def write(content: dict) -> None:
                chunk = content["data"].get("application/x-mlpipe-chunk")
                if chunk is not None:
                    f.seek(content["metadata"]["offset"])
                    f.write(base64.b64decode(chunk))

            kernel.execute(f"_mlpipe_remote.send({path!r}, {CHUNK})", write, timeout=None)

    def _pull_results(self, kernel: RemoteKernel, job: StepJob, store: Store) -> None:
        got: dict[str, Any] = {}
        kernel.execute("_mlpipe_remote.info()",
                       lambda c: got.update(c["data"].get("application/x-mlpipe-info", {})),
                       timeout=60)
        tmp = store.tmp / f"remote-{uuid.uuid4().hex}"
        try:
            outputs = {}
            for var, path in got.get("outputs", {}).items():
                self._pull(kernel, path, tmp / "out" / var)
                outputs[var] = adopt_artifact(store, tmp / "out" / var,
                                              got.get("sha256", {}).get(var),
                                              self.pipeline.root)
            for rel in got.get("files", []):
                self._pull(kernel, rel, tmp / "files" / rel)
                os.chmod(tmp / "files" / rel, got.get("modes", {}).get(rel, 0o644))
            writes = {}
            for w in job.step.writes:
                writes[w] = store.put_path(Path(w), tmp / "files")
                store.restore_path(w, writes[w], self.pipeline.root)  # as if written here
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        remote = got.get("manifest") or {}
        result = {"outputs": outputs, "writes": writes, "dropped": got.get("dropped", []),
                  "saved_at": time.time(),
                  "manifest": {"remote": {"target": self.target.name, **remote}}}
        job.result_path.write_text(json.dumps(result))
        try:
            kernel.execute("_mlpipe_remote.end()", timeout=30)
        except (RuntimeError, ConnectionError, TimeoutError):
            pass  # the kernel is shut down next anyway

    def _step_notebook(self, job: StepJob) -> Any:
        """The local step notebook, loading and saving through remote_helper instead."""
        s = job.step
        nb = step_notebook(job, self.kernel_name, self.pipeline)
        nb.metadata["mlpipe"].update(target=self.target.name, gateway=self.target.gateway)
        inputs = next(c for c in nb.cells if "mlpipe-inputs" in c.metadata.get("tags", []))
        inputs.source = "\n".join(
            f"{var} = _mlpipe_remote.load({'.mlpipe-in/' + d!r})"
            for var, d in job.inputs.items()) or "# no inputs"
        nb.cells[-1].source = (f"_mlpipe_remote.stage({s.name!r}, globals(), {list(s.outputs)!r}, "
                               f"{s.outputs_declared!r}, {list(s.writes)!r})")
        return nb

    def _papermill(self, kernel: RemoteKernel, nb: Any, out: Path | None, parameters,
                   timeout: float | None = None, log: LogFile | None = None) -> Any:
        asyncio.set_event_loop(kernel.loop)
        return run_papermill(nb, out, self.kernel_name, kernel.km, kernel.kc, parameters,
                             timeout, log)
