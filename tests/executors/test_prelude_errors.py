"""A prelude cell that fails with an IPython usage error (an unknown %magic: no error output,
no traceback) still fails its steps with a message that names the cell, never an empty one."""
from __future__ import annotations


def test_a_usage_error_in_the_prelude_names_the_cell(make_nb, mlpipe_cli):
    path = make_nb(["import os\n%notamagic x", "%%step a --out v\nv = 1"])
    done = mlpipe_cli("run", path)
    assert done.returncode == 1
    said = done.stdout + done.stderr
    assert "CellExecutionError:  (" not in said  # not an empty message
    assert "%notamagic x" in said and "IPython usage error" in said, said
    assert "in the parameters or prelude cells" in said
