"""`%mlpipe load STEP`: a step's stored inputs and its run's parameters in the user namespace,
to try its body by hand (run/debug.py finds them; nothing upstream is executed)."""
from __future__ import annotations

from typing import Any

from ..models import PipelineSpec
from ..run.debug import parameter_values, stored_inputs
from .in_kernel import load


def load_step(user_ns: dict[str, Any], spec: PipelineSpec, step: str) -> str:
    """Put STEP's inputs and parameters into `user_ns`; returns the line that says what."""
    found = stored_inputs(spec, step)
    params = parameter_values(spec, found)
    values = {var: load(str(found.store_home), d) for var, d in found.inputs.items()}
    user_ns.update(params)
    user_ns.update(values)
    loaded = ", ".join(f"{v} (from '{found.producers[v]}')" for v in values) or "no inputs"
    where = f"run {found.run_id}" if found.run_id else "the notebook's defaults"
    shown = ", ".join(f"{k}={v!r}" for k, v in params.items())
    return (f"loaded {loaded} for step '{step}'; parameters of {where}"
            + (f": {shown}" if shown else ""))
