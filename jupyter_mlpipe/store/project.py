"""The project's [store] table: mlpipe.toml, else [tool.mlpipe.store] of pyproject.toml, in the
notebook's folder or above. Read by the shared store (remote.py) and the trusted keys
(signing.py)."""
from __future__ import annotations

import stat
import sys
import time
from pathlib import Path

from ..errors import StoreUnusableError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def store_table(root: Path) -> tuple[str, dict]:
    """(the file it came from, or "defaults"; the [store] table as written, maybe not a dict)."""
    folder = root.resolve()
    for folder in [folder, *folder.parents]:
        for name, path in (("mlpipe.toml", ()), ("pyproject.toml", ("tool", "mlpipe"))):
            f = folder / name
            data = _parsed(f)
            if data is None:
                continue
            for part in path:
                data = data.get(part, {}) if isinstance(data, dict) else {}
            if name == "mlpipe.toml" or data:
                return str(f), data.get("store", {}) if isinstance(data, dict) else {}
    return "defaults", {}


# path -> (stat stamp, parsed TOML): every artifact and entry check looks up the signing keys,
# which read these files; an edit changes the stamp (size, mtime, inode), so a long-lived
# process (the server, a warm kernel) sees it at the next look-up. File times are coarse (a
# clock tick; 2 s on FAT), so, as git does with its racily clean index entries, a file changed
# less than RACY_NS ago is parsed again each time: a same-size edit in the same tick would
# leave the stamp as it was.
_parsed_files: dict[str, tuple[tuple[int, int, int], dict]] = {}
RACY_NS = 3_000_000_000


def _parsed(f: Path) -> dict | None:
    """The TOML file `f`, parsed; None if it is not a file."""
    try:
        st = f.stat()
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    stamp = (st.st_size, st.st_mtime_ns, st.st_ino)
    cached = _parsed_files.get(str(f))
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        data = tomllib.loads(f.read_text())
    except (OSError, ValueError) as exc:
        raise StoreUnusableError(f"cannot read {f}: {exc}") from None
    if time.time_ns() - st.st_mtime_ns > RACY_NS:
        _parsed_files[str(f)] = (stamp, data)
    return data
