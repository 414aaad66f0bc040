"""What the read log (kernels/readlog.c) adds to a step's manifest, in this process (the live
kernel's way in: GOT slots rewritten) and through `mlpipe run` (kernels started with it in
LD_PRELOAD): files C libraries and subprocesses read, paths outside the project, symlinks by
the name the code used, hosts connected to (named, not checked), and a clear line where no C
compiler exists."""
from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pandas as pd
import pytest

from jupyter_mlpipe.run.manifest import Manifest, changes, undeclared_reads
from jupyter_mlpipe.run.recorder import Recorder
from tests.helpers import MLPIPE, write_notebook


def record(root: Path, code: str) -> Manifest:
    """Run `code` as a notebook cell would run (IPython's cell file name)."""
    compiled = compile(textwrap.dedent(code), "<ipython-input-1-abc>", "exec")
    with Recorder(root) as rec:
        exec(compiled, {})
    return rec.manifest()


@pytest.fixture
def project(tmp_path, monkeypatch):
    root = tmp_path / "project"
    (root / "data").mkdir(parents=True)
    monkeypatch.chdir(root)
    return root


def test_c_library_and_subprocess_reads_are_recorded_in_this_process(project):
    pd.DataFrame({"x": [1, 2]}).to_parquet(project / "data" / "x.parquet")
    with sqlite3.connect(project / "data" / "db.sqlite") as db:
        db.execute("create table t (x)")
    db.close()
    (project / "data" / "lines.txt").write_text("a\nb\n")
    before = os.environ.get("MLPIPE_READLOG")  # another test's live prelude recorder may name one
    m = record(project, """
        import pyarrow.parquet as pq, sqlite3, subprocess
        pq.read_table('data/x.parquet')
        sqlite3.connect('data/db.sqlite').execute('select * from t').fetchall()
        subprocess.run(['awk', 'END {print NR}', 'data/lines.txt'], check=True,
                       capture_output=True)
    """)
    assert set(m.files) == {"data/x.parquet", "data/db.sqlite", "data/lines.txt"}
    assert os.environ.get("MLPIPE_READLOG") == before  # restored after the step
    with sqlite3.connect(project / "data" / "db.sqlite") as db:
        db.execute("insert into t values (1)")
    db.close()
    assert changes(m, project) == ["read data/db.sqlite (changed)"]


def test_files_outside_the_project_count_by_absolute_path(project, tmp_path):
    outside = tmp_path / "warehouse" / "sales.csv"
    outside.parent.mkdir()
    outside.write_text("1\n")
    m = record(project, f"open('../warehouse/sales.csv').read(); open({str(outside)!r}).read()")
    assert list(m.files) == [str(outside)]
    assert undeclared_reads(m, []) == []  # outside files are checked, not hinted
    outside.write_text("2\n")
    assert changes(m, project) == [f"read {outside} (changed)"]


def test_a_symlink_is_recorded_by_the_name_the_code_used_and_its_target(project):
    (project / "data" / "v1.csv").write_text("1\n")
    (project / "data" / "v2.csv").write_text("1\n")  # same content: only the link changes
    os.symlink("v1.csv", project / "data" / "current.csv")
    m = record(project, "open('data/current.csv').read()")
    assert list(m.files) == ["data/current.csv"]
    assert undeclared_reads(m, []) == ["data/current.csv"]  # the hint names the link
    assert m.links == {"data/current.csv": "data/v1.csv"}
    (project / "data" / "current.csv").unlink()
    os.symlink("v2.csv", project / "data" / "current.csv")
    assert changes(m, project) == ["data/current.csv now points to data/v2.csv (was data/v1.csv)"]


def test_listings_count_by_names_not_the_import_systems_own(project, monkeypatch):
    monkeypatch.syspath_prepend(str(project))
    monkeypatch.delitem(sys.modules, "helper_nr", raising=False)
    (project / "data" / "a.csv").write_text("1")
    (project / "helper_nr.py").write_text("X = 1\n")
    m = record(project, """
        import glob, os, helper_nr
        glob.glob('data/*.csv'); os.listdir('data')
    """)
    assert list(m.listings) == ["data"]  # not the project folder importlib searched
    (project / "notes.txt").write_text("beside the notebook")
    assert changes(m, project) == []
    (project / "data" / "b.csv").write_text("2")
    assert changes(m, project) == ["listed data (files added or removed)"]


def test_files_a_step_creates_or_truncates_are_not_its_reads(project):
    m = record(project, """
        import sqlite3, subprocess
        sqlite3.connect('data/new.sqlite').execute('create table t (x)')
        open('data/out.txt', 'w+').read()
        subprocess.run(['sh', '-c', 'echo x > data/shell.txt'], check=True)
    """)
    assert m.files == {}


def _server() -> tuple[socket.socket, int]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()

    def serve():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            conn.sendall(b"42\n")
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return srv, srv.getsockname()[1]


@pytest.mark.slow
def test_a_network_read_is_named_once_when_the_step_runs(tmp_path):
    srv, port = _server()
    try:
        nb = write_notebook(tmp_path / "pipe.ipynb", [
            "import socket",
            f"%%step fetch --out answer\ns = socket.create_connection(('127.0.0.1', {port}))\n"
            "answer = int(s.makefile().readline())",
        ])
        r = subprocess.run([str(MLPIPE), "run", str(nb)], capture_output=True, text=True,
                           cwd=tmp_path, timeout=300)
    finally:
        srv.close()
    assert r.returncode == 0, r.stdout + r.stderr
    lines = [ln for ln in (r.stdout + r.stderr).splitlines() if "connected to" in ln]
    assert len(lines) == 1, r.stdout + r.stderr
    assert f"127.0.0.1:{port}" in lines[0] and "--no-reuse" in lines[0]


@pytest.mark.slow
def test_a_project_copied_to_another_folder_is_reused(tmp_path):
    work = tmp_path / "a" / "project"
    (work / "data").mkdir(parents=True)
    pd.DataFrame({"x": [1, 2]}).to_parquet(work / "data" / "x.parquet")
    nb = write_notebook(work / "pipe.ipynb", [
        "import glob\nimport pandas as pd",
        "%%step total --out total\ntotal = sum(int(pd.read_parquet(p).x.sum()) "
        "for p in glob.glob('data/*.parquet'))",
    ])
    r = subprocess.run([str(MLPIPE), "run", str(nb)], capture_output=True, text=True,
                       cwd=work, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    copy = tmp_path / "b" / "project"
    shutil.copytree(work, copy)
    r = subprocess.run([str(MLPIPE), "status", str(copy / "pipe.ipynb")], capture_output=True,
                       text=True, cwd=copy, timeout=300)
    assert "1 cached, 0 stale" in r.stdout, r.stdout + r.stderr


def test_without_a_compiler_it_says_so_and_how_to_fix_it(tmp_path, monkeypatch):
    from jupyter_mlpipe.kernels import readlog

    monkeypatch.setattr(readlog, "_state", {})
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("CC", "no-such-compiler-mlpipe")
    assert readlog.library() is None
    line = readlog.status()
    assert "not recorded" in line and "no-such-compiler-mlpipe" in line
    assert "Install a C compiler" in line and "--reads" in line
    assert readlog.with_preload({"A": "1"}) == {"A": "1"}


def test_the_cache_folder_must_be_private(tmp_path, monkeypatch):
    from jupyter_mlpipe.kernels import readlog

    monkeypatch.setattr(readlog, "_state", {})
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    (tmp_path / "jupyter_mlpipe").mkdir(mode=0o777)
    os.chmod(tmp_path / "jupyter_mlpipe", 0o777)
    assert readlog.library() is None
    assert "not private" in readlog.status()


@pytest.mark.slow
def test_concurrent_steps_each_record_their_own_native_reads(tmp_path):
    # left, right: two independent steps, run at once in two kernels
    for name, values in (("left", [1, 2]), ("right", [3, 4])):
        pd.DataFrame({"x": values}).to_parquet(tmp_path / f"{name}.parquet")
    nb = write_notebook(tmp_path / "pipe.ipynb", ["import pandas as pd"] + [
        f"%%step {name} --out {name}_total\nimport time; time.sleep(1)\n"
        f"{name}_total = int(pd.read_parquet('{name}.parquet').x.sum())"
        for name in ("left", "right")])
    r = subprocess.run([str(MLPIPE), "run", str(nb), "--jobs", "2"], capture_output=True,
                       text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    pd.DataFrame({"x": [1, 2, 5]}).to_parquet(tmp_path / "left.parquet")
    r = subprocess.run([str(MLPIPE), "status", str(nb)], capture_output=True, text=True,
                       cwd=tmp_path, timeout=300)
    status = {line.split()[1]: line for line in r.stdout.splitlines()
              if line.startswith(("•", "✓"))}
    assert "read left.parquet (changed)" in status["left"], r.stdout
    assert "cached" in status["right"], r.stdout


def test_a_module_outside_the_project_counts_by_its_source(project, tmp_path, monkeypatch):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "outside_nr.py").write_text("K = 1\n")
    monkeypatch.syspath_prepend(str(lib))
    monkeypatch.delitem(sys.modules, "outside_nr", raising=False)
    m = record(project, "import outside_nr")
    assert list(m.modules) == [str(lib / "outside_nr.py")]
    (lib / "outside_nr.py").write_text("K = 1  # a comment\n")
    assert changes(m, project) == []
    (lib / "outside_nr.py").write_text("K = 2\n")
    assert changes(m, project) == [f"module {lib / 'outside_nr.py'} changed"]


def test_a_recorder_that_never_stops_takes_native_reads_at_each_manifest(project):
    # a process-wide recorder (the prelude's) is asked for its manifest while still running
    (project / "data" / "a.txt").write_text("1\n")
    (project / "data" / "b.txt").write_text("2\n")
    rec = Recorder(project).start()
    try:
        subprocess.run(["cat", "data/a.txt"], check=True, capture_output=True)
        assert list(rec.manifest().files) == ["data/a.txt"]  # (not the log it read)
        subprocess.run(["cat", "data/b.txt"], check=True, capture_output=True)
        assert list(rec.manifest().files) == ["data/a.txt", "data/b.txt"]
    finally:
        rec.stop()


def test_the_kernels_own_files_are_not_data(project, tmp_path, monkeypatch):
    # IPython's history database is opened natively (sqlite3) when a forked kernel starts
    from jupyter_mlpipe.pipeline.analysis import kernel_folders
    from jupyter_mlpipe.run import recorder as manifest_module

    profile = tmp_path / "ipython"
    (profile / "profile_default").mkdir(parents=True)
    monkeypatch.setenv("IPYTHONDIR", str(profile))
    monkeypatch.setattr(manifest_module, "_NOT_DATA",
                        (*manifest_module._NOT_DATA, *kernel_folders()))
    db = profile / "profile_default" / "history.sqlite"
    sqlite3.connect(db).execute("create table h (x)").connection.commit()
    with Recorder(project) as rec:
        sqlite3.connect(db).execute("insert into h values (1)").connection.commit()
    assert rec.manifest().files == {}


def test_a_file_looked_for_and_not_found_must_stay_absent(project):
    m = record(project, """
        import subprocess
        try:
            open('data/override.csv').read()
        except FileNotFoundError:
            pass
        subprocess.run(['cat', 'data/extra.csv'], capture_output=True)
    """)
    assert m.absent == ["data/extra.csv", "data/override.csv"]
    assert changes(m, project) == []
    (project / "data" / "extra.csv").write_text("1")
    assert changes(m, project) == ["data/extra.csv now exists (the step looked for it)"]


def test_recorders_stopped_out_of_order_leave_the_environment_as_it_was(project):
    """A live kernel's prelude recorder outlives the steps it records: whatever order they stop
    in, the read log's variables end as they were before the first started."""
    before = {k: os.environ.get(k) for k in ("MLPIPE_READLOG", "MLPIPE_READLOG_SKIP")}
    outer, inner = Recorder(project).start(), Recorder(project).start()
    if not inner.native:
        pytest.skip("no read log on this machine (no C compiler)")
    outer.stop()
    assert os.environ["MLPIPE_READLOG"]  # the inner step's log is still being written
    (project / "data" / "late.txt").write_text("x")
    subprocess.run(["cat", "data/late.txt"], check=True, capture_output=True)
    inner.stop()
    assert "data/late.txt" in inner.manifest().files
    assert {k: os.environ.get(k) for k in before} == before
