"""Code sent into a remote kernel; imports nothing from jupyter_mlpipe (the remote may lack it).

The remote kernel shares no disk with the runner. Everything travels over the kernel's own
channels, in chunks, so a large artifact is never held whole as a message:
  to the kernel:   `put(path, base64_chunk, offset)` execute requests append to a file in a
                   private working folder (inputs as store artifacts, --reads files as files);
  from the kernel: `send(path)` publishes the file as display_data messages of type
                   application/x-mlpipe-chunk, each one chunk, that the runner appends to a file.
Artifacts use the store's own body format (serialize.py) with a sha256 of each file in info();
the runner checks it, then signs the body into its store (the remote never sees the key).
"""
import base64
import hashlib
import json
import os
import pickle
import shutil
import struct
import sys
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
                     "modes": {p: os.stat(p).st_mode & 0o7777 for p in files}}
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
