"""`mlpipe`: thin command line over the same functions as the API. Keeps imports light:
`status` and a warm `run` never import nbformat, papermill or IPython."""
from __future__ import annotations

import argparse
import ast
import dataclasses
import errno
import functools
import os
import signal
import sqlite3
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import __version__, timings
from . import history as cli_history, jobs as cli_jobs, recover as cli_recover
from .parser import SuggestingParser
from .printing import SYMBOL, out, paint, published, use_colour
from .progress import OutputMode, Progress
from ..errors import MlpipeError
from ..models import StepState


def _value(text: str):
    """-p values: Python literals where they parse (3, 0.1, True, [1, 2]), else strings."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _load(notebook: str):
    """The notebook's pipeline; its warnings printed once each, as one line (the API also
    raises them as Python warnings, which here would repeat them with a source location)."""
    from ..pipeline.load import load_pipeline

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        spec = load_pipeline(notebook)
    for w in spec.warnings:
        print(f"warning: {w}", file=sys.stderr)
    return spec


def _remember(spec, keys: dict, command: str, a) -> None:
    """After a no-op (every step cached or reused) or a complete run: the state the next
    `run`/`status` with these arguments checks by stat alone (run/noop.py)."""
    from ..run import noop, noop_state
    from ..store.files import Store

    if spec.warnings:  # printed each time: the full path prints them
        noop.forget(str(spec.path))
        return
    noop_state.remember(spec, Store.for_notebook(spec.path), keys, command, a.param,
                        a.started)


def cmd_run(a) -> int:
    from ..run import noop
    from ..run.runner import RunOptions

    timings.mark("run's modules imported")
    spec = _load(a.notebook)
    timings.mark("notebook read and parsed")
    noop.forget(str(spec.path))  # this run may change what the state rests on
    options = RunOptions(params={k: _value(v) for k, v in a.param}, jobs=a.jobs,
                         only=a.only or None, force=a.force, fail_fast=a.fail_fast,
                         target=a.target, templates=a.templates)
    if a.sweep:
        return cli_jobs.sweep(a, spec, options)
    # `kill PID` stops a run the way Ctrl-C does: kernels stopped, the run recorded
    signal.signal(signal.SIGTERM, _interrupt)
    ahead = None
    # launch the kernel template now, so its imports overlap ours and the planning (the leaf
    # edit's time); MLPIPE_TEMPLATE_AHEAD=0 turns it off (the executor launches it then)
    if a.templates is None and not a.target and os.environ.get("MLPIPE_TEMPLATE_AHEAD") != "0":
        from ..executors.ahead import launch_ahead

        ahead = launch_ahead(spec, a.spawned)
        options = dataclasses.replace(options, templates=ahead)
        timings.mark("kernel template launched")
    try:
        return _run(a, spec, options)
    finally:
        if ahead is not None:
            ahead.close()


def _run(a, spec, options) -> int:
    from ..run.runner import prepare_run

    prepared = prepare_run(spec, options)
    timings.mark("run planned")
    progress = Progress(prepared.past_durations(), prepared.jobs, a.output)
    try:
        run = prepared.execute(progress)
    except KeyboardInterrupt:
        progress.close()
        timings.mark("interrupted")
        print("\ninterrupted: running steps were stopped; finished steps are stored. "
              f"Run `mlpipe run {a.notebook}` to resume.", file=sys.stderr)
        return 130
    finally:
        progress.close()
    timings.mark("run done and recorded")
    out(run.summary())
    if run.ok and not (a.only or a.force or a.target) and set(run.steps) == {
            s.name for s in spec.steps}:
        _remember(spec, {n: s.key for n, s in run.steps.items()}, "run", a)
        timings.mark("no-op state written")
    run_dir = Path(run.store_home) / "runs" / run.run_id
    if any(s.state in (StepState.SUCCEEDED, StepState.FAILED) for s in run.steps.values()) \
            and run_dir.is_dir():
        out(f"executed notebooks: {run_dir}{os.sep}")
    if not run.ok:
        for s in run.failed:
            if s.traceback:  # mlpipe's own errors (an unpicklable output, ...) have none
                print(f"\n✗ step '{s.name}' failed\n{s.traceback}", file=sys.stderr)
            print(f"\n{s.error or ''}", file=sys.stderr)
        done = [n for n, s in run.steps.items()
                if s.state in (StepState.SUCCEEDED, StepState.REUSED)]
        print(f"\n{len(done)} step(s) are stored and will be reused. Fix the failing step, then "
              f"`mlpipe run {a.notebook}` runs only what is left.", file=sys.stderr)
        return 1
    return 0


def cmd_status(a) -> int:
    from ..api import Pipeline

    pipe = Pipeline(_load(a.notebook))
    rows = pipe.status(params={k: _value(v) for k, v in a.param})
    width = max([len(r.name) for r in rows] + [4])
    colour = use_colour()
    for r in rows:
        state = str(r.state)
        sym = paint(SYMBOL.get(state, " "), state, colour)
        why = "" if r.state is StepState.CACHED else f"{r.verdict}: " + "; ".join(r.reasons)
        out(f"{sym} {r.name:<{width}}  {paint(f'{state:<7}', state, colour)} {why}".rstrip())
    stale = [r for r in rows if r.state is not StepState.CACHED]
    maybe = sum(1 for r in stale if not r.certain)
    detail = (f" ({len(stale) - maybe} will re-run, {maybe} may re-run: reused if their "
              "inputs come out unchanged)" if stale else "")
    out(f"{len(rows) - len(stale)} cached, {len(stale)} stale{detail}")
    if not stale and rows:
        _remember(pipe.spec, {r.name: r.key for r in rows}, "status", a)
    else:
        from ..run import noop

        noop.forget(str(pipe.spec.path))
    return 0


def cmd_graph(a) -> int:
    from ..pipeline import graph_view  # imports the graphviz package: only for this command
    from ..api import Pipeline

    dot = Pipeline.from_notebook(a.notebook).to_graphviz()
    if not a.output:
        sys.stdout.write(dot.source)
        return 0
    graph_view.write(dot, Path(a.output))
    out(f"wrote {a.output}")
    return 0


def cmd_convert(a) -> int:
    from ..convert.converter import convert_notebook

    src = Path(a.notebook)
    dest = Path(a.output) if a.output else src.with_name(src.stem + "_pipeline.ipynb")
    if dest.exists() and not a.force and dest.resolve() != src.resolve():
        raise MlpipeError(f"{dest} exists; pass --force to overwrite it, or choose another -o")
    if dest.resolve() == src.resolve():
        raise MlpipeError("-o must differ from the notebook being converted")
    result = convert_notebook(src, dest)
    result.write(dest)
    out(result.describe())
    out(f"wrote {dest}. Run it with `mlpipe run {dest}`")
    return 0


def cmd_export(a) -> int:
    from ..convert.export import export_script

    text = export_script(a.notebook)
    if a.output:
        Path(a.output).write_text(text, encoding="utf-8")
        out(f"wrote {a.output}")
    else:
        sys.stdout.write(text)
    return 0


def cmd_module(a) -> int:
    from ..automation import modules

    if a.action == "publish":
        if len(a.args) != 2 or not a.name or not a.version:
            raise MlpipeError("usage: mlpipe module publish NOTEBOOK STEP --name N --version V")
        rec = modules.publish(a.args[0], a.args[1], a.name, a.version, a.description or "")
        out(f"published {rec['name']}@{rec['version']} (in: {', '.join(rec['inputs']) or '-'}; "
             f"out: {', '.join(rec['outputs']) or '-'}) to {modules.REGISTRY.root}")
        return 0
    if a.action == "ls":
        published(modules.list_modules(a.args[0] if a.args else None),
                  f"no modules in {modules.REGISTRY.root}",
                  lambda r: f"in: {', '.join(r['inputs']) or '-'}; "
                            f"out: {', '.join(r['outputs']) or '-'}")
        return 0
    if len(a.args) != 1:
        raise MlpipeError(f"usage: mlpipe module {a.action} NAME@VERSION")
    modules.REGISTRY.apply(a.action, a.args[0])
    out(f"{a.args[0]}: {a.action} done")
    return 0


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n} is not a positive number of steps")
    return n


def _output_mode(text: str) -> OutputMode:
    try:
        return OutputMode.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


@functools.cache  # built once per process (~12 ms); the run daemon builds it before forking
def build_parser() -> argparse.ArgumentParser:
    p = SuggestingParser(prog="mlpipe", description="Notebook cells as pipeline steps.")
    p.add_argument("--version", action="version", version=f"mlpipe {__version__}")
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
    r.add_argument("--output", type=_output_mode, default=OutputMode(10), metavar="N|all|none",
                   help="show the last N lines each executed step printed (default 10)")
    r.add_argument("--no-daemon", action="store_true",
                   help="run in this process even if a run daemon is up")
    cli_jobs.add_sweep_options(r)
    r.set_defaults(func=cmd_run)

    d = sub.add_parser("daemon", help="the resident run daemon: start|stop|status")
    d.add_argument("action", choices=["start", "stop", "status"])
    d.add_argument("--idle", type=float, default=3 * 3600, metavar="SECONDS",
                   help="start: exit after this long without a run (0: never; default 3 h)")
    d.add_argument("--json", action="store_true", help="status: as JSON")
    d.set_defaults(func=None)  # the launcher hands this command its handler (daemon/)

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
    cli_history.add_parsers(sub)
    cli_recover.add_parsers(sub)

    return p


def main(argv: list[str] | None = None, handlers: dict[str, Callable] | None = None,
         templates: Any = None, spawned: Any = None) -> int:
    """Run one command. `handlers` adds the commands of layers above this one (the launcher
    passes `daemon`), so the parser knows every command and imports none of them; `templates`
    are kernel templates the run daemon lends to a `run` (a TemplateLoan); `spawned`, the
    template process the launcher started for a `run` (executors.ahead.launch_early)."""
    started = time.time()
    timings.mark("command line code imported")
    args = build_parser().parse_args(argv)
    args.templates, args.started, args.spawned = templates, started, spawned
    func = (handlers or {}).get(args.command) or args.func
    try:
        if func is None:
            raise MlpipeError(f"`mlpipe {args.command}` runs from the `mlpipe` command only")
        return func(args)
    except BrokenPipeError:  # `mlpipe runs | head`: the reader has gone, so have we
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the exit's flush of stdout fails no more
        return 141  # as a process killed by SIGPIPE
    except MlpipeError as exc:
        print(f"mlpipe: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except SyntaxError as exc:
        print(f"mlpipe: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, sqlite3.Error, UnicodeError) as exc:  # the disk, not a bug of ours
        what = getattr(exc, "filename", None)
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT) and what:
            from ..store.space import full_disk_error

            print(f"mlpipe: error: {full_disk_error(Path(what), 'writing it')}",
                  file=sys.stderr)
            return 2
        where = f" ({str(what)[:200]})" if what else ""
        print(f"mlpipe: error: {type(exc).__name__}: {getattr(exc, 'strerror', None) or exc}"
              f"{where}. Check that path (and MLPIPE_HOME), then run again.", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
