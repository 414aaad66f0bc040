"""Record what a `%%step` cell shows while it shows it, and show it again on reuse.

Recording tees the kernel's outputs without holding them back (a long step still prints as
it goes): the `write` of sys.stdout/sys.stderr (as IPython itself does to keep outputs in its
history), the display publisher (display(), DataFrames, matplotlib figures flushed after the
body) and the display hook (the body's last value). clear_output() drops what was recorded
before it, as the cell drops it.
"""
from __future__ import annotations

import contextlib
import sys
from typing import Any, Iterator

from ..store.displays import keepable


@contextlib.contextmanager
def recording(shell: Any) -> Iterator[list[dict[str, Any]]]:
    """Yield a list that fills with the nbformat outputs the cell shows meanwhile."""
    outputs: list[dict[str, Any]] = []
    patched: list[tuple[Any, str, Any]] = []

    def patch(obj: Any, attr: str, make: Any) -> None:
        original = getattr(obj, attr, None)
        if original is None:
            return
        own = vars(obj).get(attr) if hasattr(obj, "__dict__") else None  # IPython's own tee
        setattr(obj, attr, make(original))
        patched.append((obj, attr, own))

    def stream(name: str):
        def make(write):
            def tee(data, *args, **kwargs):
                result = write(data, *args, **kwargs)
                if data and isinstance(data, str) and not getattr(
                        shell, "showing_traceback", False):
                    outputs.append({"output_type": "stream", "name": name, "text": data})
                return result
            return tee
        return make

    def publish(original):
        def tee(data, metadata=None, *args, **kwargs):
            outputs.append({"output_type": "display_data", "data": data,
                            "metadata": metadata or {}})
            return original(data, metadata, *args, **kwargs)
        return tee

    def clear(original):
        def tee(*args, **kwargs):
            outputs.clear()
            return original(*args, **kwargs)
        return tee

    def result(original):
        def tee(format_dict, md_dict=None):
            outputs.append({"output_type": "execute_result", "data": format_dict,
                            "metadata": md_dict or {}})
            return original(format_dict, md_dict)
        return tee

    patch(sys.stdout, "write", stream("stdout"))
    patch(sys.stderr, "write", stream("stderr"))
    patch(shell.display_pub, "publish", publish)
    patch(shell.display_pub, "clear_output", clear)
    patch(shell.displayhook, "write_format_data", result)
    try:
        yield outputs
    finally:
        for obj, attr, own in reversed(patched):
            with contextlib.suppress(AttributeError, TypeError):
                if own is not None:
                    setattr(obj, attr, own)
                else:
                    delattr(obj, attr)  # the class's method is back


def show_again(outputs: list[dict[str, Any]]) -> None:
    """Show stored outputs in the running cell, as they were shown when the step ran."""
    from IPython.display import publish_display_data

    for out in keepable(outputs):
        if out["output_type"] == "stream":
            stream = sys.stderr if out["name"] == "stderr" else sys.stdout
            stream.write(out["text"])
            stream.flush()
        else:
            publish_display_data(out["data"], out.get("metadata") or None)
