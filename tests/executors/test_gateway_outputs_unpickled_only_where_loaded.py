"""What a remote kernel sends back is never unpickled by the orchestrator: its bytes are checked
(transport digest, artifact structure) and signed into the store, and only a kernel that loads it
as an input, or the user, unpickles it, after checking that signature.

The output is an object whose unpickling leaves a file named by the unpickling process's pid.
"""
from __future__ import annotations

import hashlib
import os

import pytest

from jupyter_mlpipe.executors import remote_helper
from jupyter_mlpipe.executors.gateway import adopt_artifact
from jupyter_mlpipe.store.files import Store
from tests.helpers import write_pipeline

# Defined in the step, so cloudpickle sends the class by value: unpickling it runs __setstate__.
MARKER_CLASS = (
    "class Marker:\n"
    "    def __init__(self, folder):\n"
    "        self.folder = folder\n"
    "    def __setstate__(self, state):\n"
    "        import os\n"
    "        self.__dict__.update(state)\n"
    "        open(os.path.join(self.folder, f'unpickled-by-{os.getpid()}'), 'w').close()\n")


def unpicklers(folder) -> set[int]:
    return {int(p.name.rsplit("-", 1)[1]) for p in folder.glob("unpickled-by-*")}


def test_adopting_a_received_output_does_not_unpickle_it(tmp_path, monkeypatch):
    monkeypatch.setenv("MLPIPE_HOME", str(tmp_path / "store"))
    namespace: dict = {}
    exec(MARKER_CLASS + f"value = Marker({str(tmp_path)!r})", namespace)  # noqa: S102
    body = tmp_path / "received"
    remote_helper._dump(namespace["value"], body)  # as the remote kernel writes it
    sha = hashlib.sha256(body.read_bytes()).hexdigest()
    store = Store.for_notebook(tmp_path / "nb.ipynb")
    digest = adopt_artifact(store, body, sha, tmp_path)
    assert unpicklers(tmp_path) == set()  # checked and signed, not loaded
    assert store.verify_value(digest)
    loaded = store.get_value(digest)  # where the user loads it: now it runs
    assert loaded.folder == str(tmp_path) and unpicklers(tmp_path) == {os.getpid()}


@pytest.mark.slow
def test_a_gateway_step_output_is_loaded_only_downstream(tmp_path, gateway):
    from jupyter_mlpipe.pipeline.load import load_pipeline
    from jupyter_mlpipe.run.runner import run_pipeline
    from tests.targets.test_gateway import toml

    nb = write_pipeline(tmp_path, [
        f"%%step make --out m --target remote\n{MARKER_CLASS}m = Marker({str(tmp_path)!r})",
        "%%step use --in m --out folder\nfolder = m.folder",
    ], toml=toml(gateway))
    run = run_pipeline(load_pipeline(nb), jobs=1)
    assert run.ok, [s.error for s in run.failed]
    assert os.getpid() not in unpicklers(tmp_path)  # the orchestrator never unpickled it
    assert unpicklers(tmp_path)  # the downstream step's kernel did, to use it
    assert run.outputs("use")["folder"] == str(tmp_path)
    again = run_pipeline(load_pipeline(nb), jobs=1)  # and the stored result is reused
    assert {str(s.state) for s in again.steps.values()} == {"reused"}
