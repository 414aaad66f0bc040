"""`mlpipe verify`: stored steps executed again in fresh kernels, outputs compared; a
deliberately random step is named, stored results stay as they were.

# load -> noisy, seeded, det, scribble
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from jupyter_mlpipe import Pipeline

pytestmark = pytest.mark.slow

CELLS = [
    "%%step load --out raw\nraw = list(range(10))",
    "%%step noisy --in raw --out x\nimport random\nx = random.random()",
    "%%step seeded --in raw --out y --nondeterministic\nimport random\ny = random.random()",
    "%%step det --in raw --out z --writes out.txt\nz = sum(raw)\n"
    "open('out.txt', 'w').write(str(z))",
    "%%step scribble --in raw --out w --writes notes.txt\nimport uuid\nw = len(raw)\n"
    "open('notes.txt', 'w').write(uuid.uuid4().hex)",
]


def snapshot(home: Path) -> dict[str, str]:
    """Every stored entry and latest marker, by content."""
    return {str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
            for sub in ("entries", "latest") for p in sorted((home / sub).rglob("*"))
            if p.is_file()}


def test_verify_names_differing_steps_and_outputs_and_changes_nothing_stored(make_nb,
                                                                            mlpipe_cli):
    path = make_nb(CELLS)
    assert mlpipe_cli("run", path).returncode == 0
    home = path.parent / ".mlpipe"
    before = snapshot(home)
    stored_x = Pipeline.from_notebook(path).run().outputs("noisy")["x"]
    notes = (path.parent / "notes.txt").read_text()

    r = mlpipe_cli("verify", path)
    assert r.returncode == 1, r.stdout + r.stderr
    lines = {line.split()[1]: line for line in r.stdout.splitlines() if line[:1] in "✓✗~"}
    assert "same outputs" in lines["load"] and "same outputs" in lines["det"]
    assert "differs: x" in lines["noisy"] and lines["noisy"].startswith("✗")
    assert "differs: notes.txt" in lines["scribble"]
    assert lines["seeded"].startswith("~") and "reported, not failed" in lines["seeded"]
    assert "noisy (x)" in r.stderr and "scribble (notes.txt)" in r.stderr
    assert "seeded" not in r.stderr

    assert snapshot(home) == before
    assert (path.parent / "notes.txt").read_text() == notes  # the written file put back
    run = Pipeline.from_notebook(path).run()
    assert {s.state.value for s in run.steps.values()} == {"reused"}
    assert run.outputs("noisy")["x"] == stored_x


def test_verify_passes_when_only_nondeterministic_steps_differ(make_nb, mlpipe_cli):
    path = make_nb([CELLS[0], CELLS[2], CELLS[3]])
    assert mlpipe_cli("run", path).returncode == 0
    r = mlpipe_cli("verify", path, "--all")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "verified 3 stored steps" in r.stdout


def test_sample_and_parameters_choose_which_stored_results(make_nb, mlpipe_cli):
    path = make_nb(["%%step a --out x\nx = n", "%%step b --out y\ny = n * 2",
                    "%%step c --out z\nz = n * 3", "%%step d --out v\nv = n * 4"],
                   params="n = 1")
    assert mlpipe_cli("run", path, "-p", "n", "5").returncode == 0
    r = mlpipe_cli("verify", path)  # the defaults' results were never stored
    assert r.returncode == 2 and f"run `mlpipe run {path.name}` first" in r.stderr
    r = mlpipe_cli("verify", path, "--sample", "0.5", "-p", "n", "5")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "verified 2 stored steps" in r.stdout and "not sampled:" in r.stdout


@pytest.mark.parametrize("args, words", [
    (["--sample", "0"], "is not a fraction"),
    (["--sample", "1.5"], "is not a fraction"),
    (["--sample", "abc"], "is not a fraction"),
    (["-p", "nope", "1"], "unknown parameter"),
])
def test_bad_verify_input_exit_2(make_nb, mlpipe_cli, args, words):
    path = make_nb(["%%step a --out x\nx = 1"], params="n = 1")
    assert mlpipe_cli("run", path).returncode == 0
    r = mlpipe_cli("verify", path, *args)
    assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr


def test_verify_on_a_notebook_never_run_exit_2_and_runs_nothing(make_nb, mlpipe_cli):
    path = make_nb(["%%step a --out x\nopen('ran.txt', 'w').write('1')\nx = 1"])
    r = mlpipe_cli("verify", path)
    assert r.returncode == 2 and "nothing of pipe.ipynb is stored" in r.stderr
    assert not (path.parent / "ran.txt").exists()


def test_steps_below_a_no_reuse_step_are_verified(make_nb, mlpipe_cli):
    path = make_nb(["%%step a --out x --no-reuse\nx = 1",
                    "%%step b --in x --out y\nimport random\ny = random.random()"])
    assert mlpipe_cli("run", path).returncode == 0
    r = mlpipe_cli("verify", path)
    assert r.returncode == 1 and "b (y)" in r.stderr and "verified 2 stored steps" in r.stdout


def test_a_step_that_fails_when_executed_again_fails_verify(make_nb, mlpipe_cli):
    import time

    deadline = time.time() + 8  # the clock is not in a key: run before it, verify after
    path = make_nb([f"%%step late --out x\nimport time\nif time.time() > {deadline!r}:\n"
                    "    raise RuntimeError('too late now')\nx = 1"])
    assert mlpipe_cli("run", path).returncode == 0
    time.sleep(max(0.0, deadline - time.time()) + 0.5)
    r = mlpipe_cli("verify", path)
    assert r.returncode == 1
    assert "failed to re-execute" in r.stdout and "too late now" in r.stdout
    assert "could not re-execute: late" in r.stderr
