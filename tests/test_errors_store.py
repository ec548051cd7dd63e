"""User mistakes: one line, exit 2, store unchanged. Versions, rollback, diff, kill -9."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import zipfile

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

from gp_testlib import child_pids, process_running, published, write_shapefile


@pytest.fixture
def seeded(project, points, tmp_path):
    path = tmp_path / "seed.geojson"
    pyogrio.write_dataframe(points, path)
    assert project.run("ingest", str(path), "--collection", "x") == 0
    return project


def _zip_slip(p):
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("../../evil.shp", b"x")
    return p


def _kmz_slip(p):
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("doc.kml", '<kml xmlns="http://www.opengis.net/kml/2.2"><Document/></kml>')
        zf.writestr("../../evil.kml", b"x")
    return p


def _clash(p):  # "a" is a file and a folder
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("a", b"x")
        zf.writestr("a/b.shp", b"x")
    return p


def _many_entries(p):
    with zipfile.ZipFile(p, "w") as zf:
        for i in range(10_001):
            zf.writestr(f"f{i}.txt", b"")
    return p


def _nolayer(p):
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("readme.md", "hello")
    return p


def _zip_bomb(p):
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.csv", b"0" * (60 * 1024 * 1024))
    return p


def _w(p, data):
    (p.write_bytes if isinstance(data, bytes) else p.write_text)(data)
    return p


BAD = {
    "empty.shp": lambda p: _w(p, b""),
    "random.shp": lambda p: _w(p, os.urandom(4096)),
    "truncated.geojson": lambda p: _w(p, '{"type": "FeatureCollection", "features": [{"type": "Feat'),
    "missing.gpkg": lambda p: p,
    "slip.zip": _zip_slip,
    "bomb.zip": _zip_bomb,
    "slip.kmz": _kmz_slip,
    "bomb.kmz": _zip_bomb,
    "clash.zip": _clash,
    "many.zip": _many_entries,
    "folder": lambda p: p.mkdir() or p,
    "nolayer.zip": lambda p: _nolayer(p),
    "garbage.csv": lambda p: _w(p, "a,b\n1,2\n"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input_one_line_exit_2_store_unchanged(seeded, tmp_path, capsys, monkeypatch, name):
    # extraction happens below tmp_path, deep enough that an escaping "../../" entry would land
    # inside it too, where the check below looks
    deep = tmp_path / "t1" / "t2" / "t3"
    deep.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    src = BAD[name](tmp_path / name)
    before = seeded.state()
    capsys.readouterr()
    code = seeded.run("ingest", str(src), "--collection", "x")
    out = capsys.readouterr()
    assert code == 2, out
    line = out.err.strip()
    assert line.startswith("error: ") and "\n" not in line and "Traceback" not in line
    assert name in line
    assert seeded.state() == before
    assert not [p for p in tmp_path.rglob("evil.*")], "an archive entry escaped"


def test_unreadable_file_as_unprivileged_user(project, points, tmp_path):
    path = tmp_path / "secret.geojson"
    pyogrio.write_dataframe(points, path)
    path.chmod(0)
    os.chmod(tmp_path, 0o755)
    code = ("import sys; from geo_publish.cli.main import main; "
            f"sys.exit(main(['ingest', {str(path)!r}, '--collection', 'x', '--dry-run']))")

    cmd = [sys.executable, "-c", code]
    if os.geteuid() == 0:  # root reads everything: drop the capabilities that let it
        caps = "-dac_override,-dac_read_search"
        cmd = ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd="/tmp")
    assert proc.returncode == 2, proc.stderr
    assert "permission denied" in proc.stderr and str(path) in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_usage_errors_exit_1(project, capsys):
    assert project.run("ingest") == 1
    assert project.run("ingest", "x.shp", "--collection", "Bad Id") == 1
    assert project.run("nonsense") == 1


def test_versions_history_rollback_diff(project, points, tmp_path, capsys):
    (project.root / "collections").mkdir()
    (project.root / "collections" / "x.yml").write_text("id: x\nschema: {id_field: id}\n")
    v1 = points.copy()
    v2 = points.copy()
    v2 = v2[v2["ID"] != 3]  # removed 3
    v2.loc[v2["ID"] == 5, "ВМЕСТ"] = 9999  # changed 5
    extra = points.iloc[[0]].copy()
    extra["ID"] = 99
    v2 = gpd.GeoDataFrame(np.concatenate([v2.values, extra.values]), columns=v2.columns, geometry="geometry", crs=v1.crs)
    for i, frame in enumerate((v1, v2), 1):
        pyogrio.write_dataframe(frame, tmp_path / f"v{i}.gpkg")
        assert project.run("ingest", str(tmp_path / f"v{i}.gpkg"), "--collection", "x") == 0
    capsys.readouterr()
    assert project.run("diff", "x") == 0
    out = capsys.readouterr().out
    assert "1 added, 1 removed, 1 changed" in out and "99" in out
    assert project.run("history", "x") == 0
    hist = capsys.readouterr().out.splitlines()
    assert hist[1].startswith("* v2") and hist[0].startswith("  v1")
    assert project.run("rollback", "x", "--to", "1") == 0
    assert len(published(project, "x")) == 12
    assert project.run("rollback", "x", "--to", "7") == 2
    assert project.run("list") == 0
    assert "x" in capsys.readouterr().out


def test_dry_run_changes_nothing(seeded, points, tmp_path):
    before = seeded.state()
    path = tmp_path / "again.geojson"
    pyogrio.write_dataframe(points, path)
    assert seeded.run("ingest", str(path), "--collection", "x", "--dry-run", "--report", str(tmp_path / "r.json")) == 0
    assert seeded.state() == before
    import json
    assert json.loads((tmp_path / "r.json").read_text())["status"] == "dry-run"


def _writing(project) -> bool:
    """Is an ingest in the middle of writing features?"""
    if project.backend == "postgis":
        import psycopg

        with psycopg.connect(project.dsn, autocommit=True) as c:
            return bool(c.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                                  "'geo-publish' AND query LIKE 'COPY%%'").fetchone()[0])
    with sqlite3.connect(project.store, timeout=30) as c:
        return bool(c.execute("SELECT count(*) FROM gp_staging").fetchone()[0])


@pytest.mark.slow
def test_kill_9_mid_write_leaves_store_as_before(seeded, tmp_path):
    n = 400_000
    rng = np.random.default_rng(0)
    big = gpd.GeoDataFrame({"v": np.arange(n)}, geometry=shapely.points(
        rng.uniform(600000, 700000, n), rng.uniform(4.4e6, 4.6e6, n)), crs="EPSG:32642")
    src = tmp_path / "big.gpkg"
    pyogrio.write_dataframe(big, src)
    before = seeded.state()
    seeded.config.write_text(seeded.config.read_text() + "ingest: {chunk_size: 20000}\n")
    proc = subprocess.Popen([sys.executable, "-m", "geo_publish", "--config", str(seeded.config),
                             "ingest", str(src), "--collection", "x"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    staged = False
    while time.time() < deadline and proc.poll() is None:
        if _writing(seeded):
            staged = True
            time.sleep(0.5)  # let it write some batches
            break
        time.sleep(0.05)
    assert staged and proc.poll() is None, "ingest finished before it could be killed"
    writers = child_pids(proc.pid)
    if seeded.backend == "geopackage":
        assert writers, "the GeoPackage store writes from a child process"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 10  # the writer dies with its parent, it does not write on alone
    while time.time() < deadline and any(process_running(p) for p in writers):
        time.sleep(0.05)
    assert not any(process_running(p) for p in writers), "a writer process outlived the killed ingest"
    assert seeded.state()["versions"] == before["versions"]
    assert seeded.state()["published"] == before["published"]
    assert len(published(seeded, "x")) == 12
    # the next writer cleans what the killed one left: the store is exactly as before
    from geo_publish.settings import load_settings
    from geo_publish.store import open_store

    store = open_store(load_settings(seeded.config))
    store.begin("other").abort()
    if seeded.backend == "postgis":  # the server rolls the dead client's transaction back
        deadline = time.time() + 30
        while time.time() < deadline and seeded.state() != before:
            time.sleep(0.2)
    assert seeded.state() == before


def test_demo_runs_on_samples(tmp_path, capsys):
    from geo_publish.cli.main import main

    (tmp_path / "config.yml").write_text("store: {backend: geopackage, path: data/store.gpkg}\n")
    assert main(["--config", str(tmp_path / "config.yml"), "demo", "--no-serve"]) == 0
    out = capsys.readouterr().out
    assert "shelters" in out and "cp1251 detected" in out and "EPSG:28412" in out
    assert "Pulkovo 1942 to WGS 84" in out


@pytest.mark.parametrize("part, words", [(".dbf", [".dbf", "missing"]), (".shx", ["SHAPE_RESTORE_SHX"])])
def test_shapefile_missing_a_part_is_one_line(project, points, tmp_path, capsys, part, words):
    shp = write_shapefile(points, tmp_path / "s", "p", "cp1251")
    shp.with_suffix(part).unlink()
    before = project.state()
    code = project.run("ingest", str(shp), "--collection", "p")
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "Traceback" not in err
    assert all(w in err for w in words), err
    assert project.state() == before


def test_a_report_that_cannot_be_written_does_not_unpublish(project, points, tmp_path, capsys):
    src = tmp_path / "p.geojson"
    pyogrio.write_dataframe(points, src)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    code = project.run("ingest", str(src), "--collection", "p", "--report", str(blocker / "r.json"))
    out = capsys.readouterr()
    assert code == 0, out.err  # the version went live: not an error
    assert "published p v1" in out.out and "is published, but not every file" in out.out
    assert len(published(project, "p")) == 12
    assert project.report("p")["status"] == "published"


def test_demo_on_a_busy_port_changes_nothing(tmp_path, capsys):
    """A busy port is refused before the demo store is wiped or a new password is printed."""
    import socket

    from geo_publish.cli.main import main

    (tmp_path / "config.yml").write_text("store: {backend: geopackage, path: data/store.gpkg}\n")
    assert main(["--config", str(tmp_path / "config.yml"), "demo", "--no-serve"]) == 0
    store = tmp_path / "data" / "demo" / "store.gpkg"
    before = store.stat().st_mtime_ns, store.read_bytes()
    capsys.readouterr()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(["--config", str(tmp_path / "config.yml"), "demo", "--port", str(port)])
    captured = capsys.readouterr()
    assert code != 0 and f"127.0.0.1:{port}" in captured.err and "--port" in captured.err
    assert "password" not in captured.out + captured.err and "Traceback" not in captured.err
    assert (store.stat().st_mtime_ns, store.read_bytes()) == before
