"""A papermill engine that runs on a kernel someone already started and connected.

papermill's own nbclient engine starts a kernel per notebook; nbclient then makes a new client
and waits for it (about 0.2 s). Handing over a ready client brings a call to about 15 ms.
papermill finds it as engine `mlpipe` through the `papermill.engine` entry point in
pyproject.toml, which names this module path: keep it.
"""
from __future__ import annotations

import logging

from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, logger


class _KernelDiedFilter(logging.Filter):
    """Drops nbclient's "Kernel died while waiting for execute reply." A failed run kills
    its spare kernels while they still run the warm-up cells (executor.close(now=True)), and
    nbclient logs that line for each; a kernel that really dies under a step is reported by
    the executor as the step's own error (StepExecutionError(kernel_died=True))."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Kernel died while waiting")


logger.addFilter(_KernelDiedFilter())


class MlpipeEngine(NBClientEngine):
    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None,
                                 stderr_file=None, start_timeout=60, execution_timeout=None,
                                 km=None, kc=None, **kwargs):
        if km is None:  # nothing started for us: behave like papermill's default engine
            return super().execute_managed_notebook(
                nb_man, kernel_name, log_output=log_output, stdout_file=stdout_file,
                stderr_file=stderr_file, start_timeout=start_timeout,
                execution_timeout=execution_timeout, **kwargs)
        client = PapermillNotebookClient(
            nb_man, km=km, kernel_name=kernel_name, timeout=execution_timeout,
            startup_timeout=start_timeout, log=logger, log_output=log_output,
            stdout_file=stdout_file, stderr_file=stderr_file)
        client.kc = kc
        return client.execute()
