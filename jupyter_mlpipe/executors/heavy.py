"""The heavy packages a run imports in threads, imported by one thread at a time.

A run imports papermill (with nbformat, nbclient and jupyter_client) in a preload thread while
the threads that start kernels import jupyter_client: two threads inside one package's circular
imports can each be handed the other's module half initialised ("cannot import name
'AsyncKernelManager' from partially initialized module"). Their first imports go through the
functions below; once done, a call costs a set lookup. jupyter_client has a lock of its own, so
a thread starting a kernel never waits for papermill's import, only for jupyter_client's.
"""
from __future__ import annotations

import importlib
import logging
import threading

from .. import timings

log = logging.getLogger(__name__)
PRELOAD_THREAD = "mlpipe-preload"  # `mlpipe` trims papermill's imports in it (import_trims.py)

KERNEL_CLIENT = ("jupyter_core.utils", "jupyter_client", "jupyter_client.manager")
# what running a notebook on a kernel takes, beyond jupyter_client (engine: papermill.engine)
NOTEBOOKS = ("nbformat", "nbclient", "nbclient.exceptions", "papermill", "papermill.exceptions",
             "jupyter_mlpipe.executors.engine")

_client_lock = threading.Lock()
_notebooks_lock = threading.Lock()
_done: set[str] = set()


def start_preload() -> None:
    """Import papermill in a thread of its own while the first kernel starts (once: a second
    thread finds it imported)."""
    threading.Thread(target=_preload, name=PRELOAD_THREAD, daemon=True).start()


def _preload() -> None:
    try:
        import_notebooks()  # jupyter_client first: a kernel thread waits for that part only
        timings.mark("papermill imported (preload)")
        _build_validator()
        timings.mark("notebook schema validator built (preload)")
    except Exception:  # noqa: BLE001 - the step imports it again and reports what fails
        log.debug("preloading papermill failed", exc_info=True)


def _build_validator() -> None:
    """nbformat compiles its schema validator (fastjsonschema: ~0.035 s here) the first time a
    notebook is built or checked: the warm-up's notebook did, after the kernel was up. Built
    here, it is done while the first kernel still starts."""
    from nbformat.v4 import new_notebook

    new_notebook()


def import_kernel_client() -> None:
    """jupyter_client, waiting while another thread imports it."""
    _import(KERNEL_CLIENT, _client_lock)


def import_nbformat() -> None:
    """nbformat alone (building a notebook), waiting while another thread imports it."""
    _import(("nbformat",), _notebooks_lock)


def import_notebooks() -> None:
    """jupyter_client, then papermill, nbclient and nbformat, waiting while another thread
    imports them."""
    import_kernel_client()
    _import(NOTEBOOKS, _notebooks_lock)


def _import(modules: tuple[str, ...], lock: threading.Lock) -> None:
    if _done.issuperset(modules):
        return
    with lock:
        for name in modules:
            if name not in _done:
                importlib.import_module(name)
                _done.add(name)
