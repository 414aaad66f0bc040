"""The manual in docs/ builds with Sphinx + MyST with warnings as errors, and its tutorial's
code cells run (myst-nb executes them at every build), so its examples cannot rot."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import ROOT


@pytest.mark.slow
def test_the_manual_builds_without_warnings_and_its_tutorial_runs(tmp_path):
    out = tmp_path / "html"
    r = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b",
                        "html", str(ROOT / "docs"), str(out)],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    tutorial = (out / "tutorial.html").read_text()
    assert "succeeded" in tutorial  # the first run's summary, printed by the executed cell
    assert "reused" in tutorial  # the second run reused every step
    assert (out / "architecture.html").exists() and (out / "cli.html").exists()
