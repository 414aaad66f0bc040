"""The core modules type-check with mypy (files and settings: [tool.mypy] in pyproject.toml)."""
from __future__ import annotations

import subprocess
import sys

from tests.helpers import ROOT


def test_core_modules_type_check():
    r = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True,
                       timeout=600, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
