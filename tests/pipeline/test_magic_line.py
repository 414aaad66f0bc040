"""A mistyped `%%step` option names the closest one, as the CLI does."""
from __future__ import annotations

import pytest

from jupyter_mlpipe.errors import StepDefinitionError
from jupyter_mlpipe.pipeline.notebook import parse_magic_line


@pytest.mark.parametrize("line, meant", [("train --in raw --outt model", "--out"),
                                         ("train --read data.csv", "--reads"),
                                         ("train --no_reuse", "--no-reuse")])
def test_a_mistyped_option_gets_did_you_mean(line, meant):
    with pytest.raises(StepDefinitionError) as err:
        parse_magic_line(line, cell=2)
    assert f"(did you mean '{meant}'?)" in str(err.value), str(err.value)
    assert str(err.value).startswith("cell 3")


def test_an_unlike_option_gets_no_guess():
    with pytest.raises(StepDefinitionError) as err:
        parse_magic_line("train --zzzzzz")
    assert "did you mean" not in str(err.value)
