"""Kernels forked from a template process: results, isolation, env, cleanup, fallback."""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import json
import time

import psutil

import pytest
from jupyter_client.manager import AsyncKernelManager

from jupyter_mlpipe.kernels.forked import forked_manager, start_kernel
from jupyter_mlpipe.targets.config import kernel_start_mode
from jupyter_mlpipe.targets.environment import ipykernel_python
from jupyter_mlpipe.kernels.template import KernelTemplate, TemplateError
from jupyter_mlpipe.kernels.forkserver import imported_names, touches_cuda

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="forked kernels are Linux only")


def kernel_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    return {**env, "PYDEVD_DISABLE_FILE_VALIDATION": "1", **extra}


def run(kernel, code: str) -> str:
    """Execute code, return its stdout; fail the test on an error."""
    out: list[str] = []

    def hook(msg):
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            out.append(f"{msg['content']['ename']}: {msg['content']['evalue']}")

    reply = kernel.kc.execute_interactive(code, timeout=30, output_hook=hook)
    text = "".join(out)
    assert reply["content"]["status"] == "ok", text
    return text.strip()


def gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True  # dead; only its parent's bookkeeping is left
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def template():
    t = KernelTemplate.start(["import json", "import numpy as np", "import random"],
                             env=kernel_env())
    yield t
    t.close()


@pytest.fixture
def forked(template, tmp_path):
    started = []

    def start(**env: str):
        k = start_kernel("python3", str(tmp_path), kernel_env(**env), template=template)
        started.append(k)
        assert k.forked
        return k

    yield start
    for k in started:
        k.shutdown()


def test_forked_kernel_runs_code_with_the_templates_imports(forked, template, tmp_path):
    k = forked()
    assert template.imports.imported == ("import json", "import numpy as np", "import random")
    # numpy came from the template: loaded before the kernel ran any import of its own
    assert run(k, "import sys; print('numpy' in sys.modules)") == "True"
    assert run(k, "import numpy as np; print(np.arange(4).sum())") == "6"
    assert run(k, "import os; print(os.getcwd())") == str(tmp_path)
    assert psutil.Process(k.km.provisioner.pid).ppid() == template.proc.pid


def test_state_does_not_leak_between_children(forked, tmp_path):
    leaky = tmp_path / "left-open.txt"
    first = forked()
    run(first, "import json, os, random, numpy as np\n"
               "json.X = 1; random.seed(0); np.random.seed(0)\n"
               f"os.environ['MLPIPE_LEAK'] = '1'; os.chdir('/'); f = open({str(leaky)!r}, 'w')")
    second, third = forked(), forked()
    probe = ("import json, os, random, numpy as np, psutil\n"
             "print(hasattr(json, 'X'), 'MLPIPE_LEAK' in os.environ, os.getcwd(),\n"
             "      [f.path for f in psutil.Process().open_files()], random.random(),\n"
             "      np.random.random())")
    a, b = run(second, probe).split(" ", 4), run(third, probe).split(" ", 4)
    assert a[:3] == ["False", "False", str(tmp_path)]
    assert str(leaky) not in a[3]
    import random

    import numpy as np

    seeded = (str(random.Random(0).random()), str(np.random.RandomState(0).random_sample()))
    values_a, values_b = a[4].split()[-2:], b[4].split()[-2:]
    assert values_a != values_b  # each child reseeded: not the template's state twice
    assert not set(values_a) & set(seeded)


def test_each_child_sees_the_env_it_was_given(forked, template):
    three, five = forked(CUDA_VISIBLE_DEVICES="3"), forked(CUDA_VISIBLE_DEVICES="5")
    code = "import os; print(os.environ.get('CUDA_VISIBLE_DEVICES'))"
    assert run(three, code) == "3"
    assert run(five, code) == "5"
    assert "CUDA_VISIBLE_DEVICES" not in psutil.Process(template.proc.pid).environ()


def test_interrupt_reaches_a_forked_kernel(forked):
    k = forked()
    k.kc.execute("import time; time.sleep(30)")
    time.sleep(0.5)
    k.km.interrupt_kernel()
    reply = k.kc.get_shell_msg(timeout=10)
    assert reply["content"]["ename"] == "KeyboardInterrupt"


def test_an_idle_forked_kernel_survives_an_interrupt_and_shuts_down_cleanly(template, tmp_path):
    k = start_kernel("python3", str(tmp_path), kernel_env(), template=template)
    k.km.interrupt_kernel()
    time.sleep(0.3)
    assert run(k, "print('alive')") == "alive"
    process = k.km.provisioner.process
    k.kc.stop_channels()
    k.km.shutdown_kernel(now=False)  # a shutdown request, answered by the kernel itself
    assert process.poll() == 0


def test_killing_a_child_kills_its_process_group(forked, template):
    k = forked()
    sleeper = int(run(k, "import subprocess; p = subprocess.Popen(['sleep', '60']); print(p.pid)"))
    kernel_pid = k.km.provisioner.pid
    k.kill()
    assert gone(kernel_pid) and gone(sleeper)
    deadline = time.monotonic() + 5
    while k.exit_code() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert k.exit_code() == -signal.SIGKILL  # reaped by the template, reported back
    assert not psutil.pid_exists(kernel_pid)


def test_sigkill_of_the_template_leaves_no_process(tmp_path):
    t = KernelTemplate.start(["import json"], env=kernel_env())
    k = start_kernel("python3", str(tmp_path), kernel_env(), template=t)
    sleeper = int(run(k, "import subprocess; p = subprocess.Popen(['sleep', '60']); print(p.pid)"))
    kernel_pid = k.km.provisioner.pid
    os.kill(t.proc.pid, signal.SIGKILL)
    assert gone(kernel_pid)  # PR_SET_PDEATHSIG
    t.close()  # the client finishes the template's cleanup: the kernel's process group
    assert gone(sleeper)
    assert k.exit_code() == -signal.SIGKILL
    k.shutdown()


def test_a_template_whose_import_fails_still_serves_kernels(tmp_path):
    t = KernelTemplate.start(["import no_such_module_mlpipe", "import json"], env=kernel_env())
    try:
        assert t.imports.imported == ("import json",)
        assert t.imports.failed[0].startswith("import no_such_module_mlpipe: ModuleNotFound")
        k = start_kernel("python3", str(tmp_path), kernel_env(), template=t)
        assert k.forked
        assert run(k, "try:\n import no_such_module_mlpipe\nexcept ImportError as e:\n"
                      " print(type(e).__name__)") == "ModuleNotFoundError"
        k.shutdown()
    finally:
        t.close()


def test_cuda_and_non_import_statements_stay_out_of_the_template():
    for stmt in ("import torch", "from torch import nn", "import numba.cuda",
                 "from numba import cuda", "import jax.numpy as jnp", "import tensorflow as tf"):
        assert touches_cuda(imported_names(stmt)), stmt
    for stmt in ("import numba", "import pandas as pd", "from sklearn import linear_model"):
        assert not touches_cuda(imported_names(stmt)), stmt
    assert imported_names("x = 1") is None
    assert imported_names("from . import local") is None


def test_fallback_when_the_template_is_gone_warns_once(tmp_path, caplog):
    t = KernelTemplate.start(["import json"], env=kernel_env())
    t.close()
    with caplog.at_level(logging.WARNING, logger="jupyter_mlpipe.kernels.forked"):
        kernels = [start_kernel("python3", str(tmp_path), kernel_env(), template=t)
                   for _ in range(2)]
    try:
        assert [k.forked for k in kernels] == [False, False]
        assert run(kernels[0], "print(1 + 1)") == "2"
        assert len([r for r in caplog.records if "normal way" in r.message]) == 1
    finally:
        for k in kernels:
            k.shutdown()


def test_fallback_when_the_template_refuses_to_fork(tmp_path, caplog):
    (tmp_path / "starts_a_thread.py").write_text(
        "import threading, time\nthreading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n")
    t = KernelTemplate.start(["import starts_a_thread"], env=kernel_env(), cwd=str(tmp_path))
    try:
        with caplog.at_level(logging.WARNING, logger="jupyter_mlpipe.kernels.forked"):
            k = start_kernel("python3", str(tmp_path), kernel_env(), template=t)
        assert not k.forked
        assert "threads" in caplog.text
        assert run(k, "print('spawned')") == "spawned"
        k.shutdown()
    finally:
        t.close()


def test_a_template_that_cannot_start_raises():
    with pytest.raises(TemplateError):
        KernelTemplate.start(["import json"], python="/nonexistent/python")


def test_async_kernel_manager_drives_a_forked_kernel(template, tmp_path):
    async def roundtrip() -> tuple[str, bool]:
        km = forked_manager("python3", template, manager_class=AsyncKernelManager)
        await km.start_kernel(cwd=str(tmp_path), env=kernel_env())
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=30)
            reply = await kc.execute_interactive("1", timeout=10)
            return reply["content"]["status"], await km.is_alive()
        finally:
            kc.stop_channels()
            await km.shutdown_kernel(now=True)

    assert asyncio.run(roundtrip()) == ("ok", True)


def test_kernel_start_mode():
    assert kernel_start_mode(platform="linux") == "fork"
    assert kernel_start_mode("spawn", platform="linux") == "spawn"
    assert kernel_start_mode("fork", platform="darwin") == "spawn"
    assert kernel_start_mode(None, platform="win32") == "spawn"
    with pytest.raises(ValueError):
        kernel_start_mode("vfork")


def _kernelspec(root, name: str, argv: list[str], language: str = "python") -> None:
    folder = root / "kernels" / name
    folder.mkdir(parents=True)
    (folder / "kernel.json").write_text(json.dumps(
        {"argv": argv, "language": language, "display_name": name}))


def test_ipykernel_python_reads_kernel_json_as_jupyter_client_finds_it(tmp_path, monkeypatch):
    """The Python kernels are forked with, read without jupyter_client: the same kernelspec
    jupyter_client would start, found on JUPYTER_PATH first."""
    from jupyter_client.kernelspec import KernelSpecManager

    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    _kernelspec(tmp_path, "envpy", ["/env/bin/python", "-m", "ipykernel_launcher", "-f",
                                    "{connection_file}"])
    _kernelspec(tmp_path, "ir", ["R", "--slave", "-e", "IRkernel::main()"], language="R")
    _kernelspec(tmp_path, "xpy", ["python", "-m", "xeus_python"])
    assert ipykernel_python("envpy") == "/env/bin/python"
    assert KernelSpecManager().get_kernel_spec("envpy").argv[0] == "/env/bin/python"
    assert ipykernel_python("ir") is None  # not Python
    assert ipykernel_python("xpy") is None  # Python, not an ipykernel
    assert ipykernel_python("no-such-kernel") is None
    assert ipykernel_python("python3") == sys.executable  # installed, or ipykernel's own


def test_the_template_skips_the_debugger_a_step_can_still_import_debugpy(forked):
    """A forked kernel offers no debug adapter (the template does not pay debugpy's import,
    ~0.05 CPU-s on a leaf edit's path); a step that imports debugpy itself still gets it."""
    k = forked()
    assert run(k, "import sys; print('debugpy' in sys.modules)").strip() == "False"
    info = k.kc.kernel_info(reply=True, timeout=10)
    assert not info["content"].get("debugger")  # ipykernel < 7 says so here
    assert "debugger" not in info["content"].get("supported_features", [])  # ipykernel 7
    assert run(k, "import debugpy; print(callable(debugpy.listen))").strip() == "True"


def test_a_forked_kernel_prints_and_keeps_its_input_history(template, tmp_path):
    """What a step prints (Python's print, C-level writes to fd 1, a subprocess) reaches the
    client, and In/_i work. (IPython's history turned off made a kernel's own shutdown
    sometimes outlast jupyter_client's patience, which then SIGTERMs it.)"""
    env = kernel_env()
    env.pop("PYTEST_CURRENT_TEST", None)  # ipykernel captures no fd output under pytest
    k = start_kernel("python3", str(tmp_path), env, template=template)
    try:
        assert k.forked
        run(k, "x = 41")
        out = run(k, "import os, subprocess, time\n"
                     "print(In[-2], repr(_i))\n"
                     "os.write(1, b'from-fd-1\\n'); subprocess.run(['echo', 'from-child'])\n"
                     "time.sleep(0.3)")
    finally:
        k.shutdown()
    assert out.splitlines()[0] == "x = 41 'x = 41'"
    assert "from-fd-1" in out and "from-child" in out
