"""The GeoPackage store in WAL mode: a writer never makes the server's readers wait, and GDAL's
SQLite never opens the store in a process that reads it through Python's sqlite3."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import time

import pyogrio

from gp_testlib import new_project, published


def _gpkg(request, tmp_path):
    return new_project(tmp_path, "geopackage", request)


def test_a_new_store_and_an_old_one_are_in_wal_mode(request, tmp_path, points):
    project = _gpkg(request, tmp_path)
    src = tmp_path / "p.geojson"
    points.to_file(src, driver="GeoJSON")
    assert project.run("ingest", str(src), "--collection", "p") == 0
    with sqlite3.connect(project.store) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.execute("PRAGMA journal_mode = DELETE")  # as a store made before WAL mode
    from geo_publish.store import gpkg

    gpkg._WAL.clear()  # a new process: it has not seen the store yet
    assert project.run("ingest", str(src), "--collection", "p") == 0  # the next write switches it
    with sqlite3.connect(project.store) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert len(published(project, "p")) == len(points)


def test_readers_do_not_wait_for_a_writer_holding_the_store(request, tmp_path, points):
    """A writer in the middle of its commit (an exclusive transaction, held 4 s by another
    process) used to keep every reader out: in WAL mode they read the state before it."""
    from geo_publish.store import gpkg_read

    project = _gpkg(request, tmp_path)
    src = tmp_path / "p.geojson"
    points.to_file(src, driver="GeoJSON")
    assert project.run("ingest", str(src), "--collection", "p") == 0
    writer = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sqlite3, sys, time
        c = sqlite3.connect({str(project.store)!r}, isolation_level=None)
        c.execute("BEGIN EXCLUSIVE")
        c.execute("DELETE FROM gp_published")
        print("held", flush=True)
        time.sleep(4)
        c.execute("ROLLBACK")
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "held"
        t0 = time.monotonic()
        pub = gpkg_read.published(project.store, "p")
        waited = time.monotonic() - t0
        assert pub is not None and pub.feature_count == len(points)  # the state before the write
        assert waited < 1.0, f"the reader waited {waited:.1f} s for the writer"
    finally:
        writer.wait(10)


def test_gdal_never_opens_the_store_in_this_process(request, tmp_path, points, monkeypatch):
    """Features are written by a writer process (forked, or spawned where forking is not safe),
    read back, quarantined and listed through sqlite3: pyogrio here never sees the store."""
    project = _gpkg(request, tmp_path)
    src = tmp_path / "p.geojson"
    frame = points.copy()
    frame.loc[0, "geometry"] = None  # one feature quarantined
    frame.to_file(src, driver="GeoJSON")
    store = str(project.store)
    seen: list[str] = []
    for name in ("read_dataframe", "write_dataframe", "write_arrow", "read_arrow", "open_arrow",
                 "read_info", "list_layers"):
        original = getattr(pyogrio, name)

        def guard(path, *args, _original=original, _name=name, **kwargs):
            if str(path) == store:
                seen.append(_name)
            return _original(path, *args, **kwargs)

        monkeypatch.setattr(pyogrio, name, guard)
    monkeypatch.setenv("GEO_PUBLISH_NO_FORK", "1")  # the spawned writer
    assert project.run("ingest", str(src), "--collection", "p") == 0
    assert project.run("ingest", str(src), "--collection", "p") == 0
    from geo_publish.settings import load_settings
    from geo_publish.store import open_store

    store_obj = open_store(load_settings(project.config))
    frame_back = store_obj.read("p")
    assert len(frame_back) == len(points) - 1 and frame_back.crs.to_epsg() == 4326
    assert [q["code"] for q in store_obj.quarantine("p")] == ["null_geometry"]
    assert seen == []
