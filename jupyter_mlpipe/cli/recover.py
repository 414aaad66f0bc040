"""`mlpipe debug` (a step opened in a notebook with its stored inputs) and `mlpipe verify`
(stored steps executed again, their outputs compared): parse and call run/debug.py, run/verify.py."""
from __future__ import annotations

import sys

from .printing import out


def cmd_debug(a) -> int:
    from ..pipeline.load import load_pipeline
    from ..run.debug import write_debug_notebook

    path = write_debug_notebook(load_pipeline(a.notebook), a.step)
    out(str(path))
    print(f"open it in JupyterLab, or: jupyter lab {path.name}", file=sys.stderr)
    return 0


def add_parsers(sub) -> None:
    d = sub.add_parser("debug", help="a notebook beside NOTEBOOK with STEP's stored inputs, "
                       "its run's parameters, the prelude and STEP's body")
    d.add_argument("notebook")
    d.add_argument("step")
    d.set_defaults(func=cmd_debug)

    v = sub.add_parser("verify", help="re-execute stored steps in fresh kernels and name those "
                       "whose outputs differ from the stored ones (exit 1)")
    v.add_argument("notebook")
    which = v.add_mutually_exclusive_group()
    which.add_argument("--all", action="store_true", help="every stored step (the default)")
    which.add_argument("--sample", metavar="F", help="a random fraction F (0-1] of them")
    v.add_argument("-p", "--param", nargs=2, action="append", default=[],
                   metavar=("NAME", "VALUE"), help="the stored results of these parameters")
    v.add_argument("-j", "--jobs", type=int, default=None, help="steps at once (default: cores)")
    v.set_defaults(func=cmd_verify)


def cmd_verify(a) -> int:
    from ..automation.sweep import parse_value
    from ..pipeline.load import load_pipeline
    from ..run.verify import DIFFERS, FAILED, RANDOM, SAME, parse_fraction, verify

    sample = parse_fraction(a.sample) if a.sample is not None else None
    spec = load_pipeline(a.notebook)
    report = verify(spec, {k: parse_value(v) for k, v in a.param}, sample=sample, jobs=a.jobs)
    width = max([len(c.name) for c in report.checks] + [4])
    symbol = {SAME: "✓", DIFFERS: "✗", RANDOM: "~", FAILED: "✗"}
    for c in report.checks:
        what = {SAME: "same outputs",
                DIFFERS: "differs: " + ", ".join(c.differing),
                RANDOM: "differs: " + ", ".join(c.differing) + " (--nondeterministic: "
                        "reported, not failed)",
                FAILED: f"failed to re-execute: {c.error}"}[c.verdict]
        out(f"{symbol[c.verdict]} {c.name:<{width}}  {what}  ({c.seconds:.1f}s)")
    for name in report.not_stored:
        out(f"- {name:<{width}}  not checked: no stored result for the current code and "
            "parameters")
    if report.skipped:
        out(f"- not sampled: {', '.join(report.skipped)}")
    n = len(report.checks)
    out(f"verified {n} stored step{'s' if n != 1 else ''} in {report.seconds:.1f}s "
        f"({report.seconds / max(n, 1):.1f}s a step); stored results unchanged")
    if report.failed:
        bad = [c for c in report.failed if c.verdict == DIFFERS]
        broken = [c for c in report.failed if c.verdict == FAILED]
        if bad:
            print("outputs differ from the stored ones: " + "; ".join(
                f"{c.name} ({', '.join(c.differing)})" for c in bad) + ". The step is random, "
                "or depends on something its key misses (an undeclared file, the clock, the "
                "network): seed it, declare what it reads (--reads), or mark it "
                "--nondeterministic if it is random on purpose.", file=sys.stderr)
        if broken:
            print("could not re-execute: " + ", ".join(c.name for c in broken) + " (see "
                  "their executed notebooks under "
                  f"{report.run_dir}/)", file=sys.stderr)
        return 1
    return 0
