"""The kernel template a plain `mlpipe run` starts before it needs one (issue 24: the leaf
edit's time), so ipykernel's import overlaps the run's own imports and planning.

`launch_early` spawns it first thing, from the notebook's kernelspec name alone (the
launcher calls it before importing the command line); once the notebook is parsed,
`launch_ahead` sends it the prelude's imports if the run's kernels are forked with its Python,
environment and folder (else it is closed and, where kernels are forked at all, one that fits
is launched), and lends it to the run as an `AheadLoan`, as the run daemon lends its own.
MLPIPE_TEMPLATE_AHEAD=0 turns both off: the executor launches its template when the first
kernel is needed.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import timings
from ..errors import MlpipeError
from ..kernels import template_pool
from ..kernels.template_pool import TemplateLoan
from ..targets import LOCAL, load_targets
from ..targets.config import kernel_start_mode
from ..targets.environment import ipykernel_python
from .kernel_environment import kernel_env

if TYPE_CHECKING:  # the run's modules are imported after the template is spawned
    from ..models import PipelineSpec


class AheadLoan(TemplateLoan):
    """A template `mlpipe run` launched itself at its start, before planning, so the prelude's
    imports overlap the run's own imports and planning; lent to the run like the daemon's.
    close() stops it, whether the run took it or not."""

    def __init__(self, key: str, template: Any):
        super().__init__({key: template})
        self.template = template

    def take(self, spec: dict) -> Any:
        """The template, which from now on is the run's own: stopping the run stops it at once,
        even while it imports (a lent one would be left running for the daemon)."""
        template = super().take(spec)
        if template is not None:
            template.lent = False
        return template

    def close(self) -> None:
        self.template.lent = False
        self.template.close()


def _fork_start(root: Path, notebook_kernel: str) -> tuple[str, dict[str, str]] | None:
    """The Python and environment of the template the local target's kernels are forked
    from (None where they are not: not Linux, spawn mode, a kernel that is not an ipykernel)."""
    target = load_targets(root).get(LOCAL)
    if target.kind != LOCAL or kernel_start_mode(target.kernel_start) != "fork":
        return None
    python = ipykernel_python(target.kernel or notebook_kernel)
    return None if python is None else (python, kernel_env(target))


@dataclass(frozen=True)
class Spawned:
    """A template process `mlpipe run` started first thing, before it imported its own code
    or parsed the notebook (it imports ipykernel meanwhile); `launch_ahead` sends it the
    prelude's imports if the run's kernels are forked with this Python, environment, folder."""

    template: Any
    python: str
    env: dict[str, str]
    cwd: str


# Its kernelspec name is read from the notebook's JSON, which the run then parses again: about
# 1.2 ms a MB here, cheap next to the ~0.1-0.2 s head start up to 10 MB; a notebook holding
# larger outputs gets its template once parsed (launch_ahead).
EARLY_MAX_BYTES = 10_000_000


def launch_early(notebook: str) -> Spawned | None:
    """Spawn the template of `notebook`'s local kernels, from its kernelspec name alone
    (None where there would be none, or on any doubt: the run launches one later)."""
    from ..kernels.template import KernelTemplate, TemplateError

    try:
        path = Path(notebook).resolve()
        if path.stat().st_size > EARLY_MAX_BYTES:
            return None  # parsing it twice would cost more than the head start wins
        with open(path, "rb") as f:
            meta = json.load(f).get("metadata") or {}
        start = _fork_start(path.parent, (meta.get("kernelspec") or {}).get("name") or "python3")
    except (OSError, ValueError, AttributeError, MlpipeError):
        return None  # the run reads the notebook again and says what is wrong
    if start is None:
        return None
    try:
        spawned = Spawned(KernelTemplate.spawn(start[0], start[1], str(path.parent)),
                          start[0], start[1], str(path.parent))
    except TemplateError:
        return None
    timings.mark("kernel template spawned early")
    # papermill's import waits for the first step to be submitted (KernelExecutor): started
    # here, it slowed a run that executes nothing (~0.3 CPU-s, and our own imports, through
    # the GIL) to win ~0.1 s on one that does
    return spawned


def launch_ahead(pipeline: PipelineSpec, spawned: Spawned | None = None) -> AheadLoan | None:
    """The template the run's local kernels would be forked from, launched now, or the one
    `launch_early` spawned if it fits (None where steps run elsewhere, or kernels are not
    forked); a spawned one that does not fit is closed."""
    from ..kernels.template import KernelTemplate, TemplateError
    from .kernels import template_imports

    start = None
    if {s.target for s in pipeline.steps} == {LOCAL}:
        start = _fork_start(pipeline.root, pipeline.kernel_name)
    early = spawned.template if spawned is not None else None
    if early is not None and (start is None or not early.alive or (
            spawned.python, spawned.env, spawned.cwd) != (*start, str(pipeline.root))):
        early.close()
        early = None
    if start is None:
        return None
    spec = template_pool.template_spec(template_imports(pipeline), start[0], start[1],
                                       str(pipeline.root))
    try:
        if early is not None:
            early.send_imports(spec["imports"])
            template = early
            timings.mark("prelude's imports sent to the template spawned early")
        else:
            template = KernelTemplate.launch(spec["imports"], spec["python"], spec["env"],
                                             spec["cwd"])
    except TemplateError:
        return None  # the executor tries again, and says why it cannot
    return AheadLoan(template_pool.template_key(spec), template)
