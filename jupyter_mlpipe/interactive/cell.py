"""`%%step` in a live kernel: reuse a stored result on a hit, run and store on a miss.

A "Run All" is one run: a `%%step` cell joins the open interactive run of its notebook when
no cell (of any kind) started more than BURST_GAP seconds after the cell before it finished,
since that run began. Run All sends every cell at once, so the gaps are milliseconds; a
person running a cell by hand, or the next Run All, comes later and starts a new run, with
its own parameters and metrics. The run's record is finished after each of its steps (and
re-finished when another joins), so the history never holds an unfinished interactive run.

A reused cell shows again what the step showed when it ran (displays.py); an executed one
says that its result was stored.

The key is computed as a batch run would compute it, from the saved notebook's structure,
but with the live cell body, the live values of its inputs (so an input mutated in place is
not mistaken for the stored one) and the live parameter values. Prelude functions and
classes that were edited and re-run but not saved count by their live source.
"""
from __future__ import annotations

import ast
import inspect
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import filelock

from . import in_kernel as kernel
from . import kernel_state
from ..pipeline.analysis import normalize, prelude_closure
from ..errors import MlpipeError, StepDefinitionError
from .displays import recording, show_again
from .kernel_notebook import find_notebook, notebook_holding
from ..run.keys import make_key
from ..models import PipelineSpec, RunState, StepState, StepRun, StepSpec
from ..pipeline.load import pipeline_from_json
from ..pipeline.notebook import (
    STEP_MAGIC, cell_source, parse_magic_line, read_notebook_json, split_magic)
from ..run.plan import Planner, undeclared_read_warnings
from ..store import serialize
from ..store.files import Store
from ..store.history import History, new_run_id
from ..store.previews import save_preview
from ..store.results import Computed, when
from ..targets import recorded_envs


BURST_GAP = 1.0  # seconds of idle kernel that end an interactive run


@dataclass
class _OpenRun:
    """The interactive run that the next `%%step` cell may join."""

    run_id: str
    notebook: str
    failed: bool = False


_open: _OpenRun | None = None
_last_end = 0.0  # when the kernel's last cell finished
_in_body = False  # a %%step cell is running its body (a cell within the cell)
_warned: set[str] = set()  # the notebook's warnings this kernel has printed
_watching: set[int] = set()  # ids of the shells whose cells we follow
# The kernel's history connections, by store: closing one checkpoints the WAL (20-40 ms on a
# busy disk), which a reused cell should not pay each time. Closed when the kernel exits.
_histories: dict[Path, tuple[History, int | None]] = {}  # home -> (history, its file's inode)
# The last live spec: a reused cell re-run with the notebook unchanged on disk parses nothing.
_spec_cache: dict[tuple, PipelineSpec] = {}


def _cell_starts(_info: Any) -> None:
    """Before a cell (not the body a %%step cell runs itself): an idle kernel before it ends
    the open run."""
    global _open
    if not _in_body and time.time() - _last_end > BURST_GAP:
        _open = None


def _cell_ends(_result: Any) -> None:
    global _last_end
    if not _in_body:
        _last_end = time.time()


def watch(shell: Any) -> None:
    """Follow the shell's cells (from the first %%step cell on) to tell Run Alls apart."""
    events = getattr(shell, "events", None)
    if events is not None and id(shell) not in _watching:
        events.register("pre_run_cell", _cell_starts)
        events.register("post_run_cell", _cell_ends)
        _watching.add(id(shell))


def _join_or_start(history: History, spec: PipelineSpec, params: dict) -> _OpenRun:
    """The open run of this notebook (this Run All's), else a new one."""
    global _open
    if (_open is None or _open.notebook != str(spec.path)
            or history.run(_open.run_id) is None):
        _open = _OpenRun(new_run_id(), str(spec.path))
        history.start_run(_open.run_id, str(spec.path), "interactive", params, None, 1)
    return _open


def _live_spec(nb_path: Path, name: str, line: str, body: str) -> PipelineSpec:
    """The saved notebook, with this step's cell replaced by the live one (kept while the
    saved notebook's stat and the live cell are the same, and no step uses --module, whose
    code the registry may change; a notebook saved in the last 2 s is parsed each time, as
    timestamps that close may not tell two saves apart)."""
    try:
        st = nb_path.stat()
    except OSError:
        st = None
    key = (nb_path, st and (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns), name, line,
           body)
    cached = _spec_cache.get(key)
    if cached is not None and st is not None:
        return cached
    spec = _parse_live(nb_path, name, line, body)
    _spec_cache.clear()
    settled = st is not None and time.time() - max(st.st_mtime, st.st_ctime) > 2.0  # see noop.py
    if settled and not any(s.module for s in spec.steps):
        _spec_cache[key] = spec
    return spec


def _parse_live(nb_path: Path, name: str, line: str, body: str) -> PipelineSpec:
    nb = read_notebook_json(nb_path)
    live = {"cell_type": "code", "metadata": {}, "source": f"{STEP_MAGIC} {line}\n{body}"}
    for i, cell in enumerate(nb["cells"]):
        if cell.get("cell_type") == "code":
            split = split_magic(cell_source(cell))
            if split and split[0].split() and split[0].split()[0] == name:
                nb["cells"][i] = {**cell, "source": live["source"]}
                break
    else:
        nb["cells"].append(live)
    with warnings.catch_warnings():  # said below as one line, once per kernel
        warnings.simplefilter("ignore", UserWarning)
        spec = pipeline_from_json(nb, nb_path)
    for w in spec.warnings:
        if w not in _warned:
            _warned.add(w)
            print(f"warning: {w}")
    return spec


def _live_prelude(planner: Planner, step: str, user_ns: dict) -> dict[str, str]:
    """Normalized live source of prelude functions, classes and constants (`NAME = literal`)
    that differ from the saved ones."""
    spec = planner.spec.step(step)
    closure = prelude_closure(planner.spec.prelude_above(spec), set(spec.free_names))
    override = kernel_state.live_constants(closure, user_ns)
    for st in closure:
        node = ast.parse(st.source).body[0]
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        obj = user_ns.get(node.name)
        try:
            live = normalize(inspect.getsource(obj)) if obj is not None else None
        except (OSError, TypeError, SyntaxError):
            continue
        if live and live != st.source:
            override[st.source] = live
    return override


def run_step_cell(shell: Any, line: str, body: str, notebook: str | None = None) -> None:
    """`%%step LINE` with BODY in a live kernel: reuse the stored result, or run and store."""
    args = parse_magic_line(line)
    kernel_state.watch_imports()
    watch(shell)
    nb_path = find_notebook(shell.user_ns, notebook)
    if nb_path is None:
        nb_path, why = notebook_holding(args.name, line, body, Path.cwd())
        if nb_path is None:
            print(why)
            shell.run_cell(body, store_history=False)
            return
    spec = _live_spec(nb_path, args.name, line, body)
    store = Store.for_notebook(nb_path)
    history = _history(store.home)
    _run_live(shell, spec, spec.step(args.name), store, history)


def _history(home: Path) -> History:
    """The kernel's open history of a store (see _histories), opened again when its file was
    removed or replaced (the store deleted, say) so that runs are not written to a lost file."""
    held = _histories.get(home)
    if held is not None and held[1] is not None and held[1] == _inode(held[0].path):
        return held[0]
    if held is not None:
        held[0].close()
    elif not _histories:
        import atexit

        atexit.register(_close_histories)
    history = History(home)
    history.db  # opens (creates) the file, whose inode is then known
    _histories[home] = (history, _inode(history.path))
    return history


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except OSError:
        return None


def _close_histories() -> None:
    for history, _ in _histories.values():
        history.close()
    _histories.clear()


def _run_live(shell: Any, spec: PipelineSpec, step: StepSpec, store: Store,
              history: History) -> None:
    ns = shell.user_ns
    params = {n: ns[n] for n in spec.parameters if n in ns}
    planner = Planner(spec, store, history, params, recorded_envs(spec, store.home))
    planner.ctx.prelude_override = _live_prelude(planner, step.name, ns)
    _check_inputs(planner, step, ns)
    inputs = {v: serialize.digest_value(ns[v]) for v in step.inputs}
    key, components = make_key(planner.static(step.name), inputs)
    entry = planner.results.get(key) if step.reuse else None
    changed = planner.manifest_changes(step, entry) if entry is not None else []
    if changed:
        print(f"jupyter_mlpipe: {step.name} runs again: " + "; ".join(changed))
        entry = None
    flight = None
    if entry is None:  # computing it: hold its key's lock, as batch runs do (single flight)
        flight = _take_flight(store, key, step.name)
        entry = planner.results.get(key) if step.reuse else None  # computed while we waited?
        if entry is not None and planner.manifest_changes(step, entry):
            entry = None
    try:
        _run_or_reuse(shell, spec, step, planner, store, history, params, key, components,
                      entry, inputs)
    finally:
        if flight is not None:
            flight.release()


def _take_flight(store: Store, key: str, name: str) -> filelock.BaseFileLock:
    """The key's lock (store/files.flight): a batch run or another kernel computing the same
    step holds it; wait for it (Interrupt stops waiting), then the result is reused."""
    lock = store.flight(key)
    try:
        lock.acquire(blocking=False)
    except filelock.Timeout:
        print(f"jupyter_mlpipe: another run is computing {name} (same key); waiting for it "
              "to reuse its result...", flush=True)
        lock.acquire()
    return lock


def _run_or_reuse(shell: Any, spec: PipelineSpec, step: StepSpec, planner: Planner,
                  store: Store, history: History, params: dict, key: str,
                  components: dict[str, Any], entry: dict | None,
                  inputs: dict[str, str]) -> None:
    ns = shell.user_ns
    run = StepRun(step.name, key=key, started=time.time())
    group = _join_or_start(history, spec, params)
    run_id = group.run_id
    _tell_widgets(spec, step.name, "running" if entry is None else "reused", run_id)
    if entry is not None:
        for var, digest in planner.results.reuse(run, components, entry).items():
            ns[var] = store.get_value(digest)
        saved = entry.get("duration") or 0.0
        message = (f"reused {step.name} (computed {when(entry.get('computed_at'))}, "
                   f"{saved:.1f} s saved)")
    else:
        dropped = _execute(shell, planner, run, components, step, run_id, inputs)
        message = _executed_message(run, dropped)
    history.record_step(run_id, run)
    _tell_widgets(spec, step.name, str(run.state), run_id)
    group.failed = group.failed or run.state is StepState.FAILED
    history.finish_run(run_id, RunState.FAILED if group.failed else RunState.SUCCEEDED)
    if message:
        print(message)
    if entry is not None:
        show_again(entry.get("displays") or [])


def _tell_widgets(spec: PipelineSpec, step: str, state: str, run_id: str) -> None:
    """Graph widgets in this kernel (`pipe.widget()`, `%mlpipe graph`) follow the cell; none
    exists unless the widget module was imported (anywidget is not imported for this)."""
    widget = sys.modules.get("jupyter_mlpipe.interactive.widget")
    if widget is not None:
        widget.step_cell(str(spec.path), step, state, run_id)


def _executed_message(run: StepRun, dropped: list[str]) -> str | None:
    """What an executed cell says last: its result was stored (or why not)."""
    if dropped:
        return "jupyter_mlpipe: not stored (cannot be pickled): " + ", ".join(dropped)
    if run.state is StepState.SUCCEEDED and not run.reasons:
        return (f"stored {run.name} ({run.body_seconds or 0:.1f} s): the next run reuses it "
                "while its code, inputs and data stay the same")
    return None


def _check_inputs(planner: Planner, step: StepSpec, ns: dict) -> None:
    missing = [v for v in step.inputs if v not in ns]
    if missing:
        producers = planner.graph.producer[step.name]
        raise StepDefinitionError(
            "input " + ", ".join(f"'{v}'" for v in missing) + " is not defined in this "
            "kernel: run step " + ", ".join(f"'{producers[v]}'" for v in missing) + " first",
            step=step.name)


def _execute(shell: Any, planner: Planner, run: StepRun, components: dict[str, Any],
             step: StepSpec, run_id: str, inputs: dict[str, str]) -> list[str]:
    """Run the step in the kernel, recording what it uses, and store its result (unless the key
    would not describe what ran); returns the outputs that could not be pickled (inferred ones
    are dropped, declared ones raise)."""
    results = planner.results
    kernel.begin(str(results.store.home), run_id, step.name, list(step.writes),  # log_metric
                 list(planner.imported(step.name)), str(results.root))
    global _in_body
    started = time.perf_counter()
    try:  # step.body: a --module step runs the published code, not the cell's
        _in_body = True
        with recording(shell) as shown:
            result = shell.run_cell(step.body, store_history=False)
        _in_body = False
        manifest = kernel.stop_recording()
    finally:
        _in_body = False
        kernel.end()
        kernel.resume_prelude()
    seconds = time.perf_counter() - started
    run.finished = time.time()
    if not result.success:
        run.state = StepState.FAILED
        run.error = repr(result.error_in_exec or result.error_before_exec)
        return []
    refusal = _refuse_to_store(step, shell.user_ns, inputs, results.root)
    if refusal is not None:
        run.state = StepState.SUCCEEDED
        run.reasons = ("not stored",)
        if refusal:
            print(refusal)
        return []
    outputs, dropped = _store_outputs(results.store, step, shell.user_ns)
    writes = {p: results.store.put_path(Path(p), results.root) for p in step.writes}
    recorded = manifest.to_json() if manifest is not None else None
    results.record(run, components,
                   Computed(outputs, writes, seconds, seconds, recorded, shown), run_id)
    for line in undeclared_read_warnings(step, recorded):
        print(line)
    return dropped


def _refuse_to_store(step: StepSpec, ns: dict, inputs: dict[str, str],
                     root: Path) -> str | None:
    """Why this run's result must not be stored ("" when already said), or None.

    A key hashes project modules as on disk and the inputs as they were before the body; a
    kernel running an older import, or a body that changed an input in place, would file
    its result under a key that does not describe what ran."""
    changed = kernel_state.changed_inputs(step, ns, inputs)
    if changed:
        return kernel_state.changed_inputs_message(step.name, changed)
    return kernel_state.stale_import_message(root)


def _store_outputs(store: Store, step: StepSpec, ns: dict) -> tuple[dict[str, str], list[str]]:
    outputs, dropped = {}, []
    for var in step.outputs:
        if var not in ns:
            if step.outputs_declared:
                raise StepDefinitionError(
                    f"declares --out {var} but never assigns '{var}'", step=step.name)
            continue
        try:
            outputs[var] = store.put_value(ns[var], step.name, var)
            save_preview(store.home, outputs[var], ns[var])
        except MlpipeError as exc:
            if step.outputs_declared:
                raise
            dropped.append(f"{var} ({exc})")
    return outputs, dropped
