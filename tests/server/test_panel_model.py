"""The panel's model unit specs (labextension/src/__tests__, jest + ts-jest), run by pytest so
`python -m pytest` covers the TypeScript too."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

LABEXTENSION = Path(__file__).resolve().parents[2] / "labextension"
JEST = LABEXTENSION / "node_modules" / "jest" / "bin" / "jest.js"


def test_model_specs_pass():
    node = shutil.which("node")
    if node is None:
        pytest.skip("needs Node.js to run the panel's jest specs")
    if not JEST.exists():
        pytest.skip("labextension/node_modules is absent: cd labextension && jlpm install")
    result = subprocess.run([node, str(JEST), "--ci"], cwd=LABEXTENSION,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "Tests:" in result.stderr, result.stderr[-2000:]  # jest reports there
