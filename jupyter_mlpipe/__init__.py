"""jupyter_mlpipe: notebook cells as cached, parallel pipeline steps.

Re-exports only; everything heavy is imported lazily so `mlpipe status` stays fast.
"""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["Pipeline", "__version__", "load_ipython_extension", "log_metric", "log_param"]


def load_ipython_extension(ipython):  # %load_ext jupyter_mlpipe
    from .magic import load_ipython_extension as load

    load(ipython)


def __getattr__(name: str):
    if name == "Pipeline":
        from .api import Pipeline

        return Pipeline
    if name in ("log_metric", "log_param"):
        from .interactive import tracking

        return getattr(tracking, name)
    raise AttributeError(name)


def _jupyter_server_extension_points() -> list[dict]:  # jupyter_server finds the REST API here
    return [{"module": "jupyter_mlpipe.server"}, {"module": "jupyter_mlpipe.daemon.with_server"}]


def _jupyter_labextension_paths() -> list[dict]:  # the prebuilt JupyterLab panel
    return [{"src": "labextension", "dest": "jupyter-mlpipe-labextension"}]
