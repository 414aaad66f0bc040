"""Which steps wait for which: files handed between steps without --writes (run/handoffs.py)."""
from __future__ import annotations

from jupyter_mlpipe.pipeline.graph import Graph
from jupyter_mlpipe.pipeline.load import load_pipeline
from jupyter_mlpipe.run.handoffs import handoffs
from jupyter_mlpipe.run.manifest import Manifest
from tests.helpers import write_notebook


def _waits(tmp_path, cells, manifests=None):
    spec = load_pipeline(write_notebook(tmp_path / "p.ipynb", cells))
    graph = Graph(spec)
    found = {n: (manifests or {}).get(n) for n in graph.names}
    return {n: sorted(w) for n, w in handoffs(spec, graph, graph.names, found).items()}


def test_without_manifests_a_shared_path_literal_orders_the_steps(tmp_path):
    # make -> (mid.txt) -> use; other reads nothing of theirs
    assert _waits(tmp_path, [
        "%%step make\nopen('mid.txt', 'w').write('x')",
        "%%step other --out n\nn = 1",
        "%%step use\nprint(open('./mid.txt').read())",
    ]) == {"make": [], "other": [], "use": ["make"]}


def test_manifests_say_who_writes_what_the_other_reads(tmp_path):
    cells = ["%%step make\nopen(NAME, 'w').write('x')", "%%step use\nprint(open(NAME).read())",
             "%%step unrelated\nprint(open(NAME).read())"]
    manifests = {"make": Manifest(wrote=("work/mid.txt",)),
                 "use": Manifest(files={"work/mid.txt": "d"}),
                 "unrelated": Manifest(files={"other.txt": "d"})}
    assert _waits(tmp_path, cells, manifests) == {"make": [], "use": ["make"], "unrelated": []}


def test_a_wait_never_closes_a_cycle_with_the_graph(tmp_path):
    # a needs z from c (below it); b reads what a writes; c reads what b writes
    assert _waits(tmp_path, [
        "%%step a --in z\nopen('x.txt', 'w').write(str(z))",
        "%%step b\nopen('y.txt', 'w').write(open('x.txt').read())",
        "%%step c --out z\nz = len(open('y.txt').read())",
    ]) == {"a": [], "b": ["a"], "c": []}
