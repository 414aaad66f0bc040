"""Fuzzing the %%step line: the batch parser and the IPython magic read every line alike, and
every rejection is a one-paragraph StepDefinitionError (exit code 2) naming the cell."""
from __future__ import annotations

import ast

import nbformat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from IPython.core.inputtransformer2 import TransformerManager

from jupyter_mlpipe.errors import StepDefinitionError
from jupyter_mlpipe.pipeline.notebook import parse_magic_line, parse_pipeline, split_magic

TOKENS = st.sampled_from([
    "load", "train", "a-b", "_x", "1bad", "x" * 120, "raw", "await", "None", "lambda", "déjà",
    "-i", "--in", "-o", "--out", "--reads", "--writes", "--target", "--module", "--no-reuse",
    "--bogus", "-x", "data/a.csv", "..@1", "pkg.mod@1.0", "'", '"', "'a b'", '"c d"', "\\",
    "=", "--out=y", "\x00", "", "#", "é" * 300,
])
SEPARATORS = st.sampled_from([" ", "  ", "\t", " \t"])
LINES = st.lists(st.tuples(TOKENS, SEPARATORS), max_size=8).map(
    lambda parts: "".join(sep + tok for tok, sep in parts))
PREFIX = st.sampled_from(["%%step", "%%step ", "%%step\t", "\n%%step ", "%%stepper "])

_transformer = TransformerManager()


def _magic_line(source: str) -> str | None:
    """The line IPython hands to the %%step magic for this cell, or None if it would not call
    %%step at all."""
    code = _transformer.transform_cell(source)
    for node in ast.walk(ast.parse(code)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "run_cell_magic"):
            name, line = (ast.literal_eval(a) for a in node.args[:2])
            return line if name == "step" else None
    return None


def _outcome(line: str | None):
    if line is None:
        return "not a step"
    try:
        return vars(parse_magic_line(line))
    except StepDefinitionError:
        return "rejected"


def _batch(source: str):
    try:
        split = split_magic(source)
    except StepDefinitionError:
        return "rejected"
    return _outcome(None if split is None else split[0])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=PREFIX, line=LINES)
def test_batch_and_magic_agree_on_every_line(prefix, line):
    source = f"{prefix}{line}\nx = 1\n"
    magic = _outcome(_magic_line(source))
    batch = _batch(source)
    if magic == "not a step" and batch == "rejected":
        return  # the batch parser says why IPython would not find the magic
    assert magic == batch, source


def _notebook(source: str) -> dict:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import os"), nbformat.v4.new_code_cell(source)]
    return nb


@settings(max_examples=300, deadline=None)
@given(line=LINES)
def test_every_rejection_is_one_paragraph_naming_the_cell(line, tmp_path_factory):
    try:
        parse_pipeline(_notebook(f"%%step {line}\nx = 1\n"), tmp_path_factory.getbasetemp(),
                       lambda step, params: (step, []))
    except StepDefinitionError as exc:
        assert exc.exit_code == 2
        text = str(exc)
        assert text.startswith("cell 2") and "\n\n" not in text and "Traceback" not in text


@pytest.mark.parametrize("line", ["'unclosed", "load -o await", "load --module ..@1",
                                  "load\x00", "x" * 300, "load --bogus"])
def test_rejections_through_the_cli(line, tmp_path, mlpipe_cli):
    path = tmp_path / "nb.ipynb"
    nbformat.write(_notebook(f"%%step {line}\nx = 1\n"), path)
    r = mlpipe_cli("status", path)
    assert r.returncode == 2, r.stderr
    assert "cell 2" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


FAST_TOKENS = st.sampled_from([
    "load", "a-b", "_x", "raw", "x1", "data/a.csv", "pkg.mod@1.0", "5m", "2", "-5s", "-1",
    "-i", "--in", "-o", "--out", "--reads", "--writes", "--target", "--module", "--timeout",
    "--retries", "--no-reuse", "--nondeterministic", "--bogus", "--ou", "-x", "--in=a", "--",
    "'a b'", "\\", "#", "\xa0", "\x0b", "é",
])
FAST_LINES = st.lists(st.tuples(FAST_TOKENS, SEPARATORS), max_size=10).map(
    lambda parts: "".join(sep + tok for tok, sep in parts))


@settings(max_examples=3000, deadline=None)
@given(FAST_LINES)
def test_the_plain_line_shortcut_reads_a_line_as_argparse_does(line):
    """`status` on 1,000 steps reads common lines without shlex and argparse; where the
    shortcut answers, argparse gives the very same arguments (else argparse reads it)."""
    import shlex

    from jupyter_mlpipe.pipeline.notebook import _PARSER, _join_values, _plain_magic_line

    fast = _plain_magic_line(line)
    if fast is None:
        return
    assert vars(fast) == vars(_PARSER.parse_args(_join_values(shlex.split(line))))
