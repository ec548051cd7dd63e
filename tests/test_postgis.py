"""What only the PostGIS backend has: migration from a GeoPackage store, secrets kept out of
files and messages, concurrent ingests (both backends)."""

from __future__ import annotations

import subprocess
import sys
import threading

import psycopg
import pyogrio
import pytest

from geo_publish.settings import load_settings
from geo_publish.store import open_store
from gp_testlib import Project, new_project, published


def test_migrate_copies_history_passports_quarantine(tmp_path, points, request, capsys, monkeypatch):
    import geopandas as gpd
    import shapely

    (tmp_path / "g").mkdir()
    src = new_project(tmp_path / "g", "geopackage", request)
    broken = gpd.GeoDataFrame({"ID": [99], "НАЗВАНИЕ": ["без геометрии"], "ВМЕСТ": [1], "nomi": ["x"]},
                              geometry=[None], crs="OGC:CRS84")
    for k, frame in enumerate([points, points.iloc[:5], gpd.pd.concat([points, broken])], 1):
        path = tmp_path / f"v{k}.gpkg"
        pyogrio.write_dataframe(frame, path)
        assert src.run("ingest", str(path), "--collection", "x") == 0
    pyogrio.write_dataframe(points.iloc[:3], tmp_path / "y.gpkg")
    assert src.run("ingest", str(tmp_path / "y.gpkg"), "--collection", "y") == 0
    assert src.run("rollback", "x", "--to", "2") == 0
    dsn = request.getfixturevalue("pg_database")
    monkeypatch.setenv("GEO_PUBLISH_DSN", dsn)
    capsys.readouterr()
    assert src.run("migrate", "--to", "postgis", "--schema", "migrated") == 0
    assert "counts and checksums verified" in capsys.readouterr().out

    gp = open_store(load_settings(src.config))
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "config.yml").write_text(
        "store:\n  backend: postgis\n  dsn: ${GEO_PUBLISH_DSN}\n  schema: migrated\n")
    pg = open_store(load_settings(tmp_path / "p" / "config.yml"))
    for cid in ("x", "y"):
        a, b = gp.history(cid), pg.history(cid)
        assert [(v.version, v.feature_count, v.quarantined, v.published, v.created, v.sha256)
                for v in a] == [(v.version, v.feature_count, v.quarantined, v.published, v.created,
                                 v.sha256) for v in b]
        for v in a:
            assert gp.passport(cid, v.version) == pg.passport(cid, v.version)
            assert gp.quarantine(cid, v.version) == pg.quarantine(cid, v.version)
            fa, fb = gp.read(cid, v.version), pg.read(cid, v.version)
            assert list(fa.columns) == list(fb.columns)
            assert fa.drop(columns="geometry").astype(str).values.tolist() == \
                fb.drop(columns="geometry").astype(str).values.tolist()
            assert shapely.equals_exact(fa.geometry.values, fb.geometry.values, 0).all()
    assert pg.version("x").version == 2  # the rolled-back pointer came along
    assert len(pg.quarantine("x", 3)) == 1
    # a second run refuses: the target is not empty
    assert src.run("migrate", "--to", "postgis", "--schema", "migrated") == 2
    assert "already holds x, y" in capsys.readouterr().err


def test_dsn_must_come_from_the_environment(tmp_path, capsys):
    secret = "postgresql://gis:S3cretPw@127.0.0.1:5432/gis"
    (tmp_path / "config.yml").write_text(f"store:\n  backend: postgis\n  dsn: {secret}\n")
    assert Project(tmp_path).run("list") == 2
    err = capsys.readouterr().err
    assert "store.dsn must come from the environment" in err and "S3cretPw" not in err
    assert err.count("\n") == 1


def test_connection_errors_do_not_print_the_password(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GEO_PUBLISH_DSN", "postgresql://gis:S3cretPw@127.0.0.1:1/gis")
    (tmp_path / "config.yml").write_text("store:\n  backend: postgis\n  dsn: ${GEO_PUBLISH_DSN}\n")
    assert Project(tmp_path).run("list") == 2
    err = capsys.readouterr().err
    assert "cannot connect" in err and "127.0.0.1:1/gis" in err and "S3cretPw" not in err
    assert err.count("\n") == 1


def test_two_ingests_into_one_collection_at_once(project, points, tmp_path):
    """Both run; they queue on publishing and get consecutive versions; the store stays
    consistent (each version whole, the last one published)."""
    a, b = tmp_path / "a.gpkg", tmp_path / "b.gpkg"
    pyogrio.write_dataframe(points, a)
    pyogrio.write_dataframe(points.iloc[:7], b)
    cmd = [sys.executable, "-m", "geo_publish", "--config", str(project.config), "ingest"]
    procs = [subprocess.Popen([*cmd, str(p), "--collection", "same"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for p in (a, b)]
    results = [(p.wait(120), p.stderr.read()) for p in procs]
    assert [code for code, _ in results] == [0, 0], [err for _, err in results]  # both, queued
    store = open_store(load_settings(project.config))
    history = store.history("same")
    assert [v.version for v in history] == [1, 2]
    assert sorted(v.feature_count for v in history) == [7, 12]
    for v in history:
        assert len(store.read("same", v.version)) == v.feature_count
    assert store.version("same").version == 2
    assert len(published(project, "same")) == history[-1].feature_count


@pytest.mark.parametrize("bad", ["postgresql://x@127.0.0.1:5432/db", "host=127.0.0.1 password=x"])
def test_read_dsn_literal_is_refused_too(tmp_path, capsys, bad, monkeypatch):
    monkeypatch.setenv("GEO_PUBLISH_DSN", "postgresql://127.0.0.1/x")
    (tmp_path / "config.yml").write_text(
        f"store:\n  backend: postgis\n  dsn: ${{GEO_PUBLISH_DSN}}\n  read_dsn: '{bad}'\n")
    assert Project(tmp_path).run("list") == 2
    err = capsys.readouterr().err
    assert "store.read_dsn must come from the environment" in err and bad not in err


def test_id_field_is_indexed(project, points, tmp_path):
    """Items are fetched by the manifest's id field: both stores index it."""
    (project.root / "collections").mkdir()
    (project.root / "collections" / "x.yml").write_text("id: x\nschema: {id_field: id}\n")
    pyogrio.write_dataframe(points, tmp_path / "p.gpkg")
    assert project.run("ingest", str(tmp_path / "p.gpkg"), "--collection", "x") == 0
    layer = open_store(load_settings(project.config)).version("x").layer
    if project.backend == "postgis":
        import psycopg

        with psycopg.connect(project.dsn) as c:  # on the collection's rows (postgis_rows.py)
            (base,) = c.execute(f'SELECT base FROM "{project.schema}".gp_rowsets WHERE view = %s',
                                (layer,)).fetchone()
            defs = [r[0] for r in c.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = %s "
                                            "AND tablename = %s", (project.schema, base))]
            hist = [r[0] for r in c.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = %s "
                                            "AND tablename = %s", (project.schema, "gph_" + base[4:]))]
        assert any("(id)" in d for d in defs) and any("gist" in d for d in defs)
        assert any("(fid)" in d for d in defs)  # the open rows, keyed by their number
        assert any("(gp_id)" in d for d in hist) and any("gist" in d for d in hist)  # the closed ones
    else:
        import sqlite3

        from geo_publish.store.gpkg_read import locate

        file, table = locate(project.store, layer)
        with sqlite3.connect(file) as c:
            plan = c.execute(f'EXPLAIN QUERY PLAN SELECT * FROM "{table}" WHERE id = 5').fetchall()
        assert "USING INDEX" in str(plan)


def test_a_new_process_setting_up_does_not_deadlock_with_a_publish(tmp_path, points, request):
    """A process's first connection checks the store's tables; while another process's publish
    holds some of them (it wrote gp_bases and is about to write gp_records), that check must
    neither wait for it nor take locks it waits for. (Found at 10,000 layers: two ingests side
    by side, one just started, deadlocked.) Also for the portal's tables."""
    project = new_project(tmp_path, "postgis", request)
    src = tmp_path / "p.gpkg"
    pyogrio.write_dataframe(points, src)
    assert project.run("ingest", str(src), "--collection", "p") == 0
    settings = load_settings(project.config)
    open_store(settings).accounts().run("SELECT count(*) AS n FROM {s}gp_users")  # laid out
    before = [v.version for v in open_store(settings).history("p")]
    q = f'"{project.schema}".'
    with psycopg.connect(project.dsn) as publisher:  # a publish in the middle of its transaction
        publisher.execute(f"INSERT INTO {q}gp_bases VALUES ('gpf_nothing', 'nothing')")
        publisher.execute(f"INSERT INTO {q}gp_jobs (id, org_id, user_id, collection, upload_id, options, "
                          "status, created, updated) VALUES ('j', 'o', 'u', 'p', 'x', '{}', 'queued', 'now', 'now')")
        out: dict[str, object] = {}

        def newcomer() -> None:  # a new process: a store of its own, set up on first use
            try:
                store = open_store(settings)
                out["history"] = [v.version for v in store.history("p")]
                out["users"] = store.accounts().run("SELECT count(*) AS n FROM {s}gp_users")[0]["n"]
            except Exception as err:  # noqa: BLE001 - what the test reports
                out["error"] = err

        t = threading.Thread(target=newcomer)
        t.start()
        t.join(5)
        assert not t.is_alive(), "the new process waits for the publish"
        # the publish goes on to the tables the newcomer checked, and is not refused
        publisher.execute(f"DELETE FROM {q}gp_records WHERE collection = 'nothing'")
        publisher.execute(f"DELETE FROM {q}gp_outbox WHERE id = 'none'")
        publisher.rollback()
    assert out == {"history": before, "users": 0}, out
    assert [v.version for v in open_store(settings).history("p")] == before
