"""`mlpipe` commands that start runs for someone else: `run --sweep`, `schedule`, `scheduler`,
`publish`. Thin like cli.py: parse, call sweep/schedule/scheduler/publish, print."""
from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path

from .printing import out, published
from ..errors import MlpipeError


def _params(pairs: list[list[str]]) -> dict:
    from ..automation.sweep import parse_value

    return {k: parse_value(v) for k, v in pairs}


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def sweep(a, spec, options) -> int:
    """`mlpipe run NB --sweep NAME=V1,V2 ...`: the grid, then one table row per point."""
    from ..automation.sweep import format_table, new_sweep_id, parse_sweep, run_sweep

    signal.signal(signal.SIGTERM, _interrupt)
    grid = parse_sweep(a.sweep)
    sweep_id = new_sweep_id()  # said first: `mlpipe runs` and the panel show it too
    n = 1
    for values in grid.values():
        n *= len(values)
    out(f"sweep {sweep_id}: {n} point{'s' if n != 1 else ''}")
    try:
        result = run_sweep(spec, grid, options,
                           on_point=lambda i, p: out(f"point {p.params}: {p.state}"),
                           sweep_id=sweep_id)
    except KeyboardInterrupt:
        print("\ninterrupted: the sweep's running steps were stopped", file=sys.stderr)
        return 130
    out(format_table(result, a.sort, a.descending))
    return 0 if result.ok else 1


def cmd_schedule(a) -> int:
    from ..automation import schedule

    folder = a.dir or "."
    if a.action == "add":
        if len(a.args) != 1:
            raise MlpipeError("usage: mlpipe schedule add NOTEBOOK --every 10m | --cron EXPR | "
                              "--on-change [PATH...] [-p NAME VALUE]...")
        s = schedule.add_schedule(folder, a.args[0], every=a.every, cron=a.cron,
                                  on_change=a.on_change, params=_params(a.param))
        out(f"added schedule {s.id}: {s.notebook} {s.when} (in {schedule.schedule_file(folder)})")
        return 0
    if a.action == "rm":
        if len(a.args) != 1:
            raise MlpipeError("usage: mlpipe schedule rm ID")
        s = schedule.remove_schedule(folder, a.args[0])
        out(f"removed schedule {s.id}: {s.notebook} {s.when}")
        return 0
    rows = schedule.describe(folder)
    if not rows:
        out(f"no schedules in {schedule.schedule_file(folder)}")
    for r in rows:
        nxt = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["next"])) \
            if r["next"] else "on change"
        last = r["last_run"]
        last_text = f"{last['run_id']} {last['state']}" if last else "never run"
        params = " ".join(f"{k}={v!r}" for k, v in r.get("params", {}).items())
        out(f"{r['id']}  {r['notebook']:<20} {r['when']:<22} next: {nxt:<19}  "
             f"last: {last_text}  {params}".rstrip())
        if r.get("error"):
            out(f"    error: {r['error']}")
    return 0


def cmd_scheduler(a) -> int:
    from ..automation.scheduler import run_scheduler

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stop.set())
    out(f"mlpipe scheduler: running the schedules of {Path(a.dir or '.').resolve()} "
         "(Ctrl-C stops)")
    run_scheduler(a.dir or ".", stop, jobs=a.jobs, log=out)
    out("mlpipe scheduler: stopped")
    return 0


def cmd_publish(a) -> int:
    from ..automation.publish import REGISTRY, publish_pipeline

    rec = publish_pipeline(a.notebook, a.name, a.version, a.description or "")
    params = ", ".join(f"{k}={v['default']!r}" for k, v in rec["parameters"].items()) or "none"
    out(f"published {rec['name']}@{rec['version']} ({len(rec['steps'])} steps; parameters: "
         f"{params}) to {REGISTRY.root}")
    out(f"run it: POST /mlpipe/api/pipelines/{rec['name']}/runs {{\"params\": {{...}}}}")
    return 0


def cmd_pipelines(a) -> int:
    from ..automation import publish

    if a.action == "ls":
        published(publish.list_pipelines(), f"no published pipelines in {publish.REGISTRY.root}",
                  lambda r: f"{Path(r['notebook']).name}  "
                            f"params: {', '.join(r['parameters']) or '-'}")
        return 0
    if a.ref is None:
        raise MlpipeError(f"usage: mlpipe pipelines {a.action} NAME@VERSION")
    publish.REGISTRY.apply(a.action, a.ref)
    out(f"{a.ref}: {a.action} done")
    return 0


def add_sweep_options(r: argparse.ArgumentParser) -> None:
    r.add_argument("--sweep", action="append", default=[], metavar="NAME=V1,V2",
                   help="run the grid of these values; steps they do not reach run once")
    r.add_argument("--sort", metavar="METRIC", help="--sweep: order the table by this metric")
    r.add_argument("--descending", action="store_true", help="--sort: largest first")


def add_parsers(sub) -> None:
    sc = sub.add_parser("schedule", help="run a notebook every N, on a cron expression or when "
                        "its data changes: add|ls|rm (`mlpipe scheduler` runs them)")
    sc.add_argument("action", choices=["add", "ls", "rm"])
    sc.add_argument("args", nargs="*", help="add: NOTEBOOK; rm: ID")
    when = sc.add_mutually_exclusive_group()
    when.add_argument("--every", metavar="INTERVAL", help="e.g. 30s, 10m, 2h, 1d")
    when.add_argument("--cron", metavar="EXPR", help="e.g. '0 6 * * *'")
    when.add_argument("--on-change", nargs="*", metavar="PATH", help="files or folders, "
                      "relative to the notebook's folder (default: its steps' --reads)")
    sc.add_argument("-p", "--param", nargs=2, action="append", default=[],
                    metavar=("NAME", "VALUE"), help="a parameter of the scheduled runs")
    sc.add_argument("--dir", help="project folder holding mlpipe-schedules.json (default: .)")
    sc.set_defaults(func=cmd_schedule)

    sr = sub.add_parser("scheduler", help="run due schedules in the foreground until stopped")
    sr.add_argument("--dir", help="project folder holding mlpipe-schedules.json (default: .)")
    sr.add_argument("-j", "--jobs", type=int, default=None, help="steps at once per run")
    sr.set_defaults(func=cmd_scheduler)

    pb = sub.add_parser("publish", help="freeze the notebook's pipeline as NAME@VERSION, "
                        "to run over REST (POST /mlpipe/api/pipelines/NAME/runs)")
    pb.add_argument("notebook")
    pb.add_argument("--name", required=True)
    pb.add_argument("--version", help="default: the next whole number")
    pb.add_argument("--description", help="one line about the pipeline")
    pb.set_defaults(func=cmd_publish)

    pl = sub.add_parser("pipelines", help="published pipelines: ls|deprecate|disable|enable|"
                        "default NAME@VERSION")
    pl.add_argument("action", nargs="?", default="ls",
                    choices=["ls", "deprecate", "disable", "enable", "default"])
    pl.add_argument("ref", nargs="?", help="NAME@VERSION")
    pl.set_defaults(func=cmd_pipelines)
