"""Run-wide defaults of a project: the `[run]` table of mlpipe.toml (or [tool.mlpipe.run]).

`timeout` (a duration: 90, 30s, 5m, 2h) and `retries` (a whole number) apply to every step
whose `%%step` line does not set its own `--timeout` / `--retries`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import StepDefinitionError
from ..models import StepSpec
from ..pipeline.durations import parse_duration
from ..pipeline.notebook import parse_retries
from ..models import PipelineSpec
from ..targets import LOCAL_KINDS, find_config, load_targets

_KEYS = {"timeout", "retries"}


@dataclass(frozen=True, slots=True)
class RunDefaults:
    timeout: float | None = None  # seconds; None: no limit
    retries: int = 0

    def timeout_of(self, step: StepSpec) -> float | None:
        return step.timeout if step.timeout is not None else self.timeout

    def retries_of(self, step: StepSpec) -> int:
        return step.retries if step.retries is not None else self.retries


def load_run_defaults(root: Path) -> RunDefaults:
    """The `[run]` table found beside the notebook (or above it); bad values named with the file."""
    found = find_config(root)
    if found is None:
        return RunDefaults()
    source, data = found
    table = data.get("run") or {}
    if not isinstance(table, dict):
        raise StepDefinitionError(f"{source}: 'run' must be a table ([run] with timeout = "
                                  "\"5m\" and/or retries = 2)")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise StepDefinitionError(f"{source}: [run] has unknown key(s) {', '.join(unknown)}; "
                                  f"known keys: {', '.join(sorted(_KEYS))}")
    try:
        timeout = (parse_duration(table["timeout"], f"{source}: [run] timeout")
                   if "timeout" in table else None)
    except ValueError as exc:
        raise StepDefinitionError(str(exc)) from None
    retries = (parse_retries(table["retries"], f"{source}: [run] retries")
               if "retries" in table else 0)
    return RunDefaults(timeout, retries)


# executor kinds that stop a step at its --timeout: kernels of this machine are interrupted,
# then killed; gateway and Dask kernels are shut down once a cell runs past it (nbclient)
ENFORCING_KINDS = LOCAL_KINDS | {"gateway", "dask"}


def unenforced_timeouts(spec: PipelineSpec, steps: list[str], defaults: RunDefaults) -> list[str]:
    """One line per target whose steps have a time limit that its executor (a kind another
    package provides) does not enforce: said, instead of running silently without one."""
    timed = {spec.step(n).target for n in steps if defaults.timeout_of(spec.step(n))}
    if not timed - {"local"}:
        return []
    targets = load_targets(spec.root)
    return [f"jupyter_mlpipe: --timeout is not enforced on target '{name}' "
            f"({targets.get(name).kind}): its steps run without a time limit"
            for name in sorted(timed) if name in targets.targets
            and targets.get(name).kind not in ENFORCING_KINDS]
