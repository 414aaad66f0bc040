"""Never stale, checked against plain execution.

Each case in `stale_corpus/` builds a small notebook and its files, runs it through one door
(`mlpipe run`, forked or spawned kernels, or "Run All" in a live kernel), changes one thing,
runs it again through the same door, and compares what the user then sees (the files its steps
write) with a plain top-to-bottom run of the changed notebook: nbclient, `%%step` lines
removed, no jupyter_mlpipe at all. A case marked PRECISE instead changes something that must
not re-run anything (a comment, a touched file): its steps must not execute again.

A case module defines:
  CELLS    cell sources after `%load_ext jupyter_mlpipe` (a parameters cell: PARAMS)
  FILES    {relative path: str | bytes} written before the first run (optional)
  change(folder, nb)   the one change, made between the two runs
  OBSERVE  files the steps write, whose content the user sees
  MODES    doors to check, from "batch", "spawn", "interactive" (default: all three; cases
           of the prelude, native reads, paths and precision also go through "daemon": the
           resident run daemon, whose warm kernel templates outlive a run)
  PRECISE  True: the change must re-run nothing (default False)
  ENV      environment for both runs, {name: value} (optional)
  SETUP(folder, nb)    optional: anything else before the first run (a symlink, a folder)
Steps append their name to `executed.log` when they want "what executed" checked (PRECISE).
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.helpers import MLPIPE, write_notebook

CORPUS = Path(__file__).with_name("stale_corpus")
CASES = sorted(p.stem for p in CORPUS.glob("*.py") if not p.stem.startswith("_"))
ALL_MODES = ("batch", "spawn", "interactive")
DAEMON_CASES = ("c1_", "c2_", "c3_", "p_", "prelude_")


def load_case(name: str):
    spec = importlib.util.spec_from_file_location(f"stale_corpus.{name}", CORPUS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(folder: Path, case) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for rel, content in getattr(case, "FILES", {}).items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    nb = write_notebook(folder / "pipe.ipynb", list(case.CELLS), getattr(case, "PARAMS", None))
    if hasattr(case, "SETUP"):
        case.SETUP(folder, nb)
    return nb


def _env(case) -> dict[str, str]:
    return {**os.environ, **getattr(case, "ENV", {})}


def run_door(mode: str, nb: Path, case, env: dict[str, str] | None = None) -> None:
    if mode == "interactive":
        execute(nbformat.read(nb, as_version=4), nb.parent, {**getattr(case, "ENV", {}),
                                                             "JPY_SESSION_NAME": str(nb)})
        return
    if mode == "spawn":
        (nb.parent / "mlpipe.toml").write_text('[targets.local]\nkernel_start = "spawn"\n')
    r = subprocess.run([str(MLPIPE), "run", str(nb)], capture_output=True, text=True,
                       cwd=nb.parent, env={**_env(case), **(env or {})}, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr


def execute(nb: nbformat.NotebookNode, cwd: Path, env: dict[str, str]) -> None:
    """Run All in a real kernel, in `cwd`, with `env` added to the kernel's environment."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        NotebookClient(nb, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(cwd)}}).execute()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def plain(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook as plain code: no `%load_ext jupyter_mlpipe`, no `%%step` lines, no
    control cells."""
    nb = nbformat.from_dict(nb)
    keep = []
    for cell in nb.cells:
        src = cell.source
        if cell.cell_type != "code" or src.startswith("%load_ext jupyter_mlpipe") \
                or src.lstrip().startswith("%mlpipe"):
            continue
        if src.startswith("%%step"):
            cell.source = src.split("\n", 1)[1] if "\n" in src else ""
        keep.append(cell)
    nb.cells = keep
    return nb


def observed(folder: Path, case) -> dict[str, str | None]:
    return {rel: (folder / rel).read_text() if (folder / rel).exists() else None
            for rel in case.OBSERVE}


def executed(folder: Path) -> list[str]:
    log = folder / "executed.log"
    return log.read_text().split() if log.exists() else []


def _params():
    for name in CASES:
        case = load_case(name)
        modes = getattr(case, "MODES", ALL_MODES)
        if name.startswith(DAEMON_CASES) and "batch" in modes:
            modes = (*modes, "daemon")
        for mode in modes:
            yield pytest.param(name, mode, id=f"{name}-{mode}")


@pytest.fixture(scope="module")
def run_daemon():
    """One resident run daemon (a private runtime folder, never the user's) for the module's
    "daemon" door; the environment its client needs, and how many runs it has served."""
    runtime = tempfile.mkdtemp(prefix="mlpd")  # short: a socket path has ~100 bytes at most
    env = {"XDG_RUNTIME_DIR": runtime, "MLPIPE_DAEMON": "on"}
    full = {**os.environ, **env}
    started = subprocess.run([str(MLPIPE), "daemon", "start", "--idle", "600"], env=full,
                             capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr

    def served() -> int:
        r = subprocess.run([str(MLPIPE), "daemon", "status", "--json"], env=full,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        return json.loads(r.stdout)["served"]

    yield env, served
    subprocess.run([str(MLPIPE), "daemon", "stop"], env=full, capture_output=True, timeout=60)
    shutil.rmtree(runtime, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.parametrize("name, mode", list(_params()))
def test_a_rerun_shows_what_plain_execution_shows(name, mode, tmp_path, monkeypatch, request):
    case = load_case(name)
    monkeypatch.delenv("MLPIPE_HOME", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    env, served = request.getfixturevalue("run_daemon") if mode == "daemon" else ({}, None)
    before = served() if served else 0
    work = tmp_path / "project"
    nb = build(work, case)
    run_door("batch" if mode == "daemon" else mode, nb, case, env)
    first = observed(work, case)
    (work / "executed.log").unlink(missing_ok=True)
    case.change(work, nb)
    run_door("batch" if mode == "daemon" else mode, nb, case, env)
    again = observed(work, case)
    if served:
        assert served() >= before + 2, "the daemon did not take both runs"
    if getattr(case, "PRECISE", False):
        assert executed(work) == [], f"{name}: re-ran {executed(work)} for a change that " \
                                     "cannot change any result"
        assert again == first
        return
    reference = tmp_path / "plain"
    shutil.copytree(work, reference, ignore=shutil.ignore_patterns(".mlpipe", *case.OBSERVE))
    execute(plain(nbformat.read(reference / "pipe.ipynb", as_version=4)), reference,
            getattr(case, "ENV", {}))
    expected = observed(reference, case)
    assert again == expected, f"{name} ({mode}): after the change the user sees {again}, a " \
                              f"plain run of the same notebook gives {expected}"
