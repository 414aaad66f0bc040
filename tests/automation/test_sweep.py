"""Parameter sweeps with real kernels: each step executes once per distinct key, counted from
the steps' own side effects (a line appended to a file per execution).

# load -> feat(a) -> fit(a, b) ; report (reads nothing swept)
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from jupyter_mlpipe import Pipeline
from jupyter_mlpipe.automation.sweep import format_table, parse_sweep, plan_waves, swept_reads

STEPS = [
    "from pathlib import Path\n\ndef mark(name):\n"
    "    with open(Path('log.txt'), 'a') as f:\n        f.write(name + '\\n')",
    "%%step load --out raw\nmark('load')\nraw = list(range(5))",
    "%%step feat --in raw --out feats\nmark(f'feat{a}')\nfeats = [x * a for x in raw]",
    "%%step fit --in feats --out score\nfrom jupyter_mlpipe import log_metric\n"
    "mark(f'fit{a}{b}')\nscore = sum(feats) + b\nif b == 99:\n    raise ValueError('bad b')\n"
    "log_metric('score', score)",
]


def executed(folder: Path) -> Counter:
    log = folder / "log.txt"
    return Counter(log.read_text().split()) if log.exists() else Counter()


def test_parse_and_waves_never_share_an_uncomputed_key(make_nb):
    assert parse_sweep(["a=1,2", "b=x,0.5"]) == {"a": [1, 2], "b": ["x", 0.5]}
    spec = Pipeline.from_notebook(make_nb(STEPS, params="a = 1\nb = 0")).spec
    reads = swept_reads(spec, {"a", "b"})
    assert reads == {"load": frozenset(), "feat": {"a"}, "fit": {"a", "b"}}
    points = [{"a": a, "b": b} for a in (1, 2) for b in (0, 1)]
    assert plan_waves(points, reads) == [[0], [1, 2], [3]]


def test_sweep_executes_each_step_as_often_as_its_parameters_require(make_nb):
    path = make_nb(STEPS, params="a = 1\nb = 0")
    pipe = Pipeline.from_notebook(path)
    result = pipe.sweep({"a": [1, 2], "b": [10, 20, 99]}, jobs=2)
    runs = executed(path.parent)
    assert runs["load"] == 1  # reads no swept parameter: once for the whole sweep
    assert runs["feat1"] == 1 and runs["feat2"] == 1  # once per value of a
    assert all(runs[f"fit{a}{b}"] == 1 for a in (1, 2) for b in (10, 20, 99))
    assert len(result.points) == 6 and not result.ok  # b=99 fails; the others ran
    states = {(p.params["a"], p.params["b"]): p.state for p in result.points}
    assert [k for k, s in states.items() if s == "failed"] == [(1, 99), (2, 99)]
    assert {p.params["b"]: p.metrics["score"] for p in result.points if p.params["a"] == 2
            and p.state == "succeeded"} == {10: 30.0, 20: 40.0}
    table = format_table(result, sort="score", descending=True)
    assert table.splitlines()[0].split() == ["a", "b", "state", "run", "score"]
    assert table.splitlines()[1].split()[:2] == ["2", "20"]
    assert "4/6 points succeeded" in table
    runs_recorded = pipe.runs(limit=10)
    assert sum(1 for r in runs_recorded if (r.get("trigger") or "").startswith("sweep ")) == 6
    # a second identical sweep executes nothing new
    again = pipe.sweep({"a": [1, 2], "b": [10, 20]}, jobs=2)
    assert again.ok and executed(path.parent) == runs


def test_cli_sweep_table_and_exit_code(make_nb, mlpipe_cli):
    path = make_nb(STEPS, params="a = 1\nb = 0")
    done = mlpipe_cli("run", path, "--sweep", "a=1,2", "--sweep", "b=5", "--sort", "score",
                      "-j", "2")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if line.split()[:3] == ["a", "b", "state"])
    assert [line.split()[0] for line in lines[head + 1:head + 3]] == ["1", "2"]
    assert "2/2 points succeeded" in done.stdout
    bad = mlpipe_cli("run", path, "--sweep", "b=99")
    assert bad.returncode == 1 and "0/1 points succeeded" in bad.stdout
