"""Both stores keep each collection's versions as versioned rows (``store/gpkg_rows.py``,
``store/postgis_rows.py``):
a row lives from the generation that added it until the one that replaced it, so history costs
what changed, a Part 4 edit touches the rows it changes, and every version still reads exactly
as it was written."""

from __future__ import annotations

import sqlite3

import numpy as np
import pyogrio
import pytest
import shapely

from gp_testlib import new_project


@pytest.fixture(params=["geopackage", "postgis"])
def project(request, tmp_path):
    return new_project(tmp_path, request.param, request)


@pytest.fixture()
def store(project):
    from geo_publish.settings import load_settings
    from geo_publish.store import open_store

    return open_store(load_settings(project.config))


def _frame(n: int):
    import geopandas as gpd

    rng = np.random.default_rng(7)
    return gpd.GeoDataFrame({"code": np.arange(1, n + 1), "name": [f"Мактаб {i}" for i in range(n)],
                             "seats": rng.integers(10, 500, n)},
                            geometry=shapely.points(rng.uniform(55, 73, n), rng.uniform(37, 45, n)),
                            crs="OGC:CRS84")


def _ingest(project, frame, tmp_path, cid: str = "schools", tag: str = "a") -> None:
    src = tmp_path / f"{cid}-{tag}.geojson"
    pyogrio.write_dataframe(frame, src)
    assert project.run("ingest", str(src), "--collection", cid) == 0


def _rows(project, cid: str = "schools") -> list[tuple]:
    """(gp_id, gp_from, gp_to) of every committed row of the collection's bases."""
    if project.backend == "postgis":
        import psycopg

        s = f'"{project.schema}"'
        with psycopg.connect(project.dsn, autocommit=True) as c:
            out = []
            for (base,) in c.execute(f"SELECT base FROM {s}.gp_bases WHERE collection = %s ORDER BY base",
                                     (cid,)).fetchall():
                hist = "gph_" + base.removeprefix("gpf_")  # the closed rows (postgis_rows)
                out += c.execute(f'SELECT fid, gp_from, NULL::integer FROM {s}."{base}" UNION ALL '
                                 f'SELECT gp_id, gp_from, gp_to FROM {s}."{hist}" ORDER BY 1, 2').fetchall()
            return out
    with sqlite3.connect(project.root / "data" / "store.layers" / f"{cid}.gpkg") as c:
        out = []
        for (base,) in c.execute("SELECT base FROM gp_bases ORDER BY base").fetchall():
            hist = "gph_" + base.removeprefix("gpf_")  # the closed rows (gpkg_rows)
            out += c.execute(f'SELECT fid, gp_from, NULL FROM "{base}" UNION ALL '
                             f'SELECT gp_id, gp_from, gp_to FROM "{hist}" ORDER BY 1, 2').fetchall()
        return out


def _reader(project):
    from geo_publish.read.readers import reader
    from geo_publish.settings import load_settings
    from geo_publish.store.location import Source

    settings = load_settings(project.config)
    Source.export_dsn(settings)
    return reader(Source.of(settings).data)


def _ids(frame) -> dict:
    return dict(zip(frame["code"], frame.index))


def test_a_republish_adds_only_what_changed_and_every_version_reads_as_written(
        project, store, tmp_path) -> None:
    first = _frame(200)
    _ingest(project, first, tmp_path)
    second = first.copy()
    second.loc[[5, 80], "seats"] = [1, 2]  # 1 % changed
    second = second.drop(index=[150]).reset_index(drop=True)  # one removed
    _ingest(project, second, tmp_path, tag="b")
    rows = _rows(project)
    assert len(rows) == 200 + 2  # the two changed rows; the removed one is only closed
    assert sum(1 for _, _, to in rows if to is not None) == 3
    v1, v2 = store.read("schools", 1), store.read("schools", 2)
    assert len(v1) == 200 and len(v2) == 199
    assert v1["seats"].tolist() == first["seats"].tolist()
    assert sorted(v2["seats"].tolist()) == sorted(second["seats"].tolist())
    # the OGC ids (fids) of unchanged features did not move; changed ones kept theirs
    r = _reader(project)
    pub = r.published("schools")
    assert pub is not None and pub.version == 2
    t1, t2 = (r.table(r.published("schools").table.replace(store.version("schools", 2).layer,
                                                              store.version("schools", v).layer))
              for v in (1, 2))
    before = dict(r.rows(f"SELECT code, fid FROM {r.table_sql(t1)}", [], t1))
    got = dict(r.rows(f"SELECT code, fid FROM {r.table_sql(t2)}", [], t2))
    assert len(before) == 200 and len(got) == 199
    assert all(got[c] == before[c] for c in got)  # the OGC ids (fids) of every feature kept
    # a bbox read through the spatial index gives the features a filter on the geometry gives
    params: list = []
    where = r.envelope(t2, (60, 40, 65, 43), params)
    via_index = {x[0] for x in r.rows(f"SELECT code FROM {r.table_sql(t2)} WHERE {where}", params, t2)}
    near = v2.cx[60:65, 40:43]
    assert via_index == set(near["code"]) and via_index
    # the same features in another order: a version of its own, no new row, every id kept
    _ingest(project, second.iloc[::-1].reset_index(drop=True), tmp_path, tag="c")
    assert len(_rows(project)) == 202
    t3 = r.table(r.published("schools").table)
    assert dict(r.rows(f"SELECT code, fid FROM {r.table_sql(t3)}", [], t3)) == got


def test_a_bbox_on_the_version_a_worker_still_holds_reads_by_index(project, store, tmp_path,
                                                                   monkeypatch) -> None:
    """A worker answers from the version it holds until it sees the newer one. Filtered, that
    older version is read part by part (open rows, closed rows: ``Reader.arms``), each through
    its rowid; SQLite scanned its compound view whole (2 s for a bbox count at 1,000,000 rows,
    on every worker, at every publish). Same answers as the version's own rows."""
    from geo_publish.serve.provider import StoreProvider
    from geo_publish.settings import load_settings
    from geo_publish.store import gpkg_read
    from geo_publish.store.location import Source

    first = _frame(200)
    _ingest(project, first, tmp_path)
    r = _reader(project)
    held = r.published("schools")  # what a worker holds when the next version comes
    second = first.copy()
    second.loc[[5, 80], "seats"] = [1, 2]
    second = second.drop(index=[150]).reset_index(drop=True)
    _ingest(project, second, tmp_path, tag="b")
    provider = StoreProvider({"name": "x", "type": "feature", "collection": "schools",
                              "data": Source.of(load_settings(project.config)).data}, published=held)
    seen: list = []
    real = provider.reader.rows
    monkeypatch.setattr(provider.reader, "rows", lambda sql, params, on=None: (
        seen.append((sql, list(params), on)), real(sql, params, on))[1])
    v1 = store.read("schools", 1)
    for box in ([60, 40, 65, 43], [55, 37, 73, 45], [0, 0, 1, 1]):
        near = set(v1.cx[box[0]:box[2], box[1]:box[3]]["code"])
        hits = provider.query(bbox=box, resulttype="hits")
        page = provider.query(bbox=box, limit=7, sortby=[{"property": "code", "order": "+"}])
        assert hits["numberMatched"] == len(near) == page["numberMatched"]
        assert [f["properties"]["code"] for f in page["features"]] == sorted(near)[:7]
    arms = provider.reader.arms(provider._layer()[1])
    if project.backend == "postgis":
        assert arms is None  # PostgreSQL filters each part of a UNION ALL view itself
        return
    assert arms is not None and len(arms) == 2
    filtered = [(sql, params, on) for sql, params, on in seen if "UNION ALL" in sql]
    assert len(filtered) >= 3
    for sql, params, on in filtered:  # (the reader's connection: it has our SQL functions)
        plan = [row[3] for row in gpkg_read.connect(on.file).execute("EXPLAIN QUERY PLAN " + sql, params)]
        assert not [step for step in plan if step.startswith(("SCAN gpf_", "SCAN gph_"))], plan


def test_history_costs_what_changed(project, store, tmp_path) -> None:
    frame = _frame(2_000)
    _ingest(project, frame, tmp_path)
    layer = project.root / "data" / "store.layers" / "schools.gpkg"

    def size() -> int:
        if project.backend == "postgis":
            import psycopg

            with psycopg.connect(project.dsn, autocommit=True) as c:
                return sum(c.execute("SELECT pg_total_relation_size(%s)", (f'"{project.schema}"."{b}"',)).fetchone()[0]
                           for (b,) in c.execute(f'SELECT base FROM "{project.schema}".gp_bases').fetchall())
        with sqlite3.connect(layer) as c:
            c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return c.execute("PRAGMA page_count").fetchone()[0] - c.execute("PRAGMA freelist_count").fetchone()[0]

    one = size()
    rng = np.random.default_rng(1)
    for k in range(10):
        pick = rng.choice(len(frame), 20, replace=False)  # 1 %
        frame.loc[pick, "seats"] = frame.loc[pick, "seats"] + 1
        _ingest(project, frame, tmp_path, tag=f"r{k}")
    assert len(_rows(project)) == 2_000 + 10 * 20
    assert size() <= 1.5 * one
    assert store.read("schools")["seats"].tolist() == frame["seats"].tolist()


def test_edits_rollback_and_prune_keep_every_kept_version_exact(project, store, tmp_path, monkeypatch) -> None:
    from geo_publish.store.features import Edit

    _ingest(project, _frame(50), tmp_path)
    v1 = store.read("schools", 1)
    (a,) = store.edit("schools", [Edit("update", "3", {"seats": 999})], None, "a" * 64)
    assert len(_rows(project)) == 51
    v2 = store.read("schools", 2)
    assert v2.loc[2, "seats"] == 999 and store.read("schools", 1).equals(v1)
    moved = {"type": "Point", "coordinates": [60.0, 41.0]}
    store.edit("schools", [Edit("delete", "4"),
                           Edit("create", None, {"code": 77, "name": "Янги", "seats": 5}, moved),
                           Edit("update", "3", {"seats": 1000})], None, "b" * 64)
    v3 = store.read("schools", 3)
    assert len(v3) == 50 and 4 not in v3["code"].tolist() and v3["seats"].tolist()[2] == 1000
    # back to version 1, then an edit: built from version 1's rows, not the newest
    store.rollback("schools", 1)
    store.edit("schools", [Edit("update", "10", {"name": "Ўн"})], None, "c" * 64)
    v4 = store.read("schools", 4)
    assert v4.drop(columns="name").equals(v1.drop(columns="name"))
    assert v4["name"].tolist()[9] == "Ўн" and v4["name"].tolist()[:9] == v1["name"].tolist()[:9]
    for v, frame in ((1, v1), (2, v2), (3, v3)):
        assert store.read("schools", v).equals(frame), v
    # the served ETag of a feature is the same in every version it did not change in
    from geo_publish.store.features import served_etag

    r = _reader(project)
    name = r.published("schools").table
    table = {v: name.replace(store.version("schools", 4).layer, store.version("schools", v).layer)
             for v in (1, 2, 3, 4)}
    tags = {v: served_etag(r, table[v], None, "20") for v in (1, 2, 3, 4)}
    assert len(set(tags.values())) == 1 and None not in tags.values()
    assert served_etag(r, table[2], None, "3") == a.etag
    # prune keeps the newest two (3, and 4, published): the rows only 1 and 2 saw go (the
    # first rows of features 3 and 4, and version 2's row of feature 3)
    import geo_publish.store.base as base

    monkeypatch.setattr(base, "GRACE_S", 0)
    before = len(_rows(project))
    assert store.prune(2) == [("schools", 1), ("schools", 2)]
    assert len(_rows(project)) == before - 3
    for v, frame in ((3, v3), (4, v4)):
        assert store.read("schools", v).equals(frame), v


def test_a_new_schema_starts_new_rows_and_the_old_versions_stay(project, store, tmp_path) -> None:
    first = _frame(30)
    _ingest(project, first, tmp_path)
    wider = first.assign(phone="+998 71 000 00 00")
    _ingest(project, wider, tmp_path, tag="b")
    assert store.read("schools", 1).equals(store.read("schools", 1))
    assert list(store.read("schools", 1).columns) == ["code", "name", "seats", "geometry"]
    assert "phone" in store.read("schools", 2).columns and len(store.read("schools", 2)) == 30
    assert len({(f, t) for _, f, t in _rows(project)}) == 2  # the first base's rows, closed; the new
    if project.backend == "geopackage":  # version 1 is still a GeoPackage layer GDAL reads
        file, view = store.locate(store.version("schools", 1).layer)
        assert len(pyogrio.read_dataframe(file, layer=view)) == 30


def test_an_aborted_ingest_leaves_the_rows_as_they_were(project, store, tmp_path, monkeypatch) -> None:
    from geo_publish.store import gpkg, postgis

    frame = _frame(40)
    _ingest(project, frame, tmp_path)
    before = project.state()
    seen = []

    def fail(self, **kw):
        seen.append(len(_rows(project)))  # merged: one row closed, one added, not a version yet
        raise RuntimeError("killed before the commit")

    monkeypatch.setattr(gpkg.GeoPackageStaging, "commit", fail)
    monkeypatch.setattr(postgis.PostGISStaging, "commit", fail)
    changed = frame.copy()
    changed.loc[0, "seats"] = 0
    src = tmp_path / "changed.geojson"
    pyogrio.write_dataframe(changed, src)
    assert project.run("ingest", str(src), "--collection", "schools") != 0
    # merged (one row closed, one added) but not a version: on PostGIS, not even visible
    assert seen == [41 if project.backend == "geopackage" else 40]
    assert project.state() == before
    assert store.read("schools").equals(store.read("schools", 1))


def test_a_fold_that_would_change_a_version_changes_nothing(project, store, tmp_path, monkeypatch) -> None:
    if project.backend == "postgis":
        return _pg_fold(project, store, tmp_path, monkeypatch)
    from geo_publish.errors import StoreError
    from geo_publish.store import gpkg_layout, gpkg_rows

    _ingest(project, _frame(10), tmp_path)
    # a version as a layer file kept it before versioned rows: a table of its own
    file, view = store.locate(store.version("schools").layer)
    with sqlite3.connect(file) as c:
        base = c.execute("SELECT base FROM gp_rowsets WHERE view = ?", (view,)).fetchone()[0]
        c.execute('CREATE TABLE "gpv_schools_old" AS SELECT * FROM "%s"' % view)
        c.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id) VALUES "
                  "('gpv_schools_old', 'features', 'gpv_schools_old', 4326)")
        c.execute("INSERT INTO gpkg_geometry_columns SELECT 'gpv_schools_old', column_name, "
                  "geometry_type_name, srs_id, z, m FROM gpkg_geometry_columns WHERE table_name = ?", (view,))
        c.execute('ALTER TABLE "gpv_schools_old" DROP COLUMN gp_rid')
    with sqlite3.connect(project.store) as c:
        c.execute("UPDATE gp_versions SET layer = 'schools.gpkg#gpv_schools_old'")
    with sqlite3.connect(file) as c:
        gpkg_rows.prepare(c)
        gpkg_rows.drop_view(c, view)
        assert c.execute("SELECT count(*) FROM gp_bases").fetchone()[0] == 0 and base
    before = project.state()
    real = gpkg_layout._rows_digest
    monkeypatch.setattr(gpkg_layout, "_rows_digest",
                        lambda c, t: real(c, t) if t == "gpv_schools_old" else (0, "x"))
    with pytest.raises(StoreError, match="differ from gpv_schools_old; nothing was changed"):
        store.fold("schools")
    assert project.state() == before
    monkeypatch.undo()
    frame = store.read("schools")
    assert store.fold("schools") == 1
    assert store.read("schools").equals(frame)
    assert store.version("schools").layer != "schools.gpkg#gpv_schools_old"


def _pg_fold(project, store, tmp_path, monkeypatch) -> None:
    """The same on PostGIS: a version table of a store written before versioned rows."""
    import psycopg

    from geo_publish.errors import StoreError
    from geo_publish.store import postgis_rows
    from geo_publish.store.features import Edit

    _ingest(project, _frame(10), tmp_path)
    frame = store.read("schools")
    s = f'"{project.schema}"'
    view = store.version("schools").layer
    with psycopg.connect(project.dsn, autocommit=True) as c:
        c.execute(f'CREATE TABLE {s}."gpv_schools_old" AS SELECT * FROM {s}."{view}"')
        c.execute(f'ALTER TABLE {s}."gpv_schools_old" ADD PRIMARY KEY (fid)')
        c.execute(f"UPDATE {s}.gp_versions SET layer = 'gpv_schools_old'")
        with c.transaction():
            _, gen = postgis_rows.drop_version(c, lambda n: f'{s}."{n}"', view)
            postgis_rows.clean(c, lambda n: f'{s}."{n}"', "schools", gen)
    before = project.state()
    real = postgis_rows.digest
    monkeypatch.setattr(postgis_rows, "digest", lambda c, r: real(c, r) if "old" in r else (0, "x"))
    with pytest.raises(StoreError, match="differ from gpv_schools_old; nothing was changed"):
        store.edit("schools", [Edit("delete", "2")], None, "d" * 64)
    assert project.state() == before
    monkeypatch.undo()
    (applied,) = store.edit("schools", [Edit("delete", "2")], None, "d" * 64)
    assert store.read("schools", 1).equals(frame)
    assert store.version("schools", 1).layer != "gpv_schools_old" and len(store.read("schools")) == 9


def test_an_attribute_named_like_the_stores_own_columns_is_refused(project, store, tmp_path) -> None:
    """Never dropped in silence (read == published + quarantined): a clear error, nothing kept."""
    _ingest(project, _frame(5), tmp_path)
    frame = _frame(5).assign(gp_to=[1, 2, 3, 4, 5])
    src = tmp_path / "clash.geojson"
    pyogrio.write_dataframe(frame, src)
    before = project.state()
    assert project.run("ingest", str(src), "--collection", "clash") != 0
    assert project.run("ingest", str(src), "--collection", "schools") != 0
    assert project.state() == before



def _four_versions(project, tmp_path):
    """The store, and the frame of the fourth of four versions: each republish changes two
    features and drops one."""
    from geo_publish.settings import load_settings
    from geo_publish.store import open_store

    store = open_store(load_settings(project.config))
    frame = _frame(300)
    _ingest(project, frame, tmp_path)
    for k in range(3):
        frame.loc[[k, 100 + k], "seats"] = [7, 8]
        frame = frame.drop(index=[200 + k])
        _ingest(project, frame.reset_index(drop=True), tmp_path, tag=f"r{k}")
    return store, frame


def _layout(path) -> list[str]:
    """What breaks the layout of a layer file's bases (``gpkg_rows``): open rows in the base at
    their numbers, closed rows in its history table at gp_to << 32 | gp_id, the R-tree holding
    exactly the rows' rowids; the newest version's view reads the open table as a table (no
    index walk, no sort), an older one merges the two tables in fid order (no sort)."""
    wrong = []
    with sqlite3.connect(path) as c:
        top = c.execute("SELECT max(gen) FROM gp_rowsets").fetchone()[0]
        for base, geom, split in c.execute("SELECT base, geometry, split FROM gp_bases").fetchall():
            hist = "gph_" + base.removeprefix("gpf_")
            wrong += [f"{base} not split"] * (split != 1)
            bad = c.execute(f'SELECT fid, gp_id, gp_to FROM "{hist}" WHERE fid != (gp_to << 32) | gp_id '
                            "OR gp_id >= 4294967296").fetchall()
            bad += c.execute(f'SELECT fid FROM "{base}" WHERE fid >= 4294967296 OR fid < 1').fetchall()
            wrong += [f"{base} row {r}" for r in bad]
            rows = {r[0] for r in c.execute(f'SELECT fid FROM "{base}" WHERE "{geom}" IS NOT NULL UNION ALL '
                                            f'SELECT fid FROM "{hist}" WHERE "{geom}" IS NOT NULL')}
            boxes = {r[0] for r in c.execute(f'SELECT id FROM "rtree_{base}_{geom}"')}
            wrong += [f"{base} R-tree differs by {sorted(rows ^ boxes)[:5]}"] * (rows != boxes)
        for view, gen in c.execute("SELECT view, gen FROM gp_rowsets").fetchall():
            plan = " ".join(r[3] for r in c.execute(f'EXPLAIN QUERY PLAN SELECT * FROM "{view}" '
                                                    "ORDER BY fid LIMIT 10"))
            table = plan.startswith("SCAN gpf_") and "INDEX" not in plan
            merged = "MERGE (UNION ALL)" in plan and "gph_" in plan
            ok = (table if gen == top else merged) and "TEMP B-TREE" not in plan
            wrong += [f"{view} (gen {gen}, newest {top}): {plan}"] * (not ok)
    return wrong


def test_the_newest_version_reads_as_a_table_and_an_older_layout_is_split(tmp_path, request) -> None:
    """GeoPackage: the open rows are a table of their own at their ids, so the newest version
    reads as that table (no index walk, no sort) and an older one is a merge of it with the
    closed rows; a base of the first layout (one table, rowids in insertion order) is split on
    the next write, every version reading as before."""
    from geo_publish.store.features import Edit

    project = new_project(tmp_path, "geopackage", request)
    path = project.root / "data" / "store.layers" / "schools.gpkg"
    store, frame = _four_versions(project, tmp_path)
    store.edit("schools", [Edit("update", "5", {"seats": 1}), Edit("delete", "6"),
                           Edit("create", None, {"code": 900, "name": "Янги", "seats": 3},
                                {"type": "Point", "coordinates": [60.0, 41.0]})], None, "a" * 64)
    assert _layout(path) == []
    store.rollback("schools", 3)
    store.edit("schools", [Edit("update", "9", {"seats": 2})], None, "b" * 64)
    assert _layout(path) == []
    versions = {v: store.read("schools", v) for v in range(1, 7)}
    assert len(versions[6]) == len(versions[3]) and versions[6]["seats"].tolist()[8] == 2
    # the first layout: one table, rowids in insertion order, every view by gp_id
    with sqlite3.connect(path) as c:
        (base,) = c.execute("SELECT base FROM gp_bases").fetchone()
        hist, tree = "gph_" + base.removeprefix("gpf_"), f'"rtree_{base}_geom"'
        for (view,) in c.execute("SELECT view FROM gp_rowsets").fetchall():
            c.execute(f'DROP VIEW "{view}"')
        types = {r[1]: r[2] for r in c.execute(f'PRAGMA table_info("{base}")')}
        c.execute('CREATE TABLE old (fid INTEGER PRIMARY KEY AUTOINCREMENT, gp_id INTEGER NOT NULL, '
                  'gp_from INTEGER NOT NULL, gp_to INTEGER, '
                  + ", ".join(f'"{n}" {types[n]}' for n in ("code", "name", "seats", "geom")) + ")")
        c.execute(f'CREATE TEMP TABLE m AS SELECT fid AS rid, fid AS gp_id, gp_from, NULL AS gp_to FROM "{base}" '
                  f'UNION ALL SELECT fid, gp_id, gp_from, gp_to FROM "{hist}"')
        c.execute("CREATE TEMP TABLE n AS SELECT rid, 1000 + row_number() OVER (ORDER BY gp_from, gp_id) AS new, "
                  "gp_id, gp_from, gp_to FROM m")
        c.execute(f'INSERT INTO old SELECT n.new, n.gp_id, n.gp_from, n.gp_to, x.code, x.name, x.seats, x.geom '
                  f'FROM n JOIN (SELECT fid, code, name, seats, geom FROM "{base}" UNION ALL '
                  f'SELECT fid, code, name, seats, geom FROM "{hist}") x ON x.fid = n.rid')
        c.execute(f"UPDATE {tree} SET id = -(SELECT new FROM n WHERE rid = id)")
        c.execute(f"UPDATE {tree} SET id = -id")
        c.execute(f'DROP TABLE "{base}"')
        c.execute(f'DROP TABLE "{hist}"')
        c.execute(f'ALTER TABLE old RENAME TO "{base}"')
        c.execute(f'CREATE INDEX "{base}_id" ON "{base}" (gp_id)')
        for view, gen in c.execute("SELECT view, gen FROM gp_rowsets").fetchall():
            c.execute(f'CREATE VIEW "{view}" AS SELECT gp_id AS fid, "code", "name", "seats", "geom", '
                      f'fid AS gp_rid FROM "{base}" WHERE +gp_from <= {gen} AND '
                      f"(+gp_to IS NULL OR +gp_to > {gen})")
        c.execute("ALTER TABLE gp_bases DROP COLUMN split")
    with sqlite3.connect(path) as c:
        assert c.execute(f'SELECT count(*) FROM "{base}" WHERE fid BETWEEN 1000 AND 2000').fetchone()[0] > 300
    for v, before in versions.items():  # the first layout reads as it did
        assert store.read("schools", v).equals(before), v
    _ingest(project, frame.reset_index(drop=True).assign(seats=1), tmp_path, tag="again")
    assert _layout(path) == []
    for v, before in versions.items():
        assert store.read("schools", v).equals(before), v
    assert (store.read("schools", 7)["seats"] == 1).all()
    with sqlite3.connect(path) as c:  # the same columns: the same base, its rows closed
        assert c.execute("SELECT count(DISTINCT base) FROM gp_rowsets").fetchone()[0] == 1
    # a bbox through the R-tree gives what the geometry gives, in an old version and the newest
    from geo_publish.store.gpkg_read import geometries

    r = _reader(project)
    for v in (2, 7):
        t = r.table(r.published("schools").table.replace(store.version("schools", 7).layer,
                                                          store.version("schools", v).layer))
        params: list = []
        where = r.envelope(t, (60, 40, 65, 43), params)
        got = {x[0] for x in r.rows(f"SELECT fid FROM {r.table_sql(t)} WHERE {where}", params, t)}
        every = r.rows(f"SELECT fid, geom FROM {r.table_sql(t)}", [], t)
        box = shapely.box(60, 40, 65, 43)
        want = {fid for (fid, _), g in zip(every, geometries([x[1] for x in every])) if box.intersects(g)}
        assert got == want and got, v
    # a dead writer's generation swept (its view dropped): the rows it closed open again,
    # back in the open table with their boxes, and the version before it reads as a table
    from geo_publish.store import gpkg_rows

    with sqlite3.connect(path, isolation_level=None) as c:
        c.execute("BEGIN IMMEDIATE")
        gpkg_rows.drop_view(c, store.locate(store.version("schools", 7).layer)[1])
        assert c.execute("SELECT max(gen) FROM gp_rowsets").fetchone()[0] == 6
        c.execute("COMMIT")
    assert _layout(path) == []
    for v, before in versions.items():
        assert store.read("schools", v).equals(before), v


def test_postgis_newest_version_is_its_open_table_and_an_older_layout_is_split(tmp_path, request) -> None:
    """PostGIS: the newest version's view is the open rows' table (a page reads its primary
    key, no history), an older one a Merge Append of both tables in fid order; a base of the
    first layout (one table, gp_to NULL while open) is split on the next write, every version
    reading as before; a dropped newest generation reopens the rows it closed."""
    import psycopg

    from geo_publish.store.features import Edit

    project = new_project(tmp_path, "postgis", request)
    s = f'"{project.schema}"'
    store, frame = _four_versions(project, tmp_path)
    store.edit("schools", [Edit("update", "5", {"seats": 1}), Edit("delete", "6")], None, "a" * 64)
    store.rollback("schools", 3)
    store.edit("schools", [Edit("update", "9", {"seats": 2})], None, "b" * 64)
    versions = {v: store.read("schools", v) for v in range(1, 7)}

    def plans(c) -> dict[int, str]:
        # a table of 300 rows is sorted faster than merged: ask for the plan a large one gets
        c.execute("SET enable_sort = off")
        c.execute("SET enable_seqscan = off")
        out = {}
        for view, gen in c.execute(f"SELECT view, gen FROM {s}.gp_rowsets ORDER BY gen").fetchall():
            out[gen] = " ".join(r[0] for r in c.execute(
                f'EXPLAIN SELECT * FROM {s}."{view}" ORDER BY fid LIMIT 10').fetchall())
        return out

    with psycopg.connect(project.dsn, autocommit=True) as c:
        got = plans(c)
        top = max(got)
        assert "gph_" not in got[top] and "Sort" not in got[top], got[top]
        for gen in set(got) - {top}:
            assert "Merge Append" in got[gen] and "gph_" in got[gen], got[gen]
        # the first layout: one table with an identity fid, views by gp_id
        (base,) = c.execute(f"SELECT base FROM {s}.gp_bases").fetchone()
        hist = "gph_" + base.removeprefix("gpf_")
        c.execute(f'CREATE TABLE {s}.old (fid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, gp_id bigint '
                  f'NOT NULL, gp_from integer NOT NULL, gp_to integer, code bigint, name text, seats bigint, '
                  f'geom geometry(Point, 4326))')
        c.execute(f'INSERT INTO {s}.old (gp_id, gp_from, gp_to, code, name, seats, geom) SELECT * FROM '
                  f'(SELECT fid, gp_from, NULL::integer, code, name, seats, geom FROM {s}."{base}" UNION ALL '
                  f'SELECT gp_id, gp_from, gp_to, code, name, seats, geom FROM {s}."{hist}") x ORDER BY 2, 1')
        c.execute(f'DROP TABLE {s}."{hist}" CASCADE')
        c.execute(f'DROP TABLE {s}."{base}" CASCADE')
        c.execute(f'ALTER TABLE {s}.old RENAME TO "{base}"')
        for view, gen in c.execute(f"SELECT view, gen FROM {s}.gp_rowsets").fetchall():
            c.execute(f'CREATE VIEW {s}."{view}" AS SELECT gp_id AS fid, code, name, seats, geom FROM '
                      f'{s}."{base}" WHERE gp_from <= {gen} AND (gp_to IS NULL OR gp_to > {gen})')
    for v, before in versions.items():  # the first layout reads as it did
        assert store.read("schools", v).equals(before), v
    _ingest(project, frame.reset_index(drop=True).assign(seats=1), tmp_path, tag="again")
    for v, before in versions.items():
        assert store.read("schools", v).equals(before), v
    assert (store.read("schools", 7)["seats"] == 1).all()
    with psycopg.connect(project.dsn, autocommit=True) as c:
        assert c.execute(f"SELECT to_regclass('{s}.\"{hist}\"')").fetchone()[0] is not None
        got = plans(c)
        assert "gph_" not in got[max(got)] and all("Merge Append" in got[g] for g in set(got) - {max(got)})
    # the newest generation dropped (a dead writer's): its closed rows open again
    from geo_publish.store import postgis_rows

    with psycopg.connect(project.dsn) as c:
        postgis_rows.lock(c, "schools")
        _, gen = postgis_rows.drop_version(c, store.q, store.version("schools", 7).layer)
        postgis_rows.clean(c, store.q, "schools", gen)
    with psycopg.connect(project.dsn, autocommit=True) as c:
        got = plans(c)
        assert max(got) == 6 and "gph_" not in got[6]
        assert c.execute(f'SELECT count(*) FROM {s}."{base}"').fetchone()[0] == len(versions[6])
    for v, before in versions.items():
        assert store.read("schools", v).equals(before), v
