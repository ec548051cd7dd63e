"""One small canonical dataset, converted to every format by fixtures; a project per test."""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import zipfile
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

from geo_publish.cli.main import main

# Canonical: 12 points in Uzbekistan with Cyrillic and Uzbek text, ids and capacities.
NAMES = ["Ташкент школа №1", "Самарканд спортзал", "Наманган дом культуры", "Андижан больница",
         "Фергана мечеть", "Джизак школа", "Гулистан стадион", "Карши лицей", "Термез колледж",
         "Навои школа", "Чирчик клуб", "Ангрен зал"]
LONLAT = [(69.2401, 41.2995), (66.9597, 39.6542), (71.6726, 40.9983), (72.3442, 40.7821),
          (71.7843, 40.3842), (67.8422, 40.1158), (68.7842, 40.4897), (65.789, 38.8606),
          (67.2783, 37.2242), (65.3792, 40.0844), (69.5982, 41.4689), (70.1436, 41.0167)]


def canonical_points() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"ID": np.arange(1, 13), "НАЗВАНИЕ": NAMES, "ВМЕСТ": np.arange(100, 1300, 100),
         "nomi": [f"Ўзбекистон {i}" for i in range(12)]},
        geometry=shapely.points(LONLAT), crs="OGC:CRS84",
    )


def canonical_polygons() -> gpd.GeoDataFrame:
    pts = canonical_points()
    pts["geometry"] = shapely.buffer(pts.geometry.array, 0.01, quad_segs=2)
    return pts


@dataclass
class Project:
    root: Path
    backend: str = "geopackage"
    dsn: str | None = None
    schema: str | None = None

    @property
    def config(self) -> Path:
        return self.root / "config.yml"

    @property
    def store(self) -> Path:
        return self.root / "data" / "store.gpkg"

    def run(self, *args: str) -> int:
        return main(["--config", str(self.config), *args])

    def report(self, collection: str, version: int = 1) -> dict:
        return json.loads((self.root / "data" / "reports" / collection / f"v{version}.json").read_text())

    def state(self) -> dict:
        """What a reader of the store can see: versions, published pointers, tables."""
        if self.backend == "postgis":
            return self._pg_state()
        if not self.store.exists():
            return {}
        with sqlite3.connect(self.store) as c:
            state = {
                "versions": c.execute("SELECT collection, version, feature_count, passport FROM gp_versions ORDER BY 1, 2").fetchall(),
                "published": c.execute("SELECT collection, version FROM gp_published ORDER BY 1").fetchall(),
                "tables": sorted(r[0] for r in c.execute("SELECT table_name FROM gpkg_contents")),
            }
        # each collection's tables are in its layer file, named as gp_versions names them
        for f in sorted(self.store.with_name(self.store.stem + ".layers").glob("*.gpkg")):
            with sqlite3.connect(f) as c:
                state["tables"] += sorted(f"{f.name}#{r[0]}" for r in c.execute("SELECT table_name FROM gpkg_contents"))
                # and every row of the collection's versioned rows, with its life span
                if c.execute("SELECT 1 FROM sqlite_master WHERE name = 'gp_bases'").fetchone():
                    for (base,) in c.execute("SELECT base FROM gp_bases ORDER BY base").fetchall():
                        hist = "gph_" + base.removeprefix("gpf_")  # its closed rows (gpkg_rows)
                        for table in (base, hist) if c.execute("SELECT 1 FROM sqlite_master WHERE name = ?",
                                                               (hist,)).fetchone() else (base,):
                            state["tables"].append(f"{f.name}#{table}:" + repr(c.execute(
                                f'SELECT * FROM "{table}" ORDER BY fid').fetchall()))
        return state

    def _pg_state(self) -> dict:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as c:
            if not c.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)).fetchone():
                return {}
            s = f'"{self.schema}"'
            return {
                "versions": c.execute(f"SELECT collection, version, feature_count, passport::text FROM {s}.gp_versions ORDER BY 1, 2").fetchall(),
                "published": c.execute(f"SELECT collection, version FROM {s}.gp_published ORDER BY 1").fetchall(),
                "tables": [r[0] for r in c.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = %s UNION "
                    "SELECT viewname FROM pg_views WHERE schemaname = %s ORDER BY 1", (self.schema, self.schema))]
                + [f"{table}:" + repr(c.execute(f'SELECT * FROM {s}."{table}" ORDER BY 1, 2').fetchall())
                   for (base,) in (c.execute(f"SELECT base FROM {s}.gp_bases ORDER BY 1").fetchall()
                                   if c.execute("SELECT to_regclass(%s)", (f"{s}.gp_bases",)).fetchone()[0]
                                   else [])
                   # the open rows and the closed ones (postgis_rows)
                   for table in (base, "gph_" + base.removeprefix("gpf_"))
                   if c.execute("SELECT to_regclass(%s)", (f'{s}."{table}"',)).fetchone()[0]],
            }


PG_ADMIN = os.environ.get("GEO_PUBLISH_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def pg_database() -> str:
    """A database of its own for this test run, with PostGIS; dropped at the end."""
    import psycopg

    name = f"gp_test_{os.getpid()}"
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
    except psycopg.Error as err:
        pytest.fail(f"PostgreSQL at {PG_ADMIN} is not reachable ({err}); the PostGIS tests need it")
    with admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
    dsn = psycopg.conninfo.make_conninfo(PG_ADMIN, dbname=name)
    with psycopg.connect(dsn, autocommit=True) as c:
        try:
            c.execute("CREATE EXTENSION postgis")
        except psycopg.Error as err:
            pytest.fail(f"PostGIS is not installed ({err}); scripts/system-deps.sh installs it")
    yield dsn
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def new_project(root: Path, backend: str, request: pytest.FixtureRequest) -> Project:
    if backend == "postgis":
        dsn = request.getfixturevalue("pg_database")
        schema = f"t_{secrets.token_hex(5)}"
        request.getfixturevalue("monkeypatch").setenv("GEO_PUBLISH_DSN", dsn)
        (root / "config.yml").write_text(
            "store:\n  backend: postgis\n  dsn: ${GEO_PUBLISH_DSN}\n  schema: " + schema + "\n")
        return Project(root, "postgis", dsn, schema)
    (root / "config.yml").write_text("store: {backend: geopackage, path: data/store.gpkg}\n")
    return Project(root)


@pytest.fixture(params=["geopackage", "postgis"])
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Project:
    """A project on each store backend: every store behaviour is tested on both."""
    return new_project(tmp_path, request.param, request)


def write_shapefile(frame: gpd.GeoDataFrame, folder: Path, name: str, encoding: str,
                    cpg: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shp = folder / f"{name}.shp"
    pyogrio.write_dataframe(frame, shp, encoding=encoding)
    for f in folder.glob(f"{name}.cpg"):
        f.unlink()
    with open(shp.with_suffix(".dbf"), "r+b") as dbf:  # LDID 0: no hint, like old tools
        dbf.seek(29)
        dbf.write(b"\0")
    if cpg is not None:
        shp.with_suffix(".cpg").write_text(cpg)
    return shp


def zip_folder(folder: Path, target: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, prefix + f.name)
    return target


@pytest.fixture
def points() -> gpd.GeoDataFrame:
    return canonical_points()


@pytest.fixture
def polygons() -> gpd.GeoDataFrame:
    return canonical_polygons()


def published(project: Project, collection: str) -> gpd.GeoDataFrame:
    from geo_publish.settings import load_settings
    from geo_publish.store import open_store

    return open_store(load_settings(project.config)).read(collection)


def child_pids(pid: int) -> list[int]:
    """The children of a process, from /proc (Linux)."""
    out = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as fh:
            out += [int(c) for c in fh.read().split()]
    return out


def process_running(pid: int) -> bool:
    """True while the process exists and is not a zombie (a zombie has ended)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def cli_here(config: Path, *args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
    """``geo-publish --config CONFIG ARGS`` in this process, for a fixture's set-up (a new
    interpreter per call cost about a second: eight calls for a portal's people); its exit code
    and what it printed, as ``subprocess.run`` gives them. Tests of the command line itself run
    it as a process (its exit code, its stderr, nothing logged)."""
    import contextlib
    import io
    import subprocess
    import sys

    argv = ["--config", str(config), *args]
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdin
    sys.stdin = io.StringIO(stdin or "")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    finally:
        sys.stdin = saved
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())
