"""A server run that outlives the server's event loop (Jupyter stopped mid-run) finishes and is
recorded, without `RuntimeError: Event loop is closed` in its thread."""
from __future__ import annotations

import asyncio
import threading
import time

from jupyter_mlpipe.server.runs import RunManager
from jupyter_mlpipe.store.files import Store
from jupyter_mlpipe.store.history import History


def test_a_run_outliving_the_loop_finishes_quietly(make_nb, monkeypatch):
    path = make_nb(["%%step first --out x\nx = 1",
                    "%%step slow --in x --out y\nimport time\ntime.sleep(2)\ny = x + 1"])
    errors: list[BaseException] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: errors.append(args.exc_value))
    loop = asyncio.new_event_loop()
    manager = RunManager(str(path.parent), loop)
    job = loop.run_until_complete(manager.start(path, path.name, jobs=1))
    loop.close()  # the server stops; the run thread goes on
    end = time.time() + 120
    while not job.done and time.time() < end:
        time.sleep(0.2)
    time.sleep(0.5)  # the thread's last emit happens after `done`
    assert errors == []
    assert job.state == "succeeded", job.error
    history = History(Store.for_notebook(path).home)
    assert history.run(job.run_id)["state"] == "succeeded"
    history.close()
