"""Thin IPython layer: `%%step` and `%mlpipe` parse their arguments and call plain functions."""
from __future__ import annotations

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class

from .errors import MlpipeError
from .pipeline.notebook import parse_magic_line, step_help


@magics_class
class MlpipeMagics(Magics):
    notebook: str | None = None

    @cell_magic
    def step(self, line: str, cell: str):
        from .interactive.cell import run_step_cell

        try:
            parse_magic_line(line)  # the batch parser: both read every line alike
            run_step_cell(self.shell, line, cell, self.notebook)
        except MlpipeError as exc:
            print(f"jupyter_mlpipe: {exc}")
            raise _Quiet() from None

    @line_magic
    def mlpipe(self, line: str):
        """%mlpipe notebook PATH | status | graph [--static] | load STEP"""
        from pathlib import Path

        from .interactive.kernel_notebook import find_notebook

        words = line.split()
        cmd = words[0] if words else "status"
        if cmd == "notebook" and len(words) == 2:
            MlpipeMagics.notebook = str(Path(words[1]).resolve())
            return None
        path = find_notebook(self.shell.user_ns, self.notebook)
        if path is None:
            print("jupyter_mlpipe: run `%mlpipe notebook PATH` first")
            return None
        from .api import Pipeline

        if cmd == "graph" and words[1:] != ["--static"]:  # broken cells drawn invalid
            from .interactive.widget import PipelineWidget
            from .pipeline.readable import readable_spec

            spec, broken = readable_spec(Path(path))
            return PipelineWidget(Pipeline(spec), broken=broken)
        pipe = Pipeline.from_notebook(path)
        if cmd == "status":
            for s in pipe.status():
                print(f"{s.name:20} {s.describe()}")
            return None
        if cmd == "graph":  # --static: the Graphviz SVG, kept in the saved notebook
            return pipe
        if cmd == "load" and len(words) == 2:
            from .interactive.debug_load import load_step

            try:
                print(load_step(self.shell.user_ns, pipe.spec, words[1]))
            except MlpipeError as exc:
                print(f"jupyter_mlpipe: {exc}")
                raise _Quiet() from None
            return None
        print("usage: %mlpipe notebook PATH | status | graph [--static] | load STEP")
        return None


# `%%step?` shows the batch parser's help (IPython's magic_arguments would print `%step`)
MlpipeMagics.step.__doc__ = step_help()


class _Quiet(Exception):
    """Raised after printing a one-paragraph error, so Run All stops without a traceback."""

    def _render_traceback_(self):
        return []


def load_ipython_extension(ipython) -> None:
    from .interactive.in_kernel import begin_prelude
    from .interactive.kernel_state import watch_imports

    watch_imports()  # from here on, a module edited after its import is noticed
    begin_prelude()  # what the plain cells use from here on counts for each step after them
    ipython.register_magics(MlpipeMagics)
