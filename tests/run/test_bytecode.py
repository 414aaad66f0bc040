"""run/bytecode.py: only bytecode Python would wrongly take for the source is removed."""
from __future__ import annotations

import os
import py_compile
from pathlib import Path

from jupyter_mlpipe.run.bytecode import drop_stale


def _at(path: Path, ns: int) -> None:
    os.utime(path, ns=(ns, ns))


def test_only_a_pyc_that_passes_for_a_later_edit_is_removed(tmp_path):
    second = 1_700_000_000 * 10**9
    fresh, stale, checked = (tmp_path / f"{n}.py" for n in ("fresh", "stale", "checked"))
    for src in (fresh, stale, checked):
        src.write_text("A = 1\n")
        _at(src, second + 100_000_000)
    compiled = {src: Path(py_compile.compile(str(src))) for src in (fresh, stale)}
    compiled[checked] = Path(py_compile.compile(
        str(checked), invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH))
    for pyc in compiled.values():
        _at(pyc, second + 200_000_000)
    for src in (stale, checked):  # same size, same second, after the .pyc was written
        src.write_text("A = 2\n")
        _at(src, second + 300_000_000)
    assert drop_stale([fresh, stale, checked, tmp_path / "gone.py"]) == [compiled[stale]]
    assert compiled[fresh].exists() and compiled[checked].exists()
    assert not compiled[stale].exists()
