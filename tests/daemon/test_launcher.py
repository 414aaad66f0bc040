"""`mlpipe`'s launcher: what it changes in its own process must not break imports there."""
from __future__ import annotations

import subprocess
import sys


def test_trimmed_imports_work_before_threading_is_imported():
    """The finder that hides papermill's remote I/O handlers in the preload thread asks which
    thread imports; installed before `threading` was imported, it recursed into its own import
    of `threading` (RecursionError), then met a half-imported module."""
    code = ("from jupyter_mlpipe.daemon.launcher import skip_unused_imports\n"
            "skip_unused_imports()\n"
            "import threading, json, decimal\n"
            "print(threading.current_thread().name)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "MainThread"


def test_papermill_imported_in_the_preload_thread_lacks_only_the_remote_handlers():
    """In the preload thread papermill imports without its S3/Azure/GCS handlers; any other
    thread of the process still finds the modules it hides."""
    code = ("import threading\n"
            "from jupyter_mlpipe.daemon.launcher import skip_unused_imports\n"
            "from jupyter_mlpipe.executors.heavy import PRELOAD_THREAD\n"
            "skip_unused_imports()\n"
            "t = threading.Thread(target=lambda: __import__('papermill'), "
            "name=PRELOAD_THREAD)\n"
            "t.start(); t.join()\n"
            "import sys\n"
            "print('papermill' in sys.modules, 'papermill.s3' in sys.modules)\n"
            "import papermill.s3\n"
            "print('papermill.s3' in sys.modules)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["True", "False", "True"]
