"""`mlpipe`'s launcher: what it changes in its own process (daemon/import_trims.py) must not
break imports there, and must change nothing outside papermill's preload thread."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

INSTALL = ("from jupyter_mlpipe.daemon import import_trims\n"
           "from jupyter_mlpipe.executors.heavy import PRELOAD_THREAD\n"
           "import_trims.install()\n")


def python(code: str) -> str:
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def in_preload_thread(statement: str) -> str:
    """`statement` run in a thread named as the preload thread, as heavy._preload runs."""
    return ("import threading\n"
            f"t = threading.Thread(target=lambda: exec({statement!r}, {{}}), "
            "name=PRELOAD_THREAD)\n"
            "t.start(); t.join()\n")


def test_trimmed_imports_work_before_threading_is_imported():
    """The finder that hides papermill's remote I/O handlers in the preload thread asks which
    thread imports; installed before `threading` was imported, it recursed into its own import
    of `threading` (RecursionError), then met a half-imported module."""
    code = ("from jupyter_mlpipe.daemon import import_trims\n"
            "import_trims.install()\n"
            "import threading, json, decimal\n"
            "print(threading.current_thread().name)\n")
    assert python(code).strip() == "MainThread"


@pytest.mark.parametrize("preloaded, hidden", [
    ("papermill", ["papermill.s3"]),  # papermill's handlers for remote notebooks
    ("nbformat", ["isoduration", "webcolors"]),  # jsonschema's optional format checkers
], ids=["remote handlers", "format checkers"])
def test_modules_hidden_in_the_preload_thread_are_found_by_any_other(preloaded, hidden):
    """Imported in the preload thread, papermill lacks its S3/Azure/GCS handlers and nbformat's
    jsonschema its string-format checkers; any other thread of the process still finds the
    modules hidden there."""
    for name in hidden:  # installed here (boto3; jsonschema[format-nongpl] via jupyter_server)
        if importlib.util.find_spec(name.split(".")[0]) is None:
            pytest.skip(f"{name} is not installed")
    code = (INSTALL + in_preload_thread(f"import {preloaded}") +
            "import sys, importlib\n"
            f"print({preloaded!r} in sys.modules, *[m in sys.modules for m in {hidden!r}])\n"
            f"for m in {hidden!r}:\n"
            "    importlib.import_module(m)\n"
            f"print(*[m in sys.modules for m in {hidden!r}])\n")
    assert python(code).split() == ["True", *["False"] * len(hidden), *["True"] * len(hidden)]


def test_papermill_in_the_preload_thread_leaves_requests_until_it_is_used():
    """papermill's `requests` is imported at its first use, by any thread, and then works as
    itself: papermill's HTTP handler and an `import requests` elsewhere both get the real one."""
    code = (INSTALL + in_preload_thread("import papermill") +
            "import sys, json\n"
            "before = 'requests.adapters' in sys.modules\n"
            "import papermill.iorw as io\n"
            "from requests.exceptions import ConnectionError as E\n"
            "import requests\n"
            "out = {'before': before, 'session': requests.Session.__module__,\n"
            "       'same': io.requests.get is requests.get, 'exc': E.__module__,\n"
            "       'real': type(sys.modules['requests']).__name__}\n"
            "try:\n"
            "    io.HttpHandler.read('http://127.0.0.1:9/nothing.ipynb')\n"
            "except Exception as e:\n"
            "    out['http'] = type(e).__module__\n"
            "print(json.dumps(out))\n")
    out = json.loads(python(code))
    assert out == {"before": False, "session": "requests.sessions", "same": True,
                   "exc": "requests.exceptions", "real": "module",
                   "http": "requests.exceptions"}


def test_plugin_scans_are_skipped_for_papermill_in_the_preload_thread_only(tmp_path):
    """An installed papermill I/O plugin is not imported by papermill in the preload thread;
    papermill's own engines and handlers, and ours, are registered; the plugin's entry point
    reads as usual from any other thread."""
    dist = tmp_path / "fake_io-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-io\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[papermill.io]\nfake:// = fake_io_plugin:Handler\n")
    (tmp_path / "fake_io_plugin.py").write_text("class Handler:\n    pass\n")
    code = (f"import sys\nsys.path.insert(0, {str(tmp_path)!r})\n" + INSTALL +
            in_preload_thread("import papermill") +
            "import entrypoints, json\n"
            "from papermill.engines import papermill_engines\n"
            "from papermill.iorw import papermill_io\n"
            "print(json.dumps({'engines': sorted(map(str, papermill_engines._engines)),\n"
            "  'local': type(papermill_io.get_handler('x.ipynb')).__name__,\n"
            "  'plugin imported': 'fake_io_plugin' in sys.modules,\n"
            "  'plugin seen': [e.name for e in entrypoints.get_group_all('papermill.io')]}))\n")
    out = json.loads(python(code))
    assert out == {"engines": ["None", "mlpipe", "nbclient"], "local": "LocalHandler",
                   "plugin imported": False, "plugin seen": ["fake://"]}
