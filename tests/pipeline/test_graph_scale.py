"""Long pipelines: a 1,500-step chain is ordered and explained (it overflowed the stack), in
well under a second of CPU (the file hand-off check looked at every pair of steps, each with a
walk of the graph: minutes)."""
from __future__ import annotations

import time

from jupyter_mlpipe import Pipeline
from jupyter_mlpipe.pipeline.graph import Graph
from jupyter_mlpipe.pipeline.load import load_pipeline
from tests.helpers import write_notebook

N = 1500


def chain_notebook(folder, n: int = N):
    # s0 -> s1 -> ... -> s{n-1}, cells in reverse order (the graph, not the notebook, orders)
    cells = ["%%step s0 --out x0\nx0 = 1"] + [
        f"%%step s{i} --in x{i - 1} --out x{i}\nx{i} = x{i - 1} + 1" for i in range(1, n)]
    return write_notebook(folder / "chain.ipynb", cells[::-1])


def test_a_long_chain_is_ordered_upstream_first(tmp_path):
    spec = load_pipeline(chain_notebook(tmp_path))
    graph = Graph(spec)
    assert graph.order == [f"s{i}" for i in range(N)]
    assert graph.upstream["s1"] == ["s0"] and graph.producer["s7"] == {"x6": "s6"}


def test_status_of_a_long_chain_says_never_run(tmp_path, monkeypatch):
    monkeypatch.delenv("MLPIPE_HOME", raising=False)
    pipe = Pipeline.from_notebook(chain_notebook(tmp_path))
    cpu = time.process_time()
    rows = pipe.status()
    cpu = time.process_time() - cpu
    # CPU, not wall: the machine may be loaded. ~0.3 s here; the pairwise check took minutes
    assert cpu < 10, f"status of a {N}-step chain took {cpu:.1f} CPU-s"
    assert len(rows) == N
    by_name = {r.name: r for r in rows}
    assert by_name["s0"].reasons == ("never run",)
    assert by_name["s1"].reasons == ("upstream 's0' is stale", "never run")
    assert {str(r.state) for r in rows} == {"stale"}


def test_an_input_comes_from_the_nearest_earlier_producer(tmp_path):
    # a -> (x) -> use1; b also makes x -> use2 reads b's; first reads the later producer's
    nb = write_notebook(tmp_path / "p.ipynb", [
        "%%step first --in x --out y\ny = x",
        "%%step a --out x\nx = 1",
        "%%step use1 --in x --out u1\nu1 = x",
        "%%step b --out x\nx = 2",
        "%%step use2 --in x --out u2\nu2 = x",
    ])
    producer = Graph(load_pipeline(nb)).producer
    assert producer["first"] == {"x": "a"}
    assert producer["use1"] == {"x": "a"}
    assert producer["use2"] == {"x": "b"}
