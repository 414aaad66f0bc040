"""`%%step` in a live kernel: reuse a stored result on a hit, run and store on a miss.

The key is computed as a batch run would compute it, from the saved notebook's structure,
but with the live cell body, the live values of its inputs (so an input mutated in place is
not mistaken for the stored one) and the live parameter values. Prelude functions and
classes that were edited and re-run but not saved count by their live source.
"""
from __future__ import annotations

import ast
import inspect
import os
import time
from pathlib import Path
from typing import Any

from .analysis import normalize
from .errors import MlpipeError, StepDefinitionError
from .keys import make_key
from .models import Status, StepRun
from .notebook import MAGIC, pipeline_from_json, read_notebook_json, split_magic, cell_source
from .plan import Planner
from .targets import recorded_envs
from .store import serialize
from .store.files import Store
from .store.history import History, new_run_id


def find_notebook(user_ns: dict, explicit: str | None) -> Path | None:
    """The notebook this kernel belongs to: %mlpipe notebook PATH, else what Jupyter says."""
    candidates = [explicit, user_ns.get("__session__"), os.environ.get("JPY_SESSION_NAME"),
                  user_ns.get("__vsc_ipynb_file__")]
    for c in candidates:
        if not c:
            continue
        p = Path(c)
        for cand in (p, Path.cwd() / p.name, Path.cwd() / p):
            if cand.suffix == ".ipynb" and cand.is_file():
                return cand.resolve()
    return None


def _live_spec(nb_path: Path, name: str, line: str, body: str):
    """The saved notebook, with this step's cell replaced by the live one."""
    nb = read_notebook_json(nb_path)
    live = {"cell_type": "code", "metadata": {}, "source": f"{MAGIC} {line}\n{body}"}
    for i, cell in enumerate(nb["cells"]):
        if cell.get("cell_type") == "code":
            split = split_magic(cell_source(cell))
            if split and split[0].split() and split[0].split()[0] == name:
                nb["cells"][i] = {**cell, "source": live["source"]}
                break
    else:
        nb["cells"].append(live)
    return pipeline_from_json(nb, nb_path)


def _live_prelude(planner: Planner, step: str, user_ns: dict) -> dict[str, str]:
    """Normalized live source of prelude functions/classes that differ from the saved ones."""
    from .keys import prelude_closure
    from .analysis import name_use

    override: dict[str, str] = {}
    use = name_use(planner.spec.step(step).body)
    for st in prelude_closure(planner.spec.prelude, set(use.reads)):
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
    from .notebook import parse_magic_line

    args = parse_magic_line(line)
    ns = shell.user_ns
    nb_path = find_notebook(ns, notebook)
    if nb_path is None:
        print(f"jupyter_mlpipe: cannot tell which notebook this kernel runs, so step "
              f"'{args.name}' runs without the cache. Run `%mlpipe notebook PATH` once.")
        shell.run_cell(body, store_history=False)
        return
    spec = _live_spec(nb_path, args.name, line, body)
    step = spec.step(args.name)
    params = {n: ns[n] for n in spec.parameters if n in ns}
    store = Store.for_notebook(nb_path)
    history = History(store.home)
    try:
        planner = Planner(spec, store, history, params, recorded_envs(spec, store.home))
        planner.ctx.prelude_override = _live_prelude(planner, step.name, ns)
        missing = [v for v in step.inputs if v not in ns]
        if missing:
            producers = planner.graph.producer[step.name]
            raise StepDefinitionError(
                "input " + ", ".join(f"'{v}'" for v in missing) + " is not defined in this "
                "kernel: run step " + ", ".join(f"'{producers[v]}'" for v in missing) + " first",
                step=step.name)
        inputs = {v: serialize.digest_value(ns[v]) for v in step.inputs}
        key, components = make_key(planner.static(step.name), inputs)
        entry = store.get_entry(key) if step.reuse else None
        run = StepRun(step.name, key=key, started=time.time())
        run_id = new_run_id()
        history.start_run(run_id, str(nb_path), "interactive", params, [step.name], 1)
        if entry is not None:
            for path, manifest in entry.get("writes", {}).items():
                store.restore_path(path, manifest, spec.root)
            for var, digest in entry["outputs"].items():
                ns[var] = store.get_value(digest)
            run.state, run.reused, run.outputs = Status.REUSED, True, dict(entry["outputs"])
            run.finished = time.time()
            history.record_step(run_id, run)
            history.finish_run(run_id, "succeeded")
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.get("computed_at", 0)))
            saved = entry.get("duration") or 0.0
            print(f"reused {step.name} (computed {when}, {saved:.1f} s saved)")
            _set_latest(store, spec, step.name, key, components, entry)
            return
        from . import in_kernel as kernel

        kernel.begin(str(store.home), run_id, step.name)  # for log_metric / log_param
        try:  # step.body: a --module step runs the published code, not the cell's
            result = shell.run_cell(step.body, store_history=False)
        finally:
            kernel.end()
        run.finished = time.time()
        if not result.success:
            run.state, run.error = Status.FAILED, repr(result.error_in_exec or result.error_before_exec)
            history.record_step(run_id, run)
            history.finish_run(run_id, "failed")
            return
        outputs, dropped = {}, []
        for var in step.outputs:
            if var not in ns:
                if step.outputs_declared:
                    raise StepDefinitionError(
                        f"declares --out {var} but never assigns '{var}'", step=step.name)
                continue
            try:
                outputs[var] = store.put_value(ns[var], step.name, var)
            except MlpipeError as exc:
                if step.outputs_declared:
                    raise
                dropped.append(f"{var} ({exc})")
        writes = {p: store.put_path(Path(p), spec.root) for p in step.writes}
        entry = {"key": key, "step": step.name, "notebook": nb_path.name, "run_id": run_id,
                 "outputs": outputs, "writes": writes, "computed_at": run.finished,
                 "duration": run.duration, "components": components}
        store.put_entry(entry)
        _set_latest(store, spec, step.name, key, components, entry)
        run.state, run.outputs = Status.SUCCEEDED, outputs
        history.record_step(run_id, run)
        history.finish_run(run_id, "succeeded")
        if dropped:
            print("jupyter_mlpipe: not stored (cannot be pickled): " + ", ".join(dropped))
    finally:
        history.close()


def _set_latest(store: Store, spec, step: str, key: str, components: dict, entry: dict) -> None:
    store.set_latest(spec.path.name, step, {"key": key, "components": components,
                                            "computed_at": entry.get("computed_at"),
                                            "duration": entry.get("duration")})
