"""GPU steps: each concurrent step gets its own device; the executed notebook says which."""
from __future__ import annotations

import json
import shutil
import threading
import time

import pytest
from tests.helpers import run_on_fake_gpus, write_pipeline

from jupyter_mlpipe.executors.gpu import DevicePool, assign_devices
from jupyter_mlpipe.pipeline.load import load_pipeline
from jupyter_mlpipe.run.runner import run_pipeline
from jupyter_mlpipe.targets import gpu_devices


def test_assign_takes_the_first_free_devices_in_listed_order():
    assert assign_devices(["0", "1", "2", "3"], set(), 1) == ["0"]
    assert assign_devices(["0", "1", "2", "3"], {"0", "2"}, 2) == ["1", "3"]
    assert assign_devices(["0", "1"], {"1"}, 0) == []


def test_assign_returns_none_when_too_few_are_free():
    assert assign_devices(["0", "1"], {"0"}, 2) is None
    assert assign_devices([], set(), 1) is None


def test_pool_never_hands_one_device_to_two_holders():
    pool = DevicePool(["0", "1", "2"])
    held: list[list[str]] = []
    overlap = []
    lock = threading.Lock()

    def work():
        got = pool.acquire(1)
        with lock:
            if any(set(got) & set(h) for h in held):
                overlap.append(got)
            held.append(got)
        time.sleep(0.01)
        with lock:
            held.remove(got)
        pool.release(got)

    threads = [threading.Thread(target=work) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not overlap and pool.busy == set()


def test_concurrent_gpu_steps_get_distinct_devices(tmp_path):
    # real kernels; only the device list is made up (CUDA_VISIBLE_DEVICES is just a variable)
    fake = [("0", "Fake GPU A"), ("1", "Fake GPU B")]
    # each step waits until both run (files as a barrier), so they hold devices at once
    steps = [f"%%step g{i} --out d{i} --target accel\nimport os, pathlib, time\n"
             f"pathlib.Path('running-{i}').touch()\nt = time.time()\n"
             "while not all(pathlib.Path(f'running-{j}').exists() for j in (0, 1)):\n"
             "    assert time.time() - t < 60\n    time.sleep(0.05)\n"
             f"d{i} = os.environ['CUDA_VISIBLE_DEVICES']" for i in range(2)]
    nb = write_pipeline(tmp_path, steps, toml="[targets.accel]\n")

    run = run_on_fake_gpus(nb, fake)
    assert run.ok, [s.error for s in run.failed]
    devices = {run.outputs("g0")["d0"], run.outputs("g1")["d1"]}
    assert devices == {"0", "1"}
    executed = json.loads((tmp_path / ".mlpipe/runs" / run.run_id / "g0.ipynb").read_text())
    dev = executed["metadata"]["mlpipe"]["device"]
    assert dev["CUDA_VISIBLE_DEVICES"] in {"0", "1"} and dev["gpu"].startswith("Fake GPU")
    printed = "".join("".join(o.get("text", "")) for c in executed["cells"]
                      for o in c.get("outputs", []))
    assert f"runs on GPU {dev['CUDA_VISIBLE_DEVICES']} ({dev['gpu']})" in printed


@pytest.mark.gpu
@pytest.mark.skipif(shutil.which("nvidia-smi") is None or not gpu_devices(),
                    reason="needs an NVIDIA GPU (nvidia-smi)")
def test_real_gpu_step_records_its_device_and_model_in_the_key(tmp_path):
    nb = write_pipeline(tmp_path, ["%%step g --out d --target gpu\nimport os\n"
                                   "d = os.environ['CUDA_VISIBLE_DEVICES']"],
                        toml="[targets.gpu]\ngpus = 1\n")
    run = run_pipeline(load_pipeline(nb), jobs=1)
    assert run.ok, [s.error for s in run.failed]
    indices = [i for i, _ in gpu_devices()]
    assert run.outputs("g")["d"] in indices
    entry = run.steps["g"].key
    latest = json.loads((tmp_path / ".mlpipe/latest/pipe.ipynb/g.json").read_text())
    assert latest["key"] == entry
    assert latest["components"]["env"]["gpu"] == sorted({n for _, n in gpu_devices()})
