"""`mlpipe` on a terminal (a real pty): states in colour unless NO_COLOR, a progress bar whose
clock moves while a step runs, no ETA on reused lines, skipped steps in pipeline order,
aligned `mlpipe runs` columns, and `mlpipe sweep` pointing to `run --sweep`.

# load -> train -> zeta -> alpha   (train sleeps, then fails when `fail` is set)
"""
from __future__ import annotations

import os
import re
import subprocess

from tests.helpers import MLPIPE

COLOUR = re.compile(r"\x1b\[[0-9;]*m")
STEPS = ["%%step load --out raw\nraw = [1, 2, 3]",
         "%%step train --in raw --out model\nimport time\ntime.sleep(2.5)\n"
         "if fail:\n    raise ValueError('bad data')\nmodel = sum(raw)",
         "%%step zeta --in model --out z\nz = model + 1",
         "%%step alpha --in z --out a\na = z + 1"]


def on_terminal(*args, env=None) -> str:
    """What `mlpipe ARGS` writes to a terminal (stdout and stderr on one pty)."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # 120 columns
    proc = subprocess.Popen([str(MLPIPE), *map(str, args)], stdout=slave, stderr=slave,
                            env={**os.environ, "TERM": "xterm", **(env or {})})
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the other end closed
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=300)
    os.close(master)
    return b"".join(chunks).decode("utf-8", "replace")


def test_a_terminal_run_in_colour_with_a_moving_bar(make_nb, mlpipe_cli):
    path = make_nb(STEPS, params="fail = 0")
    assert mlpipe_cli("run", path).returncode == 0  # the history now knows each step's time
    shown = on_terminal("run", path, "-p", "fail", "1")
    assert "\x1b[31;1mfailed" in shown and "\x1b[36mreused" in shown  # red, cyan
    lines = COLOUR.sub("", shown).replace("\r", "\n").splitlines()
    reused = [line for line in lines if re.search(r"\bload\s+reused", line)]
    assert reused and not any("ETA" in line for line in reused), reused
    skipped = [m.group(1) for m in map(re.compile(r"\] - (\w+)\s+skipped").search, lines) if m]
    assert skipped == ["zeta", "alpha"], lines  # pipeline order, not alphabetical
    # while train sleeps 2.5 s, the bar is redrawn with a moving clock (tqdm: [00:01, ...)
    during = shown[shown.index("train "):shown.index("failed")]
    clocks = set(re.findall(r"\[00:0(\d)", during))
    assert len(clocks) >= 2, during


def test_no_color_turns_colour_off(make_nb, mlpipe_cli):
    path = make_nb(STEPS[:1])
    assert not COLOUR.search(on_terminal("status", path, env={"NO_COLOR": "1"}))
    assert COLOUR.search(on_terminal("status", path))
    assert mlpipe_cli("run", path).returncode == 0
    run_id = mlpipe_cli("runs", path).stdout.splitlines()[1].split()[0]
    shown = on_terminal("show", run_id, "--notebook", path)
    assert "\x1b[32msucceeded" in shown, shown  # one run, step by step, in colour too
    assert not COLOUR.search(on_terminal("show", run_id, "--notebook", path,
                                         env={"NO_COLOR": "1"}))


def test_runs_columns_are_aligned(make_nb, mlpipe_cli):
    path = make_nb(STEPS, params="fail = 0")
    mlpipe_cli("run", path)  # 4 succeeded
    mlpipe_cli("run", path)  # 4 reused
    mlpipe_cli("run", path, "-p", "fail", "1")  # 1 reused, 1 failed, 2 skipped
    listed = mlpipe_cli("runs", path).stdout.splitlines()
    rows = [line for line in listed if not line.startswith(" ")]
    assert len(rows) == 4, listed
    assert len({row.index("pipe.ipynb") for row in rows[1:]} | {rows[0].index("NOTEBOOK")}) == 1


def test_sweep_command_points_to_run_sweep(mlpipe_cli):
    done = mlpipe_cli("sweep", "train.ipynb", "--sweep", "n=1,2")
    assert done.returncode == 2
    assert "mlpipe run NOTEBOOK --sweep NAME=V1,V2" in done.stderr, done.stderr
