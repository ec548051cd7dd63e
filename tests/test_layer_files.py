"""The GeoPackage store keeps each collection in a file of its own (``store.layers/``), so the
schema SQLite parses when a connection opens does not grow with the number of layers; stores
written before keep working and their tables move, checked, when their collection is next
written or with ``move_layers``."""

from __future__ import annotations

import json
import sqlite3

import pyarrow as pa
import pyogrio
import pytest

from gp_testlib import new_project, published


def _objects(path) -> int:
    with sqlite3.connect(path) as c:
        return c.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]


@pytest.fixture()
def project(request, tmp_path):
    return new_project(tmp_path, "geopackage", request)


def _ingest(project, points, tmp_path, cid: str, n: int = 8) -> None:
    src = tmp_path / f"{cid}-{n}.geojson"
    pyogrio.write_dataframe(points.iloc[:n], src)
    assert project.run("ingest", str(src), "--collection", cid) == 0


def test_the_catalogue_does_not_grow_with_layers(project, points, tmp_path) -> None:
    _ingest(project, points, tmp_path, "a")
    one = _objects(project.store)
    for cid in ("b", "c", "d"):
        _ingest(project, points, tmp_path, cid)
    _ingest(project, points, tmp_path, "a", 9)  # a second version
    assert _objects(project.store) == one  # the catalogue's schema: the same
    files = sorted(p.name for p in (project.root / "data" / "store.layers").glob("*.gpkg"))
    assert files == ["a.gpkg", "b.gpkg", "c.gpkg", "d.gpkg"]
    with sqlite3.connect(project.root / "data" / "store.layers" / "a.gpkg") as c:
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = [r[0] for r in c.execute("SELECT table_name FROM gpkg_contents "
                                          "WHERE data_type = 'features'")]
    assert len(tables) == 2  # a's two versions, nobody else's
    # each layer file is a GeoPackage GDAL opens on its own, version by version
    assert sorted(len(pyogrio.read_dataframe(project.root / "data" / "store.layers" / "a.gpkg",
                                             layer=t)) for t in tables) == [8, 9]
    assert len(published(project, "a")) == 9 and len(published(project, "d")) == 8


def test_a_failed_first_ingest_leaves_no_layer_file(project, tmp_path) -> None:
    bad = tmp_path / "bad.geojson"
    bad.write_text('{"type": "FeatureCollection", "features": [')
    assert project.run("ingest", str(bad), "--collection", "nope") != 0
    from geo_publish.settings import load_settings
    from geo_publish.store import open_store

    open_store(load_settings(project.config)).begin("nope").abort()
    assert not (project.root / "data" / "store.layers" / "nope.gpkg").exists()


def _old_layout_version(store_path, cid: str, version: int, frame, quarantine: bool) -> str:
    """A version as stores written before layer files kept it: a table in the store file, named
    bare in gp_versions (written by GDAL, as those stores were)."""
    import subprocess
    import sys

    import shapely

    table = f"gpv_{cid}_0000{version:04d}"
    attrs = frame.drop(columns=frame.geometry.name)
    t = pa.Table.from_pandas(attrs, preserve_index=False)
    t = t.append_column("geometry", pa.array(list(shapely.to_wkb(frame.geometry.values)), pa.binary()))
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, t.schema) as w:
        w.write_table(t)
    # by GDAL in a process of its own, as the store has always written (never beside sqlite3)
    subprocess.run([sys.executable, "-c", "import sys, pyarrow as pa; from geo_publish.store.gpkg "
                    "import write_arrow; write_arrow(sys.argv[1], sys.argv[2], 'Point', "
                    "pa.ipc.open_stream(sys.stdin.buffer))", str(store_path), table],
                   input=sink.getvalue().to_pybytes(), check=True)
    q = None
    with sqlite3.connect(store_path) as c:
        if quarantine:
            q = table + "_q"
            c.execute(f'CREATE TABLE "{q}" (fid INTEGER PRIMARY KEY AUTOINCREMENT, feature INTEGER, reason TEXT)')
            c.execute(f'INSERT INTO "{q}" (feature, reason) VALUES (3, "no geometry")')
            c.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier) VALUES (?, 'attributes', ?)", (q, q))
        c.execute("INSERT INTO gp_versions VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                  (cid, version, table, q, f"2026-01-0{version}T00:00:00+00:00", len(frame), int(quarantine),
                   None, None, "Point", json.dumps({"collection": cid, "version": version}),
                   json.dumps({"version": version})))
        c.execute("INSERT OR REPLACE INTO gp_published VALUES (?, ?, ?)", (cid, version, "2026-01-01T00:00:00+00:00"))
    return table


def test_an_older_store_is_read_as_it_is_and_moves_when_written(project, points, tmp_path) -> None:
    from geo_publish.settings import load_settings
    from geo_publish.store import open_store

    _ingest(project, points, tmp_path, "seed")  # makes the store file (the catalogue)
    for v in (1, 2):
        _old_layout_version(project.store, "old", v, points.iloc[: 5 + v], quarantine=v == 1)
    _old_layout_version(project.store, "other", 1, points.iloc[:4], quarantine=False)
    store = open_store(load_settings(project.config))
    before = {v: store.read("old", v) for v in (1, 2)}
    assert len(before[2]) == 7 and store.quarantine("old", 1)[0]["reason"] == "no geometry"
    # the server's reader reads a bare table name in the store file
    from geo_publish.read.readers import reader

    r = reader(str(project.store))
    t = r.table(r.published("old").table)
    assert t.file == str(project.store) and r.rows(f'SELECT count(*) FROM "{t.name}"', [], t) == [(7,)]
    # writing "old" moves its tables (and only its) into old.gpkg, each checked
    _ingest(project, points, tmp_path, "old", 10)
    with sqlite3.connect(project.store) as c:
        left = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE name LIKE 'gpv%'")}
    assert left == {"gpv_other_00000001"}
    rows = {v.version: v for v in store.history("old")}
    assert all(rows[v].layer.startswith("old.gpkg#") for v in (1, 2, 3))
    assert rows[1].quarantine_layer == "old.gpkg#gpv_old_00000001_q"
    for v in (1, 2):
        after = store.read("old", v)
        assert after.equals(before[v]), v
    assert store.quarantine("old", 1)[0]["reason"] == "no geometry"
    assert len(store.read("old")) == 10
    # a Part 4 edit of a collection still in the store file moves it into its layer file and
    # makes its versions versioned rows first
    from geo_publish.store.features import Edit

    first = store.read("other", 1)
    applied = store.edit("other", [Edit("update", "2", {"ВМЕСТ": 7})], None, "e" * 64)
    assert applied[0].version == 2 and store.version("other").layer.startswith("other.gpkg#")
    assert store.read("other")["ВМЕСТ"].tolist()[1] == 7 and store.read("other", 1).equals(first)
    assert store.version("other", 1).layer.startswith("other.gpkg#gpv_other_")
    assert store.move_layers() == 0 and store.fold() == 0
    with sqlite3.connect(project.store) as c:
        assert not c.execute("SELECT name FROM sqlite_master WHERE name LIKE 'gpv%'").fetchall()


def test_a_move_that_would_change_a_table_moves_nothing(project, points, tmp_path, monkeypatch) -> None:
    from geo_publish.errors import StoreError
    from geo_publish.settings import load_settings
    from geo_publish.store import gpkg_layout, open_store

    _ingest(project, points, tmp_path, "seed")
    _old_layout_version(project.store, "old", 1, points.iloc[:5], quarantine=False)
    store = open_store(load_settings(project.config))
    real = gpkg_layout.digest
    monkeypatch.setattr(gpkg_layout, "digest", lambda c, s, t: real(c, s, t) if s == "old" else (0, "x"))
    with pytest.raises(StoreError, match="differs; nothing was moved"):
        store.move_layers("old")
    assert store.version("old").layer == "gpv_old_00000001" and len(store.read("old")) == 5
    with sqlite3.connect(project.root / "data" / "store.layers" / "old.gpkg") as c:
        assert not c.execute("SELECT 1 FROM sqlite_master WHERE name = 'gpv_old_00000001'").fetchone()
