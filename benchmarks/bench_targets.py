"""Compute-target costs: per-step overhead of each executor against local kernels, and the
speed-up of a 32-step fan-out on a 2-worker LocalCluster against --jobs 1.

    python benchmarks/bench_targets.py [--chain 8] [--fanout 32] [--work 1.0] [--repeat 1]

Starts its own Jupyter Kernel Gateway (127.0.0.1, token) and LocalCluster; prints a table.
"""
from __future__ import annotations

import argparse
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat

from jupyter_mlpipe.executors.routing import RoutingExecutor
from jupyter_mlpipe.pipeline.load import load_pipeline
from jupyter_mlpipe.run.runner import run_pipeline

BUSY = "import time\n_t = time.process_time()\nwhile time.process_time() - _t < WORK:\n    pass\n"


def notebook(folder: Path, steps: list[str], toml: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    p = nbformat.v4.new_code_cell("WORK = 0.0")
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p, nbformat.v4.new_code_cell("import os")]
    nb.cells += [nbformat.v4.new_code_cell(s) for s in steps]
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / "bench.ipynb")
    (folder / "mlpipe.toml").write_text(toml)
    return folder / "bench.ipynb"


def start_gateway(cwd: Path) -> tuple[subprocess.Popen, str, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = secrets.token_hex(8)
    proc = subprocess.Popen([sys.executable, "-m", "kernel_gateway",
                             "--KernelGatewayApp.ip=127.0.0.1", f"--KernelGatewayApp.port={port}",
                             f"--KernelGatewayApp.auth_token={token}"], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(urllib.request.Request(
                url + "/api", headers={"Authorization": f"token {token}"}), timeout=1)
            return proc, url, token
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("kernel gateway did not start")


class KeptExecutor(RoutingExecutor):
    """Survives the end of a run, so repeated runs measure steps, not cluster start-up."""

    def close(self, now: bool = False) -> None:
        pass

    def really_close(self) -> None:
        super().close()


KEPT: dict[tuple, KeptExecutor] = {}


def kept(nb: Path, target: str | None):
    def factory(spec, params, jobs):
        key = (nb, target, jobs)
        if key not in KEPT:
            KEPT[key] = KeptExecutor(spec, params, jobs)
        return KEPT[key]
    return factory


def timed_run(nb: Path, jobs: int, target: str | None, params=None, keep=True) -> float:
    spec = load_pipeline(nb)
    t = time.perf_counter()
    run = run_pipeline(spec, force=True, jobs=jobs, target=target, params=params,
                       executor_factory=kept(nb, target) if keep else None)
    took = time.perf_counter() - t
    if not run.ok:
        raise SystemExit(f"benchmark run failed: {[s.error for s in run.failed]}")
    return took


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chain", type=int, default=8, help="steps in the overhead chain")
    ap.add_argument("--fanout", type=int, default=32)
    ap.add_argument("--work", type=float, default=1.0, help="CPU seconds per fan-out step")
    ap.add_argument("--repeat", type=int, default=1)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mlpipe-bench-"))
    (tmp / "gw").mkdir()
    gw, url, token = start_gateway(tmp / "gw")
    os.environ["MLPIPE_BENCH_TOKEN"] = token
    toml = (f'[targets.gateway]\ngateway = "{url}"\ntoken_env = "MLPIPE_BENCH_TOKEN"\n'
            '[targets.cluster]\ndask = "local"\nworkers = 2\n')
    rows = []
    try:
        # chain a0 -> a1 -> ... : one step at a time, so the time per step is the overhead
        chain = ["%%step a0 --out x0\nx0 = 0"] + [
            f"%%step a{i} --in x{i - 1} --out x{i}\nx{i} = x{i - 1} + 1" for i in range(1, a.chain)]
        nb = notebook(tmp / "chain", chain, toml)
        per_step = {}
        first = {}
        for target in ("local", "gateway", "cluster"):
            # `mlpipe run` starts local kernels (and their template) afresh in every run: so
            # does this baseline; remote ones stay kept, as their start-up is measured apart
            keep = target != "local"
            first[target] = timed_run(nb, 1, target, keep=keep)  # imports, probes, cluster start
            runs = [timed_run(nb, 1, target, keep=keep) / a.chain for _ in range(a.repeat)]
            per_step[target] = statistics.median(runs)
        for target, t in per_step.items():
            rows.append((f"chain of {a.chain}, --jobs 1, target {target}", f"{t:.3f} s/step",
                         "" if target == "local" else f"+{t - per_step['local']:.3f} s/step"))
        start = first["cluster"] - a.chain * per_step["cluster"]
        rows.append(("LocalCluster start (once per run) + first-task imports", f"{start:.1f} s",
                     ""))
        # fan-out: seed -> w0..w{N-1} -> total
        fan = ["%%step seed --out s\ns = 1"] + [
            f"%%step w{i} --in s --out r{i}\n{BUSY}r{i} = s + {i}" for i in range(a.fanout)]
        fan.append(f"%%step total --in {' '.join(f'r{i}' for i in range(a.fanout))} --out t\n"
                   f"t = {' + '.join(f'r{i}' for i in range(a.fanout))}")
        nb = notebook(tmp / "fan", fan, toml)
        params = {"WORK": a.work}
        local1 = timed_run(nb, 1, None, params, keep=False)
        cold = timed_run(nb, 2, "cluster", params, keep=False)
        timed_run(nb, 2, "cluster", params)  # warm the kept cluster
        cluster = timed_run(nb, 2, "cluster", params)
        local2 = timed_run(nb, 2, None, params, keep=False)
        rows.append((f"fan-out {a.fanout} x {a.work:g} CPU-s, local --jobs 1",
                     f"{local1:.1f} s", "1.00x"))
        rows.append((f"fan-out {a.fanout}, LocalCluster 2x1, cluster started in the run",
                     f"{cold:.1f} s", f"{local1 / cold:.2f}x"))
        rows.append((f"fan-out {a.fanout}, LocalCluster 2x1, cluster already up",
                     f"{cluster:.1f} s", f"{local1 / cluster:.2f}x"))
        rows.append((f"fan-out {a.fanout}, local --jobs 2 (reference)", f"{local2:.1f} s",
                     f"{local1 / local2:.2f}x"))
    finally:
        for ex in KEPT.values():
            ex.really_close()
        gw.terminate()
    w = max(len(r[0]) for r in rows)
    print(f"{'case':<{w}}  {'time':>14}  {'vs local':>14}")
    for name, t, rel in rows:
        print(f"{name:<{w}}  {t:>14}  {rel:>14}")
    print(f"({os.cpu_count()} CPUs, Python {sys.version.split()[0]})")


if __name__ == "__main__":
    main()
