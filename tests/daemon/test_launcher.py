"""`mlpipe`'s launcher: what it changes in its own process (daemon/import_trims.py) must not
break imports there, and must change nothing outside papermill's preload thread."""
from __future__ import annotations

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


def test_papermill_imported_in_the_preload_thread_lacks_only_the_remote_handlers():
    """In the preload thread papermill imports without its S3/Azure/GCS handlers; any other
    thread of the process still finds the modules it hides."""
    code = (INSTALL + in_preload_thread("import papermill") +
            "import sys\n"
            "print('papermill' in sys.modules, 'papermill.s3' in sys.modules)\n"
            "import papermill.s3\n"
            "print('papermill.s3' in sys.modules)\n")
    assert python(code).split() == ["True", "False", "True"]


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


def test_string_format_checkers_look_missing_in_the_preload_thread_only():
    """jsonschema's optional format checkers are not imported with nbformat in the preload
    thread; imported by another thread they are there."""
    for name in ("isoduration", "webcolors"):  # jsonschema[format-nongpl], via jupyter_server
        pytest.importorskip(name)
    code = (INSTALL + in_preload_thread("import nbformat, jsonschema") +
            "import sys\n"
            "print('isoduration' in sys.modules, 'webcolors' in sys.modules)\n"
            "import isoduration, webcolors\n"
            "print('isoduration' in sys.modules)\n")
    assert python(code).split() == ["False", "False", "True"]
