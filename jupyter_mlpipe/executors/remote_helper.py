"""Code sent into a remote kernel; imports nothing from jupyter_mlpipe (the remote may lack it).

The remote kernel shares no disk with the runner. Everything travels over the kernel's own
channels, in chunks, so a large artifact is never held whole as a message:
  to the kernel:   `put(path, base64_chunk, offset)` execute requests append to a file in a
                   private working folder (inputs as store artifacts, --reads files as files);
  from the kernel: `send(path)` publishes the file as display_data messages of type
                   application/x-mlpipe-chunk, each one chunk, that the runner appends to a file.
Artifacts use the store's own body format (serialize.py) with a sha256 of each file in info();
the runner checks it, then signs the body into its store (the remote never sees the key).

What the step really used on the remote host (issue 20: remote steps record their manifest):
from `record()`, before the prelude, an audit hook notes files the cell code opens for
reading outside the working folder (files of the remote host, by absolute path) and
os.environ's class notes the variables it reads; info() ships both back with their sha256,
and `check(manifest)` on a fresh kernel says which no longer hold, before a result is reused.
Files pushed into the working folder (--reads, local modules) are in the step's key already.
"""
import base64
import hashlib
import json
import os
import pickle
import shutil
import struct
import sys
import sysconfig
import tempfile

ARTIFACT_HEADER = b"MLPIPE-ARTIFACT\n"
CHUNK_MIME = "application/x-mlpipe-chunk"
INFO_MIME = "application/x-mlpipe-info"
state = {}


def begin(env):
    """A fresh working folder as the kernel's cwd; the target's env vars set."""
    os.environ.update(env)
    state["home"] = os.getcwd()
    state["work"] = tempfile.mkdtemp(prefix="mlpipe-step-")
    os.chdir(state["work"])


_INSTALLED = tuple({os.path.realpath(p) + os.sep for p in (
    sys.prefix, sys.base_prefix, sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"],
    sysconfig.get_paths()["platlib"])})
_SYSTEM = ("/proc/", "/sys/", "/dev/", "/etc/", "/usr/")  # the host's, not the step's data


def _by_cell(frame):
    """Whether the nearest code that asked is a notebook cell (not a library or IPython)."""
    while frame is not None:
        name = frame.f_code.co_filename
        if name.startswith("<ipython-input") or os.sep + "ipykernel_" in name:
            return True
        frame = frame.f_back
    return False


def _audit(event, args):
    rec = state.get("record")
    if rec is None or event != "open":
        return
    path, mode, flags = args
    if isinstance(path, int):
        return
    if (mode is None and (flags or 0) & os.O_ACCMODE == os.O_WRONLY) or \
            (mode is not None and "r" not in mode and "+" not in mode):
        return
    full = os.path.realpath(os.path.join(os.getcwd(), os.fsdecode(path)))
    work = state.get("work", "") + os.sep
    if full.startswith(work) or full.startswith(_INSTALLED) or full.startswith(_SYSTEM):
        return
    if _by_cell(sys._getframe(1)):
        rec["files"].add(full)


class _Environ(os._Environ):
    """os.environ's class while a step records: notes the variables cell code reads."""

    def __getitem__(self, key):
        rec = state.get("record")
        if rec is not None and _by_cell(sys._getframe(1)):
            rec["env"].add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        rec = state.get("record")
        if rec is not None and isinstance(key, str) and _by_cell(sys._getframe(1)):
            rec["env"].add(key)
        return super().__contains__(key)


def record():
    """Record what the cells use from here on (the warm-up's prelude, then the step)."""
    state["record"] = {"files": set(), "env": set()}
    if not state.get("hooked"):
        sys.addaudithook(_audit)
        state["hooked"] = True
    if type(os.environ) is os._Environ:
        os.environ.__class__ = _Environ


def _sha256_file(path):
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return None
    return h.hexdigest()


def _sha256_text(value):
    return None if value is None else hashlib.sha256(value.encode()).hexdigest()


def _manifest():
    rec = state.pop("record", None) or {"files": set(), "env": set()}
    return {"files": {p: _sha256_file(p) for p in sorted(rec["files"]) if os.path.isfile(p)},
            "env": {k: _sha256_text(os.environ.get(k)) for k in sorted(rec["env"])}}


def check(manifest):
    """Publish the reasons a remote manifest no longer holds on this host ([]: it holds)."""
    reasons = []
    for path, digest in (manifest.get("files") or {}).items():
        now = _sha256_file(path)
        if now is None:
            reasons.append(f"read {path} on the remote host (deleted)")
        elif now != digest:
            reasons.append(f"read {path} on the remote host (changed)")
    for key, digest in (manifest.get("env") or {}).items():
        if _sha256_text(os.environ.get(key)) != digest:
            reasons.append(f"${key} changed on the remote host")
    _publish({INFO_MIME: {"reasons": reasons}}, {})


def put(path, chunk, offset):
    full = os.path.join(state["work"], path)
    if offset == 0:
        os.makedirs(os.path.dirname(full) or ".", exist_ok=True)
    with open(full, "r+b" if offset else "wb") as f:
        f.seek(offset)
        f.write(base64.b64decode(chunk))


def load(path):
    with open(os.path.join(state["work"], path), "rb") as f:
        if f.read(len(ARTIFACT_HEADER)) != ARTIFACT_HEADER:
            raise ValueError(f"{path} is not a jupyter_mlpipe artifact")
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        main = f.read(header["main"])
        buffers = []
        for size in header["buffers"]:
            try:  # numpy.empty: no zero-filling of large buffers
                import numpy

                buf = numpy.empty(size, dtype=numpy.uint8)
            except ImportError:
                buf = bytearray(size)
            if f.readinto(memoryview(buf).cast("B")) != size:
                raise ValueError(f"{path} is truncated")
            buffers.append(buf)
    import cloudpickle  # noqa: F401  (values pickled by value need it)

    return pickle.loads(main, buffers=buffers)


def _dump(value, path):
    import cloudpickle

    raw = []
    main = cloudpickle.dumps(value, protocol=5, buffer_callback=raw.append)
    views = []
    for b in raw:
        try:
            views.append(b.raw())
        except BufferError:
            views.append(memoryview(bytes(b)))
    header = json.dumps({"format": 2, "python": list(sys.version_info[:2]), "main": len(main),
                         "buffers": [v.nbytes for v in views]}).encode()
    with open(path, "wb") as f:
        f.write(ARTIFACT_HEADER)
        f.write(struct.pack("<Q", len(header)))
        f.write(header)
        f.write(main)
        for v in views:
            f.write(v)


def stage(step, namespace, outputs, declared, writes):
    """Serialize outputs and list written files; `info()` tells the runner what to fetch."""
    os.makedirs(".mlpipe-out", exist_ok=True)
    staged, dropped, files = {}, [], []
    for var in outputs:
        if var not in namespace:
            if declared:
                raise NameError(f"step '{step}' declares --out {var} but never assigns '{var}'. "
                                f"Assign it in the step, or remove it from --out.")
            continue
        path = os.path.join(".mlpipe-out", var)
        try:
            _dump(namespace[var], path)
        except Exception as exc:
            if declared:
                raise TypeError(f"step '{step}': output '{var}' cannot be pickled "
                                f"({type(exc).__name__}: {exc})") from None
            dropped.append(f"{var} ({type(exc).__name__}: {exc})")
            continue
        staged[var] = path
    for w in writes:
        if os.path.isdir(w):
            files += sorted(os.path.relpath(os.path.join(d, n)) for d, _, ns in os.walk(w)
                            for n in ns)
        elif os.path.isfile(w):
            files.append(os.path.normpath(w))
        else:
            raise FileNotFoundError(f"declared --writes {w} but the step did not create it")
    sha256 = {}
    for var, path in staged.items():
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        sha256[var] = h.hexdigest()
    state["info"] = {"outputs": staged, "sha256": sha256, "files": files, "dropped": dropped,
                     "modes": {p: os.stat(p).st_mode & 0o7777 for p in files},
                     "manifest": _manifest()}
    if dropped:
        print("jupyter_mlpipe: not stored (cannot be pickled): " + ", ".join(dropped))


def _publish(data, metadata):
    from IPython.display import publish_display_data

    publish_display_data(data, metadata)


def info():
    _publish({INFO_MIME: state.get("info", {})}, {})


def send(path, chunk_size):
    with open(os.path.join(state["work"], path), "rb") as f:
        offset = 0
        while True:
            block = f.read(chunk_size)
            if not block and offset:
                break
            _publish({CHUNK_MIME: base64.b64encode(block).decode()},
                     {"path": path, "offset": offset})
            offset += len(block)
            if not block:
                break


def end():
    os.chdir(state.get("home", "/"))
    shutil.rmtree(state.pop("work", ""), ignore_errors=True)
