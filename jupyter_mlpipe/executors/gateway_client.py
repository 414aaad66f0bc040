"""One remote kernel through a Jupyter Kernel / Enterprise Gateway, driven from a batch process.

jupyter_server's GatewayKernelManager starts it over REST; a mended GatewayKernelClient talks to
it over the authenticated websocket. `probe_gateway` checks a gateway before a run starts.
jupyter_server's GatewayClient is a process-wide singleton, so one process talks to one gateway.
jupyter_server's gateway modules and websocket-client are imported in the functions: they are
optional (the `targets` extra), and this module is loaded to probe a target before we know
whether they are installed (executors/base.py: require_modules).
"""
from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
from queue import Empty
from typing import Any

from jupyter_core.utils import ensure_async, ensure_event_loop

from ..errors import TargetError
from ..store import serialize
from ..targets import Target
from . import heavy

_configured: dict[str, str] = {}
_saved: dict[str, Any] = {}  # the GatewayClient as it was before a run pointed it elsewhere
_config_lock = threading.Lock()


def configure_gateway(target: Target) -> None:
    """Point jupyter_server's GatewayClient singleton at the target's gateway, for this run.

    In a Jupyter server the singleton is also the server's own gateway setting: one that
    already uses a gateway is not redirected, and release_gateway() puts things back after."""
    heavy.import_kernel_client()  # not while another thread imports it
    from jupyter_server.gateway.gateway_client import GatewayClient  # optional: see top

    url = target.gateway.rstrip("/")
    with _config_lock:
        if _configured.get("url") not in (None, url):
            raise TargetError(
                f"target '{target.name}' uses gateway {url}, but this run already uses "
                f"{_configured['url']}; jupyter_server's gateway client serves one gateway per "
                "process. Run the steps of each gateway in separate runs (--only / --target).")
        if not _configured:
            had = GatewayClient.initialized()
            own = GatewayClient.instance().url if had else None
            if own and own.rstrip("/") != url:
                raise TargetError(
                    f"target '{target.name}' uses gateway {url}, but this Jupyter server "
                    f"itself runs its kernels on gateway {own}; run this target from "
                    "`mlpipe run` in a shell instead.")
            _saved.clear()
            _saved.update(had=had, url=own,
                          token=GatewayClient.instance().auth_token if had else None)
        gc = GatewayClient.instance()
        gc.url = url
        gc.auth_token = target.token()
        gc.request_timeout = max(gc.request_timeout, 60.0)
        gc.init_connection_args()
        _configured["url"] = url


def release_gateway() -> None:
    """Undo configure_gateway once a run's gateway steps are done."""
    heavy.import_kernel_client()  # not while another thread imports it
    from jupyter_server.gateway.gateway_client import GatewayClient  # optional: see top

    with _config_lock:
        if not _configured:
            return
        if _saved.get("had"):
            gc = GatewayClient.instance()
            gc.url, gc.auth_token = _saved["url"], _saved["token"]
        else:
            GatewayClient.clear_instance()
        _configured.clear()


class _PoliteQueue:
    """Mixed into jupyter_server's ChannelQueue: names its channel, sleeps while waiting."""

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
                await asyncio.sleep(delay)
                delay = min(0.005, delay + 0.0005)


def _channel(name: str, queue_class: type) -> property:
    attr = f"_{name}_channel"

    def get(self):
        if getattr(self, attr) is None:
            q = queue_class(name, self.channel_socket, self.log)
            setattr(self, attr, q)
            self._channel_queues[name] = q
        return getattr(self, attr)

    return property(get)


async def _start_channels(self, shell=True, iopub=True, stdin=True, hb=True, control=True):
    """Open the channels websocket with the gateway's Authorization header."""
    import websocket  # optional: see the module docstring
    from jupyter_client.asynchronous import AsyncKernelClient
    from jupyter_server.gateway.gateway_client import GatewayClient
    from jupyter_server.utils import url_escape, url_path_join

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


def _route_responses(self) -> None:
    """Hand each websocket message to its channel's queue; note a lost or restarted kernel."""
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


async def _is_alive(self) -> bool:
    return self.lost is None


def _client_class() -> type:
    """GatewayKernelClient, mended for batch use:
    - its websocket sends the token (upstream sends none: 401 on protected gateways);
    - it notices a dead or restarted kernel (upstream reports a restarted kernel as alive,
      so nbclient would wait forever for the reply of the cell that killed it);
    - waiting for a message sleeps instead of spinning a CPU core (upstream polls with
      asyncio.sleep(0))."""
    heavy.import_kernel_client()  # not while another thread imports it
    from jupyter_server.gateway.managers import (  # optional: see the module docstring
        ChannelQueue, GatewayKernelClient)

    queue = type("PoliteQueue", (_PoliteQueue, ChannelQueue), {})
    return type("AuthGatewayKernelClient", (GatewayKernelClient,), {
        "lost": None,
        **{f"{name}_channel": _channel(name, queue)
           for name in ("shell", "iopub", "stdin", "control")},
        "start_channels": _start_channels,
        "_route_responses": _route_responses,
        "_async_is_alive": _is_alive,
        "is_alive": _is_alive,
    })


class RemoteKernel:
    """One gateway kernel, its authenticated client, and this thread's event loop."""

    def __init__(self, target: Target, kernel_name: str):
        heavy.import_kernel_client()  # not while another thread imports it
        from jupyter_server.gateway.managers import GatewayKernelManager  # optional: see top

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
