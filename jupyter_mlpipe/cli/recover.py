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
