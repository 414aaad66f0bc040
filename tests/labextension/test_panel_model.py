"""The panel's model unit specs (labextension/src/__tests__, jest + ts-jest) and its lint
(prettier and eslint, as `jlpm lint:check` runs them), run by pytest so `python -m pytest`
covers the TypeScript too."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

LABEXTENSION = Path(__file__).resolve().parents[2] / "labextension"
JEST = LABEXTENSION / "node_modules" / "jest" / "bin" / "jest.js"
BIN = LABEXTENSION / "node_modules" / ".bin"


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


def test_the_panels_code_is_formatted_and_lint_free():
    if shutil.which("node") is None:
        pytest.skip("needs Node.js to run prettier and eslint")
    if not (BIN / "prettier").exists() or not (BIN / "eslint").exists():
        pytest.skip("labextension/node_modules is absent: cd labextension && jlpm install")
    for cmd in ([str(BIN / "prettier"), "--check", "src/**/*.ts"], [str(BIN / "eslint"), "src"]):
        result = subprocess.run(cmd, cwd=LABEXTENSION, capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
