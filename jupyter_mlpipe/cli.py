"""`mlpipe`: thin command line over the same functions as the API. Keeps imports light:
`status` and a warm `run` never import nbformat, papermill or IPython."""
from __future__ import annotations

import argparse
import ast
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from . import cli_jobs
from .errors import CacheError, MlpipeError
from .models import StepState

SYMBOL = {"succeeded": "✓", "reused": "↺", "failed": "✗", "skipped": "-", "running": "▶",
          "cached": "✓", "stale": "•"}


def _value(text: str):
    """-p values: Python literals where they parse (3, 0.1, True, [1, 2]), else strings."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _fmt_time(sec: float | None) -> str:
    if sec is None:
        return ""
    return f"{sec:.2f}s" if sec < 10 else f"{sec:.1f}s" if sec < 600 else f"{sec / 60:.1f}min"


def _out(line: str = "") -> None:
    print(line, flush=True)


class Progress:
    """Prints each step's state changes; every 15 s lists the steps still running."""

    def __init__(self, stream=sys.stdout, heartbeat: float = 15.0):
        self.stream = stream
        self.t0 = time.time()
        self.running: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(heartbeat,), daemon=True)
        self._thread.start()

    def __call__(self, run, s) -> None:
        state = str(s.state)
        if s.state is StepState.RUNNING:
            self.running[s.name] = time.time()
            detail = "; ".join(s.reasons)
        else:
            self.running.pop(s.name, None)
            if s.state is StepState.REUSED:
                detail = "; ".join(s.reasons)
            elif s.state is StepState.SUCCEEDED:
                detail = _fmt_time(s.duration)
            else:
                detail = (s.error or "").splitlines()[0] if s.error else ""
        sym = SYMBOL.get(state, " ")
        print(f"[{time.time() - self.t0:7.1f}s] {sym} {s.name:<24} {state:<9} {detail}",
              file=self.stream, flush=True)

    def _beat(self, every: float) -> None:
        while not self._stop.wait(every):
            if self.running:
                now = time.time()
                items = ", ".join(f"{n} ({now - t:.0f}s)" for n, t in self.running.items())
                print(f"[{now - self.t0:7.1f}s]   still running: {items}", file=self.stream,
                      flush=True)

    def close(self) -> None:
        self._stop.set()


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def cmd_run(a) -> int:
    from .modules import load_pipeline
    from .runner import run_pipeline

    spec = load_pipeline(a.notebook)
    for w in spec.warnings:
        print(f"warning: {w}", file=sys.stderr)
    params = {k: _value(v) for k, v in a.param}
    if a.sweep:
        return cli_jobs.sweep(a, spec, params)
    # `kill PID` stops a run the way Ctrl-C does: kernels stopped, the run recorded
    signal.signal(signal.SIGTERM, _interrupt)
    progress = Progress()
    try:
        run = run_pipeline(spec, params=params, jobs=a.jobs, only=a.only or None, force=a.force,
                           fail_fast=a.fail_fast, listener=progress, target=a.target)
    except KeyboardInterrupt:
        progress.close()
        print("\ninterrupted: running steps were stopped; finished steps are stored. "
              f"Run `mlpipe run {a.notebook}` to resume.", file=sys.stderr)
        return 130
    finally:
        progress.close()
    _out(run.summary())
    if not run.ok:
        for s in run.failed:
            print(f"\n✗ step '{s.name}' failed", file=sys.stderr)
            if s.traceback:
                print(s.traceback, file=sys.stderr)
            print(s.error or "", file=sys.stderr)
        done = [n for n, s in run.steps.items()
                if s.state in (StepState.SUCCEEDED, StepState.REUSED)]
        print(f"\n{len(done)} step(s) are stored and will be reused. Fix the failing step, then "
              f"`mlpipe run {a.notebook}` runs only what is left.", file=sys.stderr)
        return 1
    return 0


def cmd_status(a) -> int:
    from .pipeline import Pipeline

    pipe = Pipeline.from_notebook(a.notebook)
    for w in pipe.spec.warnings:
        print(f"warning: {w}", file=sys.stderr)
    rows = pipe.status(params={k: _value(v) for k, v in a.param})
    width = max([len(r.name) for r in rows] + [4])
    for r in rows:
        sym = SYMBOL.get(str(r.state), " ")
        why = "" if r.state is StepState.CACHED else f"{r.verdict}: " + "; ".join(r.reasons)
        _out(f"{sym} {r.name:<{width}}  {str(r.state):<7} {why}".rstrip())
    stale = [r for r in rows if r.state is not StepState.CACHED]
    maybe = sum(1 for r in stale if not r.certain)
    detail = (f" ({len(stale) - maybe} will re-run, {maybe} may re-run: reused if their "
              "inputs come out unchanged)" if stale else "")
    _out(f"{len(rows) - len(stale)} cached, {len(stale)} stale{detail}")
    return 0


def cmd_graph(a) -> int:
    from .pipeline import Pipeline

    pipe = Pipeline.from_notebook(a.notebook)
    dot = pipe.to_dot()
    if not a.output:
        sys.stdout.write(dot)
        return 0
    out = Path(a.output)
    fmt = out.suffix.lstrip(".").lower()
    if fmt in ("dot", "gv"):
        out.write_text(dot)
        _out(f"wrote {out}")
        return 0
    exe = shutil.which("dot")
    if exe is None:
        raise MlpipeError(
            f"writing {out.name} needs Graphviz's `dot`, which is not installed. Install it "
            "(Debian/Ubuntu: `apt-get install graphviz`; macOS: `brew install graphviz`; conda: "
            "`conda install graphviz`), or write DOT with `-o pipeline.dot`.")
    subprocess.run([exe, f"-T{fmt}", "-o", str(out)], input=dot.encode(), check=True)
    _out(f"wrote {out}")
    return 0


def _store_for(notebook: str | None):
    from .store.files import Store, store_home

    if notebook:
        return Store.for_notebook(notebook)
    env = os.environ.get("MLPIPE_HOME")
    return Store(Path(env) if env else store_home(Path.cwd() / "x.ipynb"))


def cmd_runs(a) -> int:
    from .store.history import History
    from .tracking import compare, fmt_value, run_record

    store = _store_for(a.notebook)
    h = History(store.home)
    if a.compare:
        return _print_compare(compare(h, *a.compare))
    nb = str(Path(a.notebook).resolve()) if a.notebook else None
    rows = h.runs(nb, a.limit)
    if not rows:
        _out("no runs recorded yet")
        return 0
    _out(f"{'RUN':<24} {'STATE':<11} {'STARTED':<17} {'TIME':>8}  {'REUSED':>6}  STEPS  NOTEBOOK")
    for r in rows:
        rec = run_record(h, r["run_id"]) or {}
        took = _fmt_time((r["finished"] or time.time()) - r["started"])
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["started"]))
        steps = " ".join(f"{n} {k}" for k, n in sorted(r["counts"].items()))
        reused = f"{rec.get('reused', 0)}/{sum(r['counts'].values())}"
        _out(f"{r['run_id']:<24} {r['state']:<11} {started:<17} {took:>8}  {reused:>6}  {steps}  "
             f"{Path(r['notebook']).name}")
        if r.get("trigger"):
            _out(f"    trigger: {r['trigger']}")
        params = rec.get("logged_params") or {}
        if params:
            _out("    params:  " + ", ".join(f"{k}={fmt_value(v)}" for k, v in params.items()))
        metrics = rec.get("last_metrics") or {}
        if metrics:
            _out("    metrics: " + ", ".join(f"{k}={fmt_value(m['value'])}"
                                           for k, m in metrics.items()))
    return 0


def _print_compare(diff: dict) -> int:
    from .tracking import fmt_value

    a, b = diff["a"]["run_id"], diff["b"]["run_id"]
    _out(f"compare {a} -> {b}")
    _out("parameters:" + ("" if diff["params"] else " same"))
    for k, (va, vb) in diff["params"].items():
        _out(f"  {k}: {fmt_value(va)} -> {fmt_value(vb)}")
    _out("metrics:" + ("" if diff["metrics"] else " same"))
    for k, (va, vb) in diff["metrics"].items():
        delta = f" ({vb - va:+.4g})" if isinstance(va, float) and isinstance(vb, float) else ""
        _out(f"  {k}: {fmt_value(va)} -> {fmt_value(vb)}{delta}")
    changed = [n for n, s in diff["steps"].items() if s != "same"]
    _out("steps:" + ("" if changed else " all the same (same keys)"))
    for n, s in diff["steps"].items():
        if s != "same":
            _out(f"  {n}: {s}")
    same = [n for n, s in diff["steps"].items() if s == "same"]
    if same and changed:
        _out("  unchanged: " + ", ".join(same))
    return 0


def cmd_show(a) -> int:
    from .store.history import History

    store = _store_for(a.notebook)
    run = History(store.home).run(a.run_id)
    if run is None:
        raise MlpipeError(f"no run '{a.run_id}' in {store.home}; `mlpipe runs` lists them")
    _out(f"run {run['run_id']}  {run['state']}  {Path(run['notebook']).name}  ({run['kind']})")
    if run["params"]:
        _out("parameters: " + ", ".join(f"{k}={v!r}" for k, v in run["params"].items()))
    for s in run["steps"]:
        took = _fmt_time((s["finished"] or 0) - (s["started"] or 0)) if s["finished"] else ""
        _out(f"  {SYMBOL.get(s['state'], ' ')} {s['step']:<24} {s['state']:<9} {took:>8}  "
             + (s["error"].splitlines()[0] if s["error"] else (s["notebook"] or "")))
    for m in run.get("metrics", []):
        _out(f"  {m['kind'] or 'metric'} {m['step']}.{m['name']} = {m['value']}")
    return 0


def cmd_cache(a) -> int:
    a.notebook = a.notebook or a.notebook_opt
    if a.action in ("push", "pull"):
        return _cache_sync(a)
    store = _store_for(a.notebook)
    if a.action == "ls":
        _cache_ls(store, a.notebook)
    elif a.action == "gc" and (a.max_size or _config(a.notebook).max_size):
        from .store.remote import parse_size
        from .store.usage import evict

        r = evict(store, parse_size(a.max_size) if a.max_size else _config(a.notebook).max_size)
        _out(f"removed {r['entries']} least recently used results ({r['bytes'] / 1e6:.1f} MB)")
    elif a.action == "gc":
        r = store.gc(older_than_days=a.older_than)
        _out(f"removed {r['entries']} entries, {r['objects']} artifacts, {r['blobs']} files "
             f"({r['bytes'] / 1e6:.1f} MB), {r['runs']} run folders")
    elif a.action == "clear":
        store.clear()
        _out(f"cleared the cache in {store.home} (run history kept)")
    return 0


def _config(notebook: str | None):
    from .store.remote import store_config  # the store modules load only for `cache`
    return store_config(Path(notebook or "x").resolve().parent)


def _cache_ls(store, notebook: str | None) -> None:
    from .store.remote import open_remote
    from .store.usage import listing

    for line in listing(store, open_remote(Path(notebook or "x").resolve().parent)):
        _out(line)


def _cache_sync(a) -> int:
    if not a.notebook:
        raise CacheError(f"mlpipe cache {a.action} needs a notebook: mlpipe cache {a.action} NB")
    from .store.remote import open_remote

    nb = Path(a.notebook)
    remote = open_remote(nb.resolve().parent)
    if remote is None:
        raise CacheError("no shared store: set MLPIPE_STORE=s3://BUCKET/PREFIX or [store] url")
    if a.action == "push":
        return _out(f"pushed {remote.push_notebook(_store_for(a.notebook), nb.name)} "
                    f"result(s) of {nb.name} to {remote.url}") or 0
    from .pipeline import Pipeline

    rows = Pipeline.from_notebook(a.notebook).status()  # each hit is pulled, checked
    _out(f"{sum(r.state is StepState.CACHED for r in rows)} of {len(rows)} step(s) of {nb.name}"
         f" are stored here ({remote.url})")
    return 0


def cmd_convert(a) -> int:
    from .convert import convert_notebook

    src = Path(a.notebook)
    out = Path(a.output) if a.output else src.with_name(src.stem + "_pipeline.ipynb")
    if out.exists() and not a.force and out.resolve() != src.resolve():
        raise MlpipeError(f"{out} exists; pass --force to overwrite it, or choose another -o")
    if out.resolve() == src.resolve():
        raise MlpipeError("-o must differ from the notebook being converted")
    result = convert_notebook(src, out)
    result.write(out)
    _out(result.describe())
    _out(f"wrote {out}. Run it with `mlpipe run {out}`")
    return 0


def cmd_export(a) -> int:
    from .export import export_script

    text = export_script(a.notebook)
    if a.output:
        Path(a.output).write_text(text, encoding="utf-8")
        _out(f"wrote {a.output}")
    else:
        sys.stdout.write(text)
    return 0


def cmd_module(a) -> int:
    from . import modules

    if a.action == "publish":
        if len(a.args) != 2 or not a.name or not a.version:
            raise MlpipeError("usage: mlpipe module publish NOTEBOOK STEP --name N --version V")
        rec = modules.publish(a.args[0], a.args[1], a.name, a.version, a.description or "")
        _out(f"published {rec['name']}@{rec['version']} (in: {', '.join(rec['inputs']) or '-'}; "
             f"out: {', '.join(rec['outputs']) or '-'}) to {modules.registry()}")
        return 0
    if a.action == "ls":
        rows = modules.list_modules(a.args[0] if a.args else None)
        if not rows:
            _out(f"no modules in {modules.registry()}")
        for r in rows:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["published_at"]))
            mark = "*" if r["default"] else " "
            _out(f"{mark} {r['name']}@{r['version']:<10} {r['state']:<10} {when}  "
                 f"in: {', '.join(r['inputs']) or '-'}; out: {', '.join(r['outputs']) or '-'}")
        return 0
    if len(a.args) != 1:
        raise MlpipeError(f"usage: mlpipe module {a.action} NAME@VERSION")
    if a.action == "default":
        modules.set_default(a.args[0])
    else:
        modules.set_state(a.args[0], {"deprecate": "deprecated", "disable": "disabled",
                                      "enable": "active"}[a.action])
    _out(f"{a.args[0]}: {a.action} done")
    return 0


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n} is not a positive number of steps")
    return n


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mlpipe", description="Notebook cells as pipeline steps.")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run the pipeline, reusing what did not change")
    r.add_argument("notebook")
    r.add_argument("-p", "--param", nargs=2, action="append", default=[],
                   metavar=("NAME", "VALUE"), help="override a parameter")
    r.add_argument("-j", "--jobs", type=_positive, default=None,
                   help="steps at once (default: cores)")
    r.add_argument("--only", nargs="+", metavar="STEP", help="these steps (and what they need)")
    r.add_argument("--force", action="store_true", help="execute even if a result is stored")
    r.add_argument("--fail-fast", action="store_true", help="stop at the first failure")
    r.add_argument("--target", metavar="NAME",
                   help="run every step on this compute target (mlpipe.toml), overriding --target")
    cli_jobs.add_sweep_options(r)
    r.set_defaults(func=cmd_run)

    s = sub.add_parser("status", help="each step: cached, or stale and why")
    s.add_argument("notebook")
    s.add_argument("-p", "--param", nargs=2, action="append", default=[],
                   metavar=("NAME", "VALUE"))
    s.set_defaults(func=cmd_status)

    g = sub.add_parser("graph", help="the DAG as DOT, SVG or PNG")
    g.add_argument("notebook")
    g.add_argument("-o", "--output", help="FILE.dot, .svg or .png (default: DOT to stdout)")
    g.set_defaults(func=cmd_graph)

    cv = sub.add_parser("convert", help="split a plain notebook into %%%%step cells")
    cv.add_argument("notebook")
    cv.add_argument("-o", "--output", help="converted notebook (default: NAME_pipeline.ipynb)")
    cv.add_argument("--force", action="store_true", help="overwrite the output")
    cv.set_defaults(func=cmd_convert)

    ex = sub.add_parser("export", help="write the pipeline as a plain Python script")
    ex.add_argument("notebook")
    ex.add_argument("--to", choices=["script"], default="script")
    ex.add_argument("-o", "--output", help="FILE.py (default: stdout)")
    ex.set_defaults(func=cmd_export)

    md = sub.add_parser("module", help="reusable, versioned steps: publish|ls|deprecate|"
                        "disable|enable|default")
    md.add_argument("action", choices=["publish", "ls", "deprecate", "disable", "enable",
                                       "default"])
    md.add_argument("args", nargs="*", help="publish: NOTEBOOK STEP; ls: [NAME]; "
                    "others: NAME@VERSION")
    md.add_argument("--name", help="publish: module name")
    md.add_argument("--version", help="publish: version")
    md.add_argument("--description", help="publish: one line about the module")
    md.set_defaults(func=cmd_module)

    cli_jobs.add_parsers(sub)

    rs = sub.add_parser("runs", help="run history")
    rs.add_argument("notebook", nargs="?")
    rs.add_argument("-n", "--limit", type=int, default=20)
    rs.add_argument("--compare", nargs=2, metavar=("RUN_A", "RUN_B"),
                    help="differences in parameters, metrics and steps between two runs")
    rs.set_defaults(func=cmd_runs)

    sh = sub.add_parser("show", help="one run, step by step")
    sh.add_argument("run_id")
    sh.add_argument("--notebook", help="whose store to look in (default: ./.mlpipe)")
    sh.set_defaults(func=cmd_show)

    c = sub.add_parser("cache", help="inspect or clean the artifact store")
    c.add_argument("action", choices=["ls", "gc", "clear", "push", "pull"])
    c.add_argument("notebook", nargs="?", help="whose store (default: ./.mlpipe or "
                   "$MLPIPE_HOME); push/pull: the notebook whose results to sync")
    c.add_argument("--notebook", dest="notebook_opt", help=argparse.SUPPRESS)
    c.add_argument("--max-size", metavar="SIZE",
                   help="gc: evict least recently used results down to SIZE (e.g. 20GB); "
                   "default: [store] max_size")
    c.add_argument("--older-than", type=float, default=7.0, metavar="DAYS",
                   help="gc: keep superseded results younger than this (default 7)")
    c.set_defaults(func=cmd_cache)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except MlpipeError as exc:
        print(f"mlpipe: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except SyntaxError as exc:
        print(f"mlpipe: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, sqlite3.Error, UnicodeError) as exc:  # the disk, not a bug of ours
        what = getattr(exc, "filename", None)
        where = f" ({str(what)[:200]})" if what else ""
        print(f"mlpipe: error: {type(exc).__name__}: {getattr(exc, 'strerror', None) or exc}"
              f"{where}. Check that path (and MLPIPE_HOME), then run again.", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
