"""The project's [store] table: mlpipe.toml, else [tool.mlpipe.store] of pyproject.toml, in the
notebook's folder or above. Read by the shared store (remote.py) and the trusted keys
(signing.py)."""
from __future__ import annotations

import sys
from pathlib import Path

from ..errors import StoreUnusableError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def store_table(root: Path) -> tuple[str, dict]:
    """(the file it came from, or "defaults"; the [store] table as written, maybe not a dict)."""
    for folder in [root.resolve(), *root.resolve().parents]:
        for name, path in (("mlpipe.toml", ()), ("pyproject.toml", ("tool", "mlpipe"))):
            f = folder / name
            if not f.is_file():
                continue
            try:
                data = tomllib.loads(f.read_text())
            except (OSError, ValueError) as exc:
                raise StoreUnusableError(f"cannot read {f}: {exc}") from None
            for part in path:
                data = data.get(part, {}) if isinstance(data, dict) else {}
            if name == "mlpipe.toml" or data:
                return str(f), data.get("store", {}) if isinstance(data, dict) else {}
    return "defaults", {}
