"""The GeoPackage store writes from a forked child process: same result, errors as one line,
a failed stream never taken for a complete one, and no writer left behind."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyogrio
import pytest
import shapely

from geo_publish.store import forked
from gp_testlib import new_project, process_running, published

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="not on this platform: the forked writer is Linux only")


def _reader(n_batches: int, fail_at: int | None = None) -> pa.RecordBatchReader:
    schema = pa.schema([("v", pa.int64())])

    def batches():
        for i in range(n_batches):
            if i == fail_at:
                raise ValueError("the stream broke")
            yield pa.record_batch([pa.array(np.arange(i * 10, i * 10 + 10))], schema=schema)

    return pa.RecordBatchReader.from_batches(schema, batches())


def _target_writing(path: Path):
    def target(reader: pa.RecordBatchReader) -> None:
        total = sum(int(pa.compute.sum(b.column(0)).as_py() or 0) for b in reader)
        path.write_text(str(total))

    return target


def test_child_receives_every_batch(tmp_path):
    out = tmp_path / "sum.txt"
    sink = forked.ForkedSink(_target_writing(out))
    sink.write(_reader(5))
    assert int(out.read_text()) == sum(range(50))
    assert sink.pid is None  # reaped


def test_child_failure_is_one_line(tmp_path):
    def target(reader: pa.RecordBatchReader) -> None:
        reader.read_next_batch()
        raise OSError("disk full\n  while writing page 7")

    sink = forked.ForkedSink(target)
    with pytest.raises(forked.ChildFailed) as info:
        sink.write(_reader(200))
    assert str(info.value) == "disk full while writing page 7"


def test_broken_stream_is_never_taken_for_a_complete_one(tmp_path):
    out = tmp_path / "sum.txt"
    sink = forked.ForkedSink(_target_writing(out))
    pid = sink.pid
    with pytest.raises(Exception, match="the stream broke"):
        sink.write(_reader(5, fail_at=3))
    assert sink.pid is None
    assert not out.exists(), "the child finished a write from a truncated stream"
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # already reaped by abort()


def _source(tmp_path: Path, n: int = 3000) -> Path:
    import geopandas as gpd

    rng = np.random.default_rng(5)
    cx, cy = rng.uniform(300_000, 700_000, n), rng.uniform(4_300_000, 4_600_000, n)
    geoms = shapely.buffer(shapely.points(cx, cy), rng.uniform(20, 80, n), quad_segs=3)
    frame = gpd.GeoDataFrame({"id": np.arange(n), "name": [f"участок {i}" for i in range(n)]},
                             geometry=geoms, crs="EPSG:32642")
    path = tmp_path / "parcels.gpkg"
    pyogrio.write_dataframe(frame, path)
    return path


_PROBE = textwrap.dedent("""
    import sys
    from geo_publish.store import forked
    real = forked.ForkedSink.__init__
    def spy(self, target):
        real(self, target)
        print("writer child", self.pid, file=sys.stderr)
    forked.ForkedSink.__init__ = spy
    from geo_publish.cli.main import main
    sys.exit(main(sys.argv[1:]))
""")


def _ingest_in_a_new_process(root: Path, src: Path) -> str:
    """One ingest per process, as a GIS officer runs it; its stderr."""
    (root / "config.yml").write_text("store: {backend: geopackage, path: data/store.gpkg}\n")
    env = {k: v for k, v in os.environ.items() if k != "GEO_PUBLISH_NO_FORK"}
    proc = subprocess.run([sys.executable, "-c", _PROBE, "--config", str(root / "config.yml"),
                           "ingest", str(src), "--collection", "parcels"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


def test_forked_and_in_process_writes_are_identical(tmp_path, monkeypatch, request):
    # the forked run is a process of its own: this one may hold threads of earlier tests (a
    # PostGIS pool), and the writer is only forked from a process with one Python thread
    src = _source(tmp_path)
    (tmp_path / "forked").mkdir()
    assert "writer child" in _ingest_in_a_new_process(tmp_path / "forked", src)
    (tmp_path / "in-process").mkdir()
    project = new_project(tmp_path / "in-process", "geopackage", request)
    monkeypatch.setenv("GEO_PUBLISH_NO_FORK", "1")
    calls = []
    real = forked.ForkedSink.__init__
    monkeypatch.setattr(forked.ForkedSink, "__init__",
                        lambda self, target: (calls.append(1), real(self, target)))
    assert project.run("ingest", str(src), "--collection", "parcels") == 0
    assert calls == []
    a = published(new_project(tmp_path / "forked", "geopackage", request), "parcels")
    b = published(project, "parcels")
    assert len(a) == len(b) == 3000
    assert a.drop(columns="geometry").equals(b.drop(columns="geometry"))
    assert (shapely.to_wkb(a.geometry.array) == shapely.to_wkb(b.geometry.array)).all()


def test_cli_process_writes_from_a_child(tmp_path):
    """One ingest per process, as a GIS officer runs it: the writer is a child process."""
    src = _source(tmp_path)
    assert "writer child" in _ingest_in_a_new_process(tmp_path, src)
    import sqlite3

    with sqlite3.connect(tmp_path / "data" / "store.gpkg") as c:
        assert c.execute("SELECT feature_count FROM gp_versions").fetchall() == [(3000,)]


def test_busy_child_dies_with_its_parent():
    """A parent killed with -9 cannot abort its writer: the kernel must end it (PDEATHSIG)."""
    script = textwrap.dedent("""
        import sys, time
        import pyarrow as pa
        from geo_publish.store import forked
        sink = forked.ForkedSink(lambda reader: (reader.read_next_batch(), time.sleep(120)))
        batch = pa.record_batch([pa.array([1, 2, 3])], names=["v"])
        out = pa.ipc.new_stream(sink._sink, batch.schema)
        out.write_batch(batch)  # the child has its first batch and is busy with it
        sink._sink.flush()
        print(sink.pid, flush=True)
        time.sleep(120)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        assert process_running(child)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.time() + 10
    while time.time() < deadline and process_running(child):
        time.sleep(0.05)
    assert not process_running(child), "the writer outlived its killed parent"


def test_spawned_writer_runs_no_python_between_fork_and_exec_and_dies_with_its_parent(monkeypatch, tmp_path):
    """The spawned writer is for processes with other threads: a ``preexec_fn`` there can wait
    forever on a lock another thread held at the fork (it hung an ingest). The child sets its
    death signal itself, and one whose named parent is already gone stops at once."""
    import os

    from geo_publish.store import forked

    seen = {}
    real = subprocess.Popen

    def popen(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", popen)
    sink = forked.SpawnedSink([str(tmp_path / "s.gpkg"), "t", "POINT"])
    sink.abort()
    assert seen.get("preexec_fn") is None
    assert seen["env"]["GEO_PUBLISH_WRITER_PARENT"] == str(os.getpid())
    orphan = real([sys.executable, "-m", "geo_publish.store.forked", str(tmp_path / "s.gpkg"), "t", "POINT"],
                  stdin=subprocess.PIPE, env={**os.environ, "GEO_PUBLISH_WRITER_PARENT": "1"})
    try:
        assert orphan.wait(timeout=60) == 1  # its parent is not pid 1: it did not wait for data
    finally:
        orphan.kill()
    assert not (tmp_path / "s.gpkg").exists()
