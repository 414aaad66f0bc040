"""`mlpipe runs`, `mlpipe show` and `mlpipe cache`: what ran and what is stored. Thin like
cli.py: parse, call History/Store/tracking, print."""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from .printing import SYMBOL, fmt_time, out, paint, use_colour
from ..errors import CacheError, MlpipeError
from ..models import StepState


def _store_for(notebook: str | None):
    """The notebook's store, else $MLPIPE_HOME, else .mlpipe/ in the current folder."""
    from ..store.files import Store

    return Store.for_notebook(notebook or Path.cwd() / "x.ipynb")


def _history_homes(notebook: str | None) -> list[Path]:
    """The stores `show` looks in, in order: the notebook's (--notebook), MLPIPE_HOME's, the
    current folder's."""
    from ..store.files import store_home

    homes = [store_home(notebook)] if notebook else []
    env = os.environ.get("MLPIPE_HOME")
    if env:
        homes.append(Path(env).expanduser().resolve())
    homes.append(Path.cwd().resolve() / ".mlpipe")
    return list(dict.fromkeys(homes))


def _existing_history(home: Path):
    """The history under `home`, or None when there is none (reading creates nothing)."""
    from ..store.history import History

    return History(home) if (home / "history.sqlite").is_file() else None


def cmd_runs(a) -> int:
    from ..store.records import compare, run_record
    from .printing import fmt_value

    home = _store_for(a.notebook).home
    h = _existing_history(home)
    if h is None:
        out(f"no runs recorded yet (no run history in {home})")
        return 0
    if a.compare:
        return _print_compare(compare(h, *a.compare))
    nb = str(Path(a.notebook).resolve()) if a.notebook else None
    rows = h.runs(nb, a.limit)
    if not rows:
        out("no runs recorded yet")
        return 0
    records = {r["run_id"]: run_record(h, r["run_id"]) or {} for r in rows}
    steps = {r["run_id"]: " ".join(f"{n} {k}" for k, n in sorted(r["counts"].items()))
             for r in rows}
    wide = max(len("STEPS"), *map(len, steps.values()))  # the columns stay aligned
    colour = use_colour()
    out(f"{'RUN':<24} {'STATE':<11} {'STARTED':<17} {'TIME':>8}  {'REUSED':>6}  "
        f"{'STEPS':<{wide}}  NOTEBOOK")
    for r in rows:
        rec = records[r["run_id"]]
        took = fmt_time((r["finished"] or time.time()) - r["started"])
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["started"]))
        reused = f"{rec.get('reused', 0)}/{sum(r['counts'].values())}"
        state = paint(f"{r['state']:<11}", r["state"], colour)
        out(f"{r['run_id']:<24} {state} {started:<17} {took:>8}  {reused:>6}  "
            f"{steps[r['run_id']]:<{wide}}  {Path(r['notebook']).name}")
        if r.get("trigger"):
            out(f"    trigger: {r['trigger']}")
        params = rec.get("logged_params") or {}
        if params:
            out("    params:  " + ", ".join(f"{k}={fmt_value(v)}" for k, v in params.items()))
        metrics = rec.get("last_metrics") or {}
        if metrics:
            out("    metrics: " + ", ".join(f"{k}={fmt_value(m['value'])}"
                                           for k, m in metrics.items()))
    return 0


def _print_compare(diff: dict) -> int:
    from .printing import fmt_value

    a, b = diff["a"]["run_id"], diff["b"]["run_id"]
    out(f"compare {a} -> {b}")
    out("parameters:" + ("" if diff["params"] else " same"))
    for k, (va, vb) in diff["params"].items():
        out(f"  {k}: {fmt_value(va)} -> {fmt_value(vb)}")
    out("metrics:" + ("" if diff["metrics"] else " same"))
    for k, (va, vb) in diff["metrics"].items():
        delta = f" ({vb - va:+.4g})" if isinstance(va, float) and isinstance(vb, float) else ""
        out(f"  {k}: {fmt_value(va)} -> {fmt_value(vb)}{delta}")
    changed = [n for n, s in diff["steps"].items() if s != "same"]
    out("steps:" + ("" if changed else " all the same (same keys)"))
    for n, s in diff["steps"].items():
        if s != "same":
            out(f"  {n}: {s}")
    same = [n for n, s in diff["steps"].items() if s == "same"]
    if same and changed:
        out("  unchanged: " + ", ".join(same))
    return 0


def _find_run(run_id: str, notebook: str | None) -> dict:
    searched = []
    for home in _history_homes(notebook):
        h = _existing_history(home)
        searched.append(f"{home}" + ("" if h else " (no history there)"))
        if h is not None:
            try:
                run = h.run(run_id)
            finally:
                h.close()
            if run is not None:
                return run
    raise MlpipeError(
        f"no run '{run_id}' found; searched: " + "; ".join(searched) + ". Pass --notebook NB "
        "(or set MLPIPE_HOME) to look in that notebook's store; `mlpipe runs NB` lists its runs")


def cmd_show(a) -> int:
    run = _find_run(a.run_id, a.notebook)
    out(f"run {run['run_id']}  {run['state']}  {Path(run['notebook']).name}  ({run['kind']})")
    if run["params"]:
        out("parameters: " + ", ".join(f"{k}={v!r}" for k, v in run["params"].items()))
    colour = use_colour()
    for s in run["steps"]:
        took = fmt_time((s["finished"] or 0) - (s["started"] or 0)) if s["finished"] else ""
        tries = s.get("attempts") or 1
        sym, state = (paint(t, s["state"], colour)
                      for t in (SYMBOL.get(s["state"], " "), f"{s['state']:<9}"))
        out(f"  {sym} {s['step']:<24} {state} {took:>8}  "
             + (f"[{tries} attempts] " if tries > 1 else "")
             + (s["error"].splitlines()[0] if s["error"] else (s["notebook"] or "")))
        for i, why in enumerate(s.get("attempt_errors") or [], 1):
            out(f"      attempt {i} failed: {why}")
    for m in run.get("metrics", []):
        out(f"  {m['kind'] or 'metric'} {m['step']}.{m['name']} = {m['value']}")
    return 0


def cmd_cache(a) -> int:
    a.notebook = a.notebook or a.notebook_opt
    if a.action in ("push", "pull"):
        return _cache_sync(a)
    store = _store_for(a.notebook)
    if a.action == "ls":
        _cache_ls(store, a.notebook)
    elif a.action == "gc" and (a.max_size or _config(a.notebook).max_size):
        _gc_by_size(store, a)
    elif a.action == "gc" and a.remote:
        raise CacheError("cache gc --remote evicts down to a size: give --max-size SIZE (or "
                         "set [store] max_size)")
    elif a.action == "gc":
        r = store.gc(older_than_days=a.older_than)
        out(f"removed {r['entries']} entries, {r['objects']} artifacts, {r['blobs']} files "
             f"({r['bytes'] / 1e6:.1f} MB), {r['runs']} run folders")
    elif a.action == "clear":
        store.clear()
        out(f"cleared the cache in {store.home} (run history kept)")
    return 0


def _gc_by_size(store, a) -> None:
    from ..store.remote import open_remote, parse_size
    from ..store.usage import evict, evict_remote

    size = parse_size(a.max_size) if a.max_size else _config(a.notebook).max_size
    remote = open_remote(Path(a.notebook or "x").resolve().parent) if a.remote else None
    if a.remote and remote is None:
        raise CacheError("no shared store: set MLPIPE_STORE=s3://BUCKET/PREFIX or [store] url")
    r = evict(store, size)
    out(f"removed {r['entries']} least recently used results ({r['bytes'] / 1e6:.1f} MB)")
    if remote is not None:
        r = evict_remote(remote, size)
        busy = (f"; {r['leases']} running run(s) hold a lease, so nothing there was evicted "
                "(try again when they end)") if r["leases"] else ""
        out(f"removed {r['entries']} least recently used results ({r['bytes'] / 1e6:.1f} MB) "
            f"from {remote.url}{busy}")


def _config(notebook: str | None):
    from ..store.remote import store_config  # the store modules load only for `cache`
    return store_config(Path(notebook or "x").resolve().parent)


def _cache_ls(store, notebook: str | None) -> None:
    from ..store.remote import open_remote
    from ..store.usage import listing

    for line in listing(store, open_remote(Path(notebook or "x").resolve().parent)):
        out(line)


def _cache_sync(a) -> int:
    if not a.notebook:
        raise CacheError(f"mlpipe cache {a.action} needs a notebook: mlpipe cache {a.action} NB")
    from ..store.remote import open_remote

    nb = Path(a.notebook)
    remote = open_remote(nb.resolve().parent)
    if remote is None:
        raise CacheError("no shared store: set MLPIPE_STORE=s3://BUCKET/PREFIX or [store] url")
    if a.action == "push":
        return out(f"pushed {remote.push_notebook(_store_for(a.notebook), nb.name)} "
                    f"result(s) of {nb.name} to {remote.url}") or 0
    from ..api import Pipeline

    rows = Pipeline.from_notebook(a.notebook).status()  # each hit is pulled, checked
    out(f"{sum(r.state is StepState.CACHED for r in rows)} of {len(rows)} step(s) of {nb.name}"
         f" are stored here ({remote.url})")
    return 0


def add_parsers(sub) -> None:
    rs = sub.add_parser("runs", help="run history")
    rs.add_argument("notebook", nargs="?")
    rs.add_argument("-n", "--limit", type=int, default=20)
    rs.add_argument("--compare", nargs=2, metavar=("RUN_A", "RUN_B"),
                    help="differences in parameters, metrics and steps between two runs")
    rs.set_defaults(func=cmd_runs)

    sh = sub.add_parser("show", help="one run, step by step")
    sh.add_argument("run_id")
    sh.add_argument("--notebook", help="also look in this notebook's store (always searched: "
                    "$MLPIPE_HOME and ./.mlpipe)")
    sh.set_defaults(func=cmd_show)

    c = sub.add_parser("cache", help="inspect or clean the artifact store")
    c.add_argument("action", choices=["ls", "gc", "clear", "push", "pull"])
    c.add_argument("notebook", nargs="?", help="whose store (default: ./.mlpipe or "
                   "$MLPIPE_HOME); push/pull: the notebook whose results to sync")
    c.add_argument("--notebook", dest="notebook_opt", help=argparse.SUPPRESS)
    c.add_argument("--max-size", metavar="SIZE",
                   help="gc: evict least recently used results down to SIZE (e.g. 20GB); "
                   "default: [store] max_size")
    c.add_argument("--remote", action="store_true",
                   help="gc --max-size: evict in the shared store too (nothing while a run is "
                   "running)")
    c.add_argument("--older-than", type=float, default=7.0, metavar="DAYS",
                   help="gc: keep superseded results younger than this (default 7)")
    c.set_defaults(func=cmd_cache)
