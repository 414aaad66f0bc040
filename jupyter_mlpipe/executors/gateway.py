"""Steps on remote kernels of Jupyter Kernel / Enterprise Gateway; data moves over their channel.

Per step: start a kernel over the gateway's REST API (jupyter_server's GatewayKernelManager),
send remote_helper.py into it, push the step's input artifacts and --reads files in base64
chunks, run the warm-up and step notebooks with papermill on that kernel (MlpipeEngine), then
pull outputs and --writes files back as chunked display_data and adopt them into the local store.
jupyter_server's GatewayClient is a process-wide singleton, so one run talks to one gateway URL.
"""
from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from ..errors import StepExecutionError, TargetError
from ..store import serialize
from ..store.files import Store
from ..targets import Target
from .base import Executor, StepJob, _code, error_from_papermill, warmup_notebook
from .local import ENGINE, _save_combined, register_engine

CHUNK = 2 << 20  # raw bytes per message (base64 adds a third; gateways cap messages at 10 MiB)
_configured: dict[str, str] = {}
_config_lock = threading.Lock()


def _helper_source() -> str:
    return (Path(__file__).with_name("remote_helper.py")).read_text()


def configure_gateway(target: Target) -> None:
    """Point jupyter_server's GatewayClient singleton at the target's gateway."""
    from jupyter_server.gateway.gateway_client import GatewayClient

    url = target.gateway.rstrip("/")
    with _config_lock:
        if _configured.get("url") not in (None, url):
            raise TargetError(
                f"target '{target.name}' uses gateway {url}, but this run already uses "
                f"{_configured['url']}; jupyter_server's gateway client serves one gateway per "
                "process. Run the steps of each gateway in separate runs (--only / --target).")
        gc = GatewayClient.instance()
        gc.url = url
        gc.auth_token = target.token()
        gc.request_timeout = max(gc.request_timeout, 60.0)
        gc.init_connection_args()
        _configured["url"] = url


def _client_class():
    """GatewayKernelClient, mended for batch use:
    - its websocket sends the token (upstream sends none: 401 on protected gateways);
    - it notices a dead or restarted kernel (upstream reports a restarted kernel as alive,
      so nbclient would wait forever for the reply of the cell that killed it);
    - waiting for a message sleeps instead of spinning a CPU core (upstream polls with
      asyncio.sleep(0))."""
    import asyncio as aio
    from queue import Empty

    import websocket
    from jupyter_client.asynchronous import AsyncKernelClient
    from jupyter_core.utils import ensure_async
    from jupyter_server.gateway.gateway_client import GatewayClient
    from jupyter_server.gateway.managers import ChannelQueue, GatewayKernelClient
    from jupyter_server.utils import url_escape, url_path_join

    class PoliteQueue(ChannelQueue):
        def send(self, msg):
            msg["channel"] = self.channel_name  # else the gateway assumes shell (and warns)
            super().send(msg)

        async def _async_get(self, timeout=None):
            end = None if timeout is None else time.monotonic() + timeout
            delay = 0.0
            while True:
                try:
                    return self.get(block=False)
                except Empty:
                    if self.response_router_finished:
                        raise RuntimeError("Response router had finished") from None
                    if end is not None and time.monotonic() > end:
                        raise
                    await aio.sleep(delay)
                    delay = min(0.005, delay + 0.0005)

    def channel(name: str):
        attr = f"_{name}_channel"

        def get(self):
            if getattr(self, attr) is None:
                q = PoliteQueue(name, self.channel_socket, self.log)
                setattr(self, attr, q)
                self._channel_queues[name] = q
            return getattr(self, attr)

        return property(get)

    class AuthGatewayKernelClient(GatewayKernelClient):
        lost: str | None = None
        shell_channel = channel("shell")
        iopub_channel = channel("iopub")
        stdin_channel = channel("stdin")
        control_channel = channel("control")

        async def start_channels(self, shell=True, iopub=True, stdin=True, hb=True,
                                 control=True):
            gc = GatewayClient.instance()
            url = url_path_join(gc.ws_url or "", gc.kernels_endpoint, url_escape(self.kernel_id),
                                "channels")
            scheme = f"{gc.auth_scheme} " if gc.auth_scheme else ""
            header = [f"{gc.auth_header_key}: {scheme}{gc.auth_token}"] if gc.auth_token else []
            self.channel_socket = websocket.create_connection(
                url, timeout=gc.KERNEL_LAUNCH_TIMEOUT, enable_multithread=True, header=header)
            self.channel_socket.settimeout(None)  # a silent step may run for hours
            await ensure_async(AsyncKernelClient.start_channels(
                self, shell=shell, iopub=iopub, stdin=stdin, hb=hb, control=control))
            self.response_router = threading.Thread(target=self._route_responses, daemon=True)
            self.response_router.start()

        def _route_responses(self):
            try:
                while not self._channels_stopped:
                    raw = self.channel_socket.recv()
                    if not raw:
                        break
                    msg = json.loads(raw)
                    if msg.get("msg_type") == "status" and msg["content"].get(
                            "execution_state") in ("restarting", "dead"):
                        state = msg["content"]["execution_state"]
                        self.lost = f"the gateway reports the kernel {state}"
                    self._channel_queues[msg["channel"]].put_nowait(msg)
            except Exception as exc:  # noqa: BLE001 - closed socket, or shut down
                if not self._channels_stopped:
                    self.lost = self.lost or f"connection to the gateway lost ({exc})"
            if not self._channels_stopped:
                self.lost = self.lost or "connection to the gateway closed"
            for q in (self._channel_queues or {}).values():
                q.response_router_finished = True

        async def _async_is_alive(self) -> bool:
            return self.lost is None

        is_alive = _async_is_alive

    return AuthGatewayKernelClient


class RemoteKernel:
    """One gateway kernel, its authenticated client, and this thread's event loop."""

    def __init__(self, target: Target, kernel_name: str):
        from jupyter_core.utils import ensure_event_loop
        from jupyter_server.gateway.managers import GatewayKernelManager

        configure_gateway(target)
        self.loop = ensure_event_loop()
        self.km = GatewayKernelManager(kernel_name=kernel_name, client_factory=_client_class())
        self.kc = None
        try:
            self.run(self.km.start_kernel(kernel_name=kernel_name))
            self.kc = self.km.client()
            self.run(self.kc.start_channels())
            self.run(self.kc.wait_for_ready(timeout=60))
        except Exception as exc:
            self.shutdown()
            raise TargetError(f"target '{target.name}': cannot start kernel '{kernel_name}' on "
                              f"{target.gateway}: {exc}") from None

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def alive(self) -> bool:
        """False once the gateway lost the kernel, or the kernel restarted (its state is gone)."""
        if self.kc is None or self.kc.lost:
            return False
        try:
            model = self.run(self.km.refresh_model())
        except Exception:  # noqa: BLE001 - no answer is as good as dead
            return False
        return bool(model) and model.get("execution_state") not in ("dead", "restarting")

    def execute(self, code: str, on_display=None, timeout: float | None = None) -> None:
        """Run code; hand each display_data to on_display; raise on an error reply."""
        return self.run(self._execute(code, on_display, timeout))

    async def _execute(self, code, on_display, timeout):
        msg_id = self.kc.execute(code, store_history=False, allow_stdin=False)
        deadline = None if timeout is None else time.monotonic() + timeout
        idle = False
        error = None
        while not idle:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"no answer from the remote kernel in {timeout:.0f}s")
            try:
                msg = await self.kc.get_iopub_msg(timeout=1)
            except Exception:  # noqa: BLE001 - queue.Empty, or the socket went away
                if not await self._still_there():
                    raise ConnectionError("the remote kernel went away") from None
                continue
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "display_data" and on_display is not None:
                on_display(content)
            elif kind == "error":
                error = content
            elif kind == "status" and content.get("execution_state") == "idle":
                idle = True
            elif kind == "status" and content.get("execution_state") in ("restarting", "dead"):
                raise ConnectionError("the remote kernel died")
        if error is not None:
            raise RuntimeError(f"{error['ename']}: {error['evalue']}")

    async def _still_there(self) -> bool:
        return self.kc.lost is None

    def shutdown(self) -> None:
        try:
            if self.kc is not None:
                self.kc.stop_channels()
            if self.km.has_kernel:
                self.run(self.km.shutdown_kernel(now=True))
        except Exception:  # noqa: BLE001 - best effort; the gateway may be gone
            pass


def probe_gateway(target: Target, kernel_name: str, recorded: dict | None = None) -> dict[str, Any]:
    """The gateway answers and has the kernelspec; the kernel's Python version (for the key).

    The version is asked of a kernel only when the gateway's kernelspec differs from the one
    recorded last time, so a cached re-run costs one HTTP request."""
    import urllib.error
    import urllib.request

    url = target.gateway.rstrip("/")
    req = urllib.request.Request(url + "/api/kernelspecs")
    token = target.token()
    if token:
        req.add_header("Authorization", f"token {token}")
    try:
        with urllib.request.urlopen(req, timeout=target.timeout) as r:
            specs = json.loads(r.read())
    except urllib.error.HTTPError as exc:
        hint = (f" Check the token in ${target.token_env}." if exc.code in (401, 403)
                else "")
        raise TargetError(f"target '{target.name}': gateway {url} answered {exc.code} "
                          f"{exc.reason}.{hint}") from None
    except (OSError, ValueError) as exc:
        raise TargetError(
            f"target '{target.name}': gateway {url} is unreachable ({exc}). Start it, e.g. "
            f"`jupyter kernelgateway --KernelGatewayApp.ip=HOST --KernelGatewayApp.port=PORT "
            f"--KernelGatewayApp.auth_token=TOKEN`, or fix `gateway` in the targets file."
        ) from None
    if kernel_name not in specs.get("kernelspecs", {}):
        raise TargetError(f"target '{target.name}': gateway {url} has no kernel '{kernel_name}'; "
                          f"it has: {', '.join(sorted(specs.get('kernelspecs', {})))}. Set "
                          "`kernel` in the target.")
    spec = serialize.hasher().update(json.dumps(specs["kernelspecs"][kernel_name],
                                                sort_keys=True).encode()).hexdigest()
    if recorded and recorded.get("_kernelspec") == spec and "python" in recorded:
        return {"python": recorded["python"], "_kernelspec": spec}
    kernel = RemoteKernel(target, kernel_name)
    try:
        info = kernel.run(kernel.kc.kernel_info(reply=True, timeout=30))
        version = info["content"].get("language_info", {}).get("version", "?")
    finally:
        kernel.shutdown()
    return {"python": ".".join(version.split(".")[:2]), "_kernelspec": spec}


def adopt_artifact(store: Store, tmp: Path) -> str:
    """Move a received artifact file into the store under its content digest."""
    with open(tmp, "rb") as f:
        value = serialize.read_artifact(f)
    digest = serialize.digest_value(value)
    dest = store.value_path(digest)
    if dest.exists():
        tmp.unlink()
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, dest)
    return digest


class GatewayExecutor(Executor):
    """Up to --jobs remote kernels at once, one per step."""

    def __init__(self, pipeline, params, jobs, target: Target):
        super().__init__(pipeline, params, jobs)
        register_engine()
        self.target = target
        self.kernel_name = target.kernel_name(pipeline)

    def execute(self, job: StepJob) -> Any:
        try:
            kernel = RemoteKernel(self.target, self.kernel_name)
        except TargetError as exc:
            raise StepExecutionError(job.step.name, "GatewayLost", str(exc)) from None
        try:
            return self._run(kernel, job)
        finally:
            kernel.shutdown()

    # ---- one step ----------------------------------------------------------------------
    def _run(self, kernel: RemoteKernel, job: StepJob) -> Any:
        from nbclient.exceptions import DeadKernelError
        from papermill.exceptions import PapermillExecutionError

        store = Store(job.store_home)
        step = job.step
        out = job.notebook_path
        warm = None
        try:
            self._send_helper(kernel)
            for var, digest in job.inputs.items():
                self._push(kernel, store.value_path(digest), f".mlpipe-in/{digest}")
            for rel in step.reads:
                self._push_path(kernel, self.pipeline.root, rel)
            for rel in self._local_modules(job):  # the prelude's `import mylib` must work there
                self._push(kernel, self.pipeline.root / rel, rel)
            warm_nb = warmup_notebook(self.pipeline)
            warm_nb.cells[-1] = _code("# jupyter_mlpipe: inputs and outputs travel over this "
                                      "kernel's channel (remote_helper.py)", ["mlpipe-internal"])
            warm = self._papermill(kernel, warm_nb, None, self.params)
            executed = self._papermill(kernel, self._step_notebook(job), out, None)
            self._pull_results(kernel, job, store)
        except PapermillExecutionError as exc:
            _save_combined(warm, out)
            raise error_from_papermill(step.name, exc, str(out)) from None
        except (DeadKernelError, ConnectionError, TimeoutError, RuntimeError, OSError) as exc:
            if warm is not None:
                _save_combined(warm, out)
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
        _save_combined(warm, out, executed)
        return executed

    def _local_modules(self, job: StepJob) -> list[str]:
        """Project files the step or the prelude imports (the same ones its cache key hashes)."""
        from ..analysis import local_module_files, parse

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
                outputs[var] = adopt_artifact(store, tmp / "out" / var)
            for rel in got.get("files", []):
                self._pull(kernel, rel, tmp / "files" / rel)
                os.chmod(tmp / "files" / rel, got.get("modes", {}).get(rel, 0o644))
            writes = {}
            for w in job.step.writes:
                writes[w] = store.put_path(Path(w), tmp / "files")
                store.restore_path(w, writes[w], self.pipeline.root)  # as if written here
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        result = {"outputs": outputs, "writes": writes, "dropped": got.get("dropped", []),
                  "saved_at": time.time()}
        job.result_path.write_text(json.dumps(result))
        try:
            kernel.execute("_mlpipe_remote.end()", timeout=30)
        except (RuntimeError, ConnectionError, TimeoutError):
            pass  # the kernel is shut down next anyway

    def _step_notebook(self, job: StepJob) -> Any:
        import nbformat

        s = job.step
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": self.kernel_name, "display_name": self.kernel_name,
                                     "language": "python"}
        nb.metadata["mlpipe"] = {"step": s.name, "key": job.key, "run_id": job.run_id,
                                 "target": self.target.name, "gateway": self.target.gateway}
        load = "\n".join(f"{var} = _mlpipe_remote.load({'.mlpipe-in/' + d!r})"
                         for var, d in job.inputs.items())
        nb.cells.append(_code(load or "# no inputs", ["mlpipe-inputs"]))
        from .base import STEP_TAG

        body = _code(s.body, [STEP_TAG])
        body.metadata["mlpipe"] = {"notebook_cell": s.cell}
        nb.cells.append(body)
        nb.cells.append(_code(
            f"_mlpipe_remote.stage({s.name!r}, globals(), {list(s.outputs)!r}, "
            f"{s.outputs_declared!r}, {list(s.writes)!r})", ["mlpipe-outputs"]))
        return nb

    def _papermill(self, kernel: RemoteKernel, nb: Any, out: Path | None, parameters) -> Any:
        import nbformat
        import papermill

        asyncio.set_event_loop(kernel.loop)
        if out is None:  # warm-up: only its executed cells are kept, in memory
            fd, src = tempfile.mkstemp(suffix=".ipynb")
            os.close(fd)
        else:
            src = out.with_suffix(".input.ipynb")
        nbformat.write(nb, src)
        try:
            return papermill.execute_notebook(
                str(src), str(out) if out else None, parameters=parameters or None,
                engine_name=ENGINE, kernel_name=self.kernel_name, km=kernel.km, kc=kernel.kc,
                progress_bar=False, request_save_on_cell_execute=False, log_output=False)
        finally:
            os.unlink(src)
