"""Old versions' features are dropped (store.keep_versions, `geo-publish prune`, and the job
runner every minute): a layer updated every minute through the API would otherwise keep a copy
of itself per update. The newest versions and the published one keep theirs; a pruned version
keeps its passport, report and quarantine, and refuses rollback in one line. Both stores."""

from __future__ import annotations

import pyogrio
import pytest

from geo_publish.store import base
from gp_testlib import published
from test_raster import make_raster

T = "2026-06-01T12:00:{:02d}+00:00"


def test_which_versions_go() -> None:
    rows = [("a", v, f"t{v}", T.format(v), 2) for v in range(1, 7)]  # a: v1..v6, v2 published
    rows += [("b", 1, "", T.format(0), 3), ("b", 2, "u2", T.format(1), 3), ("b", 3, "u3", T.format(2), 3)]
    late = "2026-06-01T12:02:00+00:00"
    # a keeps v6, v5 (newest) and v2 (published); b keeps v3, v2 and its v1 is pruned already
    assert base.prunable(rows, 2, at=late) == [("a", 1, "t1"), ("a", 3, "t3"), ("a", 4, "t4")]
    assert base.prunable(rows, 1, at=late)[-1] == ("b", 2, "u2")  # (config and CLI refuse 1)
    assert base.prunable(rows, 10, at=late) == []
    # a version superseded less than GRACE_S ago may still be read by a worker: kept for now
    soon = "2026-06-01T12:01:04+00:00"  # v5 (12:00:05) superseded v4 59 s ago; v4 superseded v3 60 s ago
    assert base.prunable(rows, 2, at=soon) == [("a", 1, "t1"), ("a", 3, "t3")]


def _versions(project, points, tmp_path, n: int) -> None:
    for i in range(1, n + 1):
        src = tmp_path / f"v{i}.geojson"
        pyogrio.write_dataframe(points.iloc[: 6 + i], src)
        assert project.run("ingest", str(src), "--collection", "x") == 0


def _keep(project, value: str) -> None:
    """store.keep_versions in the project's config (block or flow style)."""
    path = project.root / "config.yml"
    text = path.read_text()
    path.write_text(text.replace("store:\n", f"store:\n  keep_versions: {value}\n", 1) if "store:\n" in text
                    else text.replace("store: {", f"store: {{keep_versions: {value}, ", 1))


def _sqlite_tables(project, layer: str) -> list[str]:
    """The SQLite objects named after a version's table, in the file that holds it."""
    import sqlite3

    from geo_publish.store.gpkg_read import locate

    file, table = locate(project.store, layer)
    with sqlite3.connect(file) as c:
        return [r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE name LIKE ?", (f"%{table}%",))]


def test_spatial_indexes_left_by_an_older_version_are_removed(tmp_path, points) -> None:
    """Before 2026-12 the GeoPackage store dropped a table's spatial index under a wrong name
    (rtree_<table>_geometry; ours is _geom), leaving it behind: the next ingest removes it."""
    import sqlite3

    from gp_testlib import Project

    project = Project(tmp_path)
    (tmp_path / "config.yml").write_text("store: {backend: geopackage, path: data/store.gpkg}\n")
    _versions(project, points, tmp_path, 1)
    with sqlite3.connect(project.store) as c:
        c.execute('CREATE VIRTUAL TABLE "rtree_gpv_gone_0a1b2c3d_geom" USING rtree(id, minx, maxx, miny, maxy)')
    assert _sqlite_tables(project, "gpv_gone_0a1b2c3d")
    _versions(project, points, tmp_path, 1)
    assert _sqlite_tables(project, "gpv_gone_0a1b2c3d") == []
    assert len(published(project, "x")) == 7


def _tables(project) -> set[str]:
    return set(project.state()["tables"])


def test_prune_keeps_the_newest_and_the_published(project, points, tmp_path, capsys, monkeypatch) -> None:
    _versions(project, points, tmp_path, 5)
    assert project.run("rollback", "x", "--to", "2") == 0
    assert project.run("prune") == 0  # just superseded: nothing goes yet
    assert "0 version(s) pruned" in capsys.readouterr().out
    monkeypatch.setattr(base, "GRACE_S", 0)
    from geo_publish.settings import load_settings
    from geo_publish.store import open_store

    store = open_store(load_settings(project.config))
    layers = {v.version: v.layer for v in store.history("x")}
    before = _tables(project)
    report1 = store.report("x", 1)
    assert project.run("prune", "x", "--keep", "2") == 0
    assert capsys.readouterr().out.splitlines()[:2] == ["x v1: features dropped", "x v3: features dropped"]
    history = {v.version: v for v in store.history("x")}
    assert [v for v, i in sorted(history.items()) if i.pruned] == [1, 3]
    assert before - _tables(project) >= {layers[1], layers[3]}
    assert {layers[2], layers[4], layers[5]} <= _tables(project)
    if project.backend == "geopackage":  # spatial indexes go with their tables
        assert _sqlite_tables(project, layers[1]) == [] and _sqlite_tables(project, layers[2])
    # what was published is still published, and served
    assert store.version("x").version == 2 and len(published(project, "x")) == 8
    # a pruned version still says what it was; its features are refused in one line
    assert store.report("x", 1) == report1 and history[1].feature_count == 7
    state = project.state()
    capsys.readouterr()
    assert project.run("rollback", "x", "--to", "1") == 2
    err = capsys.readouterr().err.strip()
    assert "version 1 of 'x' is no longer kept" in err and len(err.splitlines()) == 1
    assert project.state() == state
    assert project.run("history", "x") == 0
    assert "pruned" in capsys.readouterr().out
    # again: nothing more to do; keeping every version is the config's choice, not prune's
    assert project.run("prune", "--keep", "2") == 0
    assert "0 version(s) pruned" in capsys.readouterr().out
    assert project.run("prune", "--keep", "1") == 1


def test_a_pruned_raster_version_loses_its_file(project, tmp_path, monkeypatch) -> None:
    from geo_publish.settings import load_settings
    from geo_publish.store import open_store

    for i in range(3):
        src = tmp_path / f"r{i}.tif"
        make_raster(src, width=40, height=30, bands=1)
        assert project.run("ingest", str(src), "--collection", "hazard") == 0
    store = open_store(load_settings(project.config))
    files = {v.version: base.raster_file(v.layer) for v in store.history("hazard")}
    assert all(f is not None and f.exists() for f in files.values())
    monkeypatch.setattr(base, "GRACE_S", 0)
    assert store.prune(2) == [("hazard", 1)]
    assert not files[1].exists() and files[2].exists() and files[3].exists()


def test_the_job_runner_prunes(project, points, tmp_path, monkeypatch) -> None:
    from geo_publish.portal import runner

    _versions(project, points, tmp_path, 4)
    monkeypatch.setattr(base, "GRACE_S", 0)
    monkeypatch.setattr(runner, "PRUNE_EVERY", 0)
    _keep(project, "3")
    runner.run(project.config, once=True, outbox=False)
    from geo_publish.settings import load_settings
    from geo_publish.store import open_store

    assert [v.version for v in open_store(load_settings(project.config)).history("x") if v.pruned] == [1]


@pytest.mark.parametrize("value", ["1", "-3", "many"])
def test_keep_versions_is_checked(project, capsys, value) -> None:
    _keep(project, value)
    capsys.readouterr()
    assert project.run("list") != 0
    err = capsys.readouterr().err.strip()
    assert "keep_versions" in err and len(err.splitlines()) == 1


def test_uploaded_files_no_longer_needed_are_removed(project, tmp_path, monkeypatch) -> None:
    """An upload's file goes once every job made from it is published, or after
    portal.keep_uploads_days without activity; a job made from a removed file is told so."""
    import os
    import time

    from geo_publish.portal import runner
    from geo_publish.settings import load_settings
    from geo_publish.store import open_store

    settings = load_settings(project.config)
    accounts = open_store(settings).accounts()
    root = settings.path(settings.portal.uploads_dir)

    def upload(*statuses: str, age_days: float = 0) -> str:
        uid = accounts.create_upload("org", "user", "x.geojson", 3)
        (root / uid).mkdir(parents=True)
        (root / uid / "x.geojson").write_bytes(b"abc")
        accounts.set_received(uid, 3, True)
        for status in statuses:
            accounts.update_job(accounts.create_job("org", "user", "x", uid, {}), status=status)
        if age_days:
            old = time.time() - age_days * 86400
            for p in (root / uid, root / uid / "x.geojson"):
                os.utime(p, (old, old))
        return uid

    published_ = upload("published", "published")
    draft = upload("published", "ready")  # one job still a draft: kept
    unfinished = upload()  # bytes still expected: kept
    stale = upload(age_days=15)  # nothing for 15 days
    stale_job = upload("rejected", age_days=15)  # the job was touched just now: kept
    monkeypatch.setattr(runner, "PRUNE_EVERY", 0)
    runner.run(project.config, once=True, outbox=False)
    assert sorted(p.name for p in root.iterdir()) == sorted([draft, unfinished, stale_job])
    assert accounts.upload(published_) is not None  # the row stays, for the audit
    # a job made from a removed file is rejected in one line, not with a reading error
    jid = accounts.create_job("org", "user", "x", published_, {})
    runner.run_job(settings, accounts, accounts.job(jid))
    job = accounts.job(jid)
    assert job["status"] == "rejected" and "no longer kept" in job["message"] and "upload it again" in job["message"]
    assert [p.name for p in root.iterdir()].count(stale) == 0
