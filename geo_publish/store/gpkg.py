"""The embedded store: standard GeoPackage files that QGIS can open too.

The store file (``store.gpkg``) is the catalogue: which versions exist and which one is
published (three small attribute tables), and the portal's tables. Each collection's features
are in a GeoPackage of its own beside it (``store.layers/<collection>.gpkg``): one table per
version, and a quarantine table. The schema SQLite parses when it opens a connection is then the
catalogue's or one collection's, never every layer's: opening, ingesting and publishing cost the
same with ten layers or ten thousand. Publishing is one SQLite transaction on the catalogue
that moves the pointer, so readers see the old or the new version, never a mix. A table being
written is listed in ``gp_staging`` with the writer's pid; a collection's tables that no row
points to (left by a killed ingest or edit) are removed the next time that collection is
written. Stores written before layer files kept every table in the store file: those are read
where they are, and each collection's are moved to its layer file the next time it is written
(or all at once, ``move_layers``), checked table by table.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import warnings
from collections.abc import Iterable
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import pyarrow as pa

from geo_publish.errors import NotFound, StoreError
from geo_publish.settings import Settings
from geo_publish.store import forked
from geo_publish.store.accounts import Channel
from geo_publish.store.gpkg_read import layer_ref, layers_dir, locate
from geo_publish.store.records import SQLITE_DDL, sqlite_index, stale_sql
from geo_publish.store.base import VersionInfo, prunable, quote, raster_file
from geo_publish.store.catalogue import VersionCatalogue
from geo_publish.store.base import now as _now

if TYPE_CHECKING:  # pandas and pyogrio only where a frame is made or written: a server's
    # workers read metadata with sqlite3 and must not carry them (~130 MB)
    import geopandas as gpd

_META = """
CREATE TABLE IF NOT EXISTS gp_versions (
  collection TEXT NOT NULL, version INTEGER NOT NULL, layer TEXT NOT NULL, quarantine TEXT,
  created TEXT NOT NULL, feature_count INTEGER NOT NULL, quarantined INTEGER NOT NULL,
  bbox TEXT, sha256 TEXT, geometry_type TEXT, passport TEXT NOT NULL, report TEXT NOT NULL,
  PRIMARY KEY (collection, version));
CREATE TABLE IF NOT EXISTS gp_published (
  collection TEXT PRIMARY KEY, version INTEGER NOT NULL, updated TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS gp_staging (
  layer TEXT PRIMARY KEY, collection TEXT NOT NULL, pid INTEGER NOT NULL, host TEXT NOT NULL,
  started TEXT NOT NULL);
"""
WRITE_CACHE_MB = 512
_WAL: set[Path] = set()  # stores this process has seen in WAL mode
_INDEXED: set[Path] = set()  # catalogues this process has seen with their index tables
_META_TABLES = ("gp_versions", "gp_published", "gp_staging")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wal(conn: sqlite3.Connection, path: Path) -> None:
    """A store made before WAL mode is switched to it, once (the mode is kept in the file).

    In the default rollback mode, the commit of a large version holds SQLite's exclusive
    lock while it writes (seconds for a million features), and every reader of the server
    waits meanwhile; in WAL mode readers keep reading the previous state. WAL is safe here
    because no process holds the store open through two SQLite libraries at once: GDAL
    writes features only in a writer process of its own (``write_features``), everything
    else reads and writes through Python's sqlite3."""
    try:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
    except sqlite3.OperationalError:  # busy: tried again by the next write
        return
    _WAL.add(path)

def _create(path: Path, catalogue: bool = True) -> None:
    """An empty GeoPackage in WAL mode (made by GDAL, then linked into place: two processes
    making it at once leave one); with the catalogue's tables in the store file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.new")
    import pandas as pd
    import pyogrio

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pyogrio.write_dataframe(pd.DataFrame({"key": ["format"], "value": ["geo-publish 1"]}),
                                tmp, layer="gp_meta", driver="GPKG")
    with closing(sqlite3.connect(tmp, isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode = WAL")  # readers never wait for a writer (see _wal)
        if not catalogue:
            return _link(tmp, path)
        conn.executescript("BEGIN;" + _META + "COMMIT;")
        for name in _META_TABLES:
            conn.execute(
                "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, "
                "last_change) VALUES (?, 'attributes', ?, strftime('%Y-%m-%dT%H:%M:%fZ','now'))",
                (name, name),
            )
    _link(tmp, path)


def _unlink(path: Path) -> None:
    """A SQLite file and its journals."""
    for part in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        part.unlink(missing_ok=True)


def _link(tmp: Path, path: Path) -> None:
    try:
        os.link(tmp, path)  # fails if another process created it meanwhile
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def immediate(conn: sqlite3.Connection, how: str = "IMMEDIATE") -> Iterator[sqlite3.Connection]:
    """A write transaction (``BEGIN IMMEDIATE``: the write lock now), committed at the end of
    the block or rolled back if it raises."""
    conn.execute(f"BEGIN {how}".strip())
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def drop(conn: sqlite3.Connection, table: str) -> None:
    """Drop a table of the connection's main file with its spatial index and registrations
    (every name qualified: a file attached to the connection may hold a table of that name)."""
    from geo_publish.store import gpkg_rows

    if gpkg_rows.is_view(conn, table):  # a version of the collection's rows
        return gpkg_rows.drop_view(conn, table)
    # the spatial index is a virtual table named by the geometry column (ours: geom)
    columns = {r[0] for r in conn.execute(
        "SELECT column_name FROM main.gpkg_geometry_columns WHERE lower(table_name) = lower(?)",
        (table,))} | {"geom", "geometry"}
    for column in sorted(columns):
        conn.execute(f'DROP TABLE IF EXISTS main."rtree_{table}_{column}"')
    conn.execute(f'DROP TABLE IF EXISTS main."{table}"')
    for meta in ("gpkg_contents", "gpkg_geometry_columns", "gpkg_extensions",
                 "gpkg_ogr_contents"):
        try:
            conn.execute(f"DELETE FROM main.{meta} WHERE lower(table_name) = lower(?)", (table,))
        except sqlite3.OperationalError:
            pass


def _sweep(conn: sqlite3.Connection, known: set[str], prefix: str, transaction: bool = True) -> None:
    """Drop the version tables (names starting ``prefix``) of one file that are not ``known``,
    and spatial indexes whose table is gone (dropped under a wrong name before 2026-12)."""
    like = prefix.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%") + "%"
    if transaction:
        conn.execute("BEGIN IMMEDIATE")
    try:
        tables = {r[0] for r in conn.execute(
            "SELECT table_name FROM gpkg_contents WHERE table_name LIKE ? ESCAPE '\\'", (like,))}
        tables |= {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name LIKE ? "
            "ESCAPE '\\'", (like,))}
        for t in sorted(tables - known):
            drop(conn, t)
        left = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE ? ESCAPE '\\'",
            (like,))}
        for (index,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE "
                "'CREATE VIRTUAL TABLE%' AND name LIKE ? ESCAPE '\\'", ("rtree\\_" + like,)).fetchall():
            if not any(index.startswith(f"rtree_{t}_") for t in left):
                conn.execute(f'DROP TABLE IF EXISTS "{index}"')
        if transaction:
            conn.execute("COMMIT")
    except BaseException:
        if transaction:
            conn.execute("ROLLBACK")
        raise


class GeoPackageStore(VersionCatalogue):
    def __init__(self, path: Path) -> None:
        self.path = path
        self.layers = layers_dir(path)
        self.where = str(path)

    def layer_file(self, collection: str) -> Path:
        """The GeoPackage that holds a collection's versions."""
        return self.layers / f"{collection}.gpkg"

    def staging_file(self, layer: str) -> Path:
        """Where GDAL writes an ingest's features before they are merged into the collection's
        rows (a file of its own, removed after: its pages never stay in the layer file)."""
        return self.layers / f"{self.locate(layer)[1]}.staging.gpkg"

    def locate(self, layer: str) -> tuple[Path, str]:
        """(file, table) of a version's table, as ``gp_versions.layer`` names it."""
        file, table = locate(self.path, layer)
        return Path(file), table

    @classmethod
    def from_settings(cls, settings: Settings) -> GeoPackageStore:
        return cls(settings.path(settings.store.path))  # type: ignore[union-attr]

    # -- connection and layout ------------------------------------------------------------------
    @contextmanager
    def _db(self, write: bool = False, file: Path | None = None) -> Iterator[sqlite3.Connection]:
        """A connection to the catalogue, or to ``file`` (a layer file, made if missing)."""
        path = file or self.path
        if not path.exists():
            if not write:
                raise NotFound(f"{self.path}: the store is empty (nothing ingested yet)",
                               hint="run `geo-publish ingest SOURCE --collection ID` first")
            _create(path, catalogue=file is None)
        try:
            conn = sqlite3.connect(path, timeout=60, isolation_level=None)
        except sqlite3.Error as err:
            raise StoreError(f"{path}: cannot open the store ({err})") from err
        with closing(conn):
            conn.execute("PRAGMA busy_timeout = 60000")
            if write and path not in _WAL:
                _wal(conn, path)
            if write and file is None and path not in _INDEXED:  # stores made before the index
                conn.executescript(SQLITE_DDL)
                _INDEXED.add(path)
            try:
                yield conn
            except sqlite3.DatabaseError as err:
                raise StoreError(f"{path}: store error ({err})") from err

    def _forget(self, conn: sqlite3.Connection, collection: str) -> None:
        """Remove the layer file of a collection that has no version and no writer (one whose
        first ingest failed); in the catalogue's write transaction (``conn``)."""
        if conn.execute("SELECT 1 FROM gp_versions WHERE collection = ? UNION ALL "
                        "SELECT 1 FROM gp_staging WHERE collection = ?",
                        (collection, collection)).fetchone() is None:
            _unlink(self.layer_file(collection))

    def _layer_db(self, collection: str, write: bool = True) -> Any:
        """A connection to a collection's layer file (made if missing)."""
        return self._db(write=write, file=self.layer_file(collection))

    def _gc(self, conn: sqlite3.Connection, collection: str) -> None:
        """Forget writers that died; drop the tables they (or a failed edit) left: in
        ``collection``'s layer file, and in the store file where older stores kept them. Runs in
        the catalogue's write transaction, so no other ingest or edit is between its steps."""
        host = socket.gethostname()
        swept = {collection}
        for layer, cid, pid, h in conn.execute("SELECT layer, collection, pid, host FROM gp_staging").fetchall():
            if h == host and not _alive(pid):
                conn.execute("DELETE FROM gp_staging WHERE layer = ?", (layer,))
                _unlink(self.staging_file(layer))
                swept.add(cid)  # what a dead writer left goes now, whatever it was writing
        for cid in sorted(swept):
            known = {self.locate(r[0])[1] for r in conn.execute(
                "SELECT layer FROM gp_versions WHERE collection = ? AND layer != '' UNION "
                "SELECT quarantine FROM gp_versions WHERE collection = ? AND quarantine IS NOT NULL "
                "UNION SELECT layer FROM gp_staging UNION SELECT layer || '_q' FROM gp_staging",
                (cid, cid))}
            file = self.layer_file(cid)
            if file.exists():
                with self._db(write=True, file=file) as lc:
                    _sweep(lc, known, "gpv_")
                self._forget(conn, cid)
        known = {self.locate(r[0])[1] for r in conn.execute(
            "SELECT layer FROM gp_staging UNION SELECT layer || '_q' FROM gp_staging")}
        # older stores: every table was in the store file (a cheap look when none is left)
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name LIKE 'gpv\\_%' ESCAPE '\\' OR "
                        "name LIKE 'rtree\\_gpv\\_%' ESCAPE '\\' LIMIT 1").fetchone():
            known |= {r[0] for r in conn.execute(
                "SELECT layer FROM gp_versions UNION SELECT quarantine FROM gp_versions "
                "WHERE quarantine IS NOT NULL")}
            _sweep(conn, known, "gpv_", transaction=False)

    def _drop(self, layer: str) -> None:
        """Drop a version's table, in the file that holds it (in a transaction of its own)."""
        file, table = self.locate(layer)
        if file.exists():
            with self._db(write=True, file=file) as conn, immediate(conn):
                drop(conn, table)

    def accounts(self, pooled: bool = False) -> Channel:
        """The portal's tables (accounts, jobs, audit log) in this GeoPackage file (a
        connection per question: SQLite opens in microseconds; ``pooled`` changes nothing)."""
        return Channel(lambda: self._db(write=True), "sqlite")

    # -- writing -----------------------------------------------------------------------------
    def begin(self, collection: str) -> GeoPackageStaging:
        self.move_layers(collection)
        self.fold(collection)
        with self._db(write=True) as conn, immediate(conn):
            self._gc(conn, collection)
            layer = layer_ref(collection, f"gpv_{collection.replace('-', '_')}_{secrets.token_hex(4)}")
            conn.execute("INSERT INTO gp_staging VALUES (?, ?, ?, ?, ?)",
                         (layer, collection, os.getpid(), socket.gethostname(), _now()))
        with self._layer_db(collection):  # made now, in WAL mode, before GDAL writes to it
            pass
        return GeoPackageStaging(self, collection, layer)

    def sync_index(self) -> int:
        """Make the catalogue's index agree with what is published (a store written before the
        index, or by another program); the number of collections indexed again. One query
        finds them (a join over the published versions: the only loop over every layer)."""
        if not self.path.exists():
            return 0
        with self._db(write=True) as conn:
            stale = [r[0] for r in conn.execute(stale_sql(self.q))]
            if stale:
                with immediate(conn):
                    for cid in stale:
                        sqlite_index(conn, cid)
        return len(stale)

    def move_layers(self, collection: str | None = None) -> int:
        """Move the tables an older store kept in the store file into their collections' layer
        files (``collection``'s, or every one); the number of tables moved."""
        from geo_publish.store.gpkg_layout import move_layers

        return move_layers(self, collection)

    def fold(self, collection: str | None = None) -> int:
        """Make the version tables of ``collection`` (or every collection), kept one table per
        version before versioned rows, versions of its rows, checked version by version; the
        number of versions folded."""
        from geo_publish.store.gpkg_layout import fold

        return fold(self, collection)

    # -- reading -----------------------------------------------------------------------------
    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._db() as conn:
            conn.row_factory = sqlite3.Row
            return conn.execute(sql, args).fetchall()

    def _fetch(self, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self._rows(sql, args)]

    def _exists(self) -> bool:
        return self.path.exists()

    def q(self, name: str) -> str:
        return quote(name)

    def read(self, collection: str, version: int | None = None) -> gpd.GeoDataFrame:
        """A version as a GeoDataFrame, read with Python's sqlite3 like every other read of the
        store: GDAL's SQLite never opens the store in a process that holds it open through
        sqlite3 (see ``_write``), which WAL mode requires."""
        v = self.version(collection, version).readable()
        return read_frame(self.path, v.layer)

    def quarantine(self, collection: str, version: int | None = None) -> list[dict[str, Any]]:
        v = self.version(collection, version)
        if not v.quarantine_layer:
            return []
        file, table = self.locate(v.quarantine_layer)
        with self._db(file=file) as conn:
            conn.row_factory = sqlite3.Row
            rows = conn.execute(f'SELECT * FROM "{table}" ORDER BY feature').fetchall()
        return [{k: r[k] for k in r.keys() if k != "fid"} for r in rows]

    def rollback(self, collection: str, to: int) -> VersionInfo:
        target = self.version(collection, to).readable()
        with self._db(write=True) as conn:
            conn.execute("BEGIN IMMEDIATE")
            (layer,) = conn.execute("SELECT layer FROM gp_versions WHERE collection = ? AND version = ?",
                                    (collection, target.version)).fetchone()
            if not layer:  # pruned since it was looked up
                conn.execute("ROLLBACK")
                self.version(collection, to).readable()
            conn.execute("INSERT OR REPLACE INTO gp_published VALUES (?, ?, ?)",
                         (collection, target.version, _now()))
            sqlite_index(conn, collection)
            conn.execute("COMMIT")
        return self.version(collection, to)

    def edit(self, collection: str, edits: list[Any], id_field: str | None,
             checksum: str) -> list[Any]:
        """Apply Part 4 edits to a copy of the published version and publish it (see
        ``store.features``); returns one ``Applied`` per edit."""
        from geo_publish.store.gpkg_edit import edit_published

        return edit_published(self, collection, edits, id_field, checksum)

    def prune(self, keep: int, collection: str | None = None) -> list[tuple[str, int]]:
        if not self.path.exists():
            return []
        files = []
        sql, args = self._prune_candidates(collection)
        if not prunable(self._rows(sql, args), keep):  # most of the time: no write lock taken
            return []
        with self._db(write=True) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                gone = prunable(conn.execute(sql, args).fetchall(), keep)
                for c, version, layer in gone:
                    conn.execute("UPDATE gp_versions SET layer = '' WHERE collection = ? AND version = ?",
                                 (c, version))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        for _c, _version, layer in gone:  # no row points to them any more
            if cog := raster_file(layer):
                files.append(cog)
            else:
                self._drop(layer)
        for f in files:
            f.unlink(missing_ok=True)
        return [(c, v) for c, v, _ in gone]

    def set_passport(self, collection: str, version: int, passport: dict[str, Any]) -> None:
        self.version(collection, version)
        with self._db(write=True) as conn, immediate(conn):
            conn.execute("UPDATE gp_versions SET passport = ? WHERE collection = ? AND version = ?",
                         (json.dumps(passport, ensure_ascii=False), collection, version))
            sqlite_index(conn, collection)  # the published version's: the index says it


class GeoPackageStaging:
    def __init__(self, store: GeoPackageStore, collection: str, layer: str) -> None:
        self.store = store
        self.collection = collection
        self.layer = layer  # as gp_versions names it
        self.file, self.view = store.locate(layer)
        # GDAL writes the features into a table of this name in a staging file, then ``merge``
        # makes them the collection's rows, as a view of the same name in the layer file
        self.staging = store.staging_file(layer)
        self.quarantine_layer: str | None = None
        self.index_fields: list[str] = []
        self.raster: Path | None = None
        self._sink: forked.ForkedSink | forked.SpawnedSink | None = None
        self._index: bool | None = None

    def _spatial_index(self) -> bool:
        """Does the staging table need GDAL's R-tree? Only for the collection's first rows: a
        republish adds few rows, whose boxes the merge works out itself (an R-tree of every
        feature cost a republish of 100,000 points 0.1 s of its 0.9)."""
        if self._index is None:
            with self.store._db(file=self.file) as conn:
                self._index = not (conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'gp_rowsets'").fetchone()
                                   and conn.execute("SELECT 1 FROM gp_rowsets LIMIT 1").fetchone())
        return self._index

    def write_raster(self, path: Path) -> None:
        """A raster version is a COG file beside the store; the version row points at it."""
        self.raster = path

    def prepare(self, geometry_type: str) -> None:
        """Start the writer process now, while the ingest still has a single thread (see forked)."""
        if forked.usable():
            path, table, index = str(self.staging), self.view, self._spatial_index()
            self._sink = forked.ForkedSink(lambda reader: write_arrow(path, table, geometry_type, reader,
                                                                      index))

    def write_features(self, stream: pa.RecordBatchReader, geometry_type: str) -> None:
        """The version's features, written by GDAL in a process of its own (forked early, or a
        new one): GDAL's SQLite and Python's sqlite3 must never hold the store open in one
        process (each drops the other's POSIX locks on close; in WAL mode the last one to close
        would checkpoint and remove the log under the other)."""
        import pyogrio

        sink = self._sink or forked.SpawnedSink([str(self.staging), self.view, geometry_type,
                                                     *([] if self._spatial_index() else ["no-index"])])
        self._sink = sink
        try:
            sink.write(stream)
        except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError,
                pyogrio.errors.FieldError, pyogrio.errors.GeometryError,
                forked.ChildFailed) as err:
            raise StoreError(f"{self.store.path}: writing {self.collection} failed ({err})") from err
        from geo_publish.store import gpkg_rows

        with self.store._db(write=True, file=self.file) as conn:
            conn.execute("ATTACH DATABASE ? AS staged", (str(self.staging),))
            try:
                with immediate(conn):
                    gpkg_rows.merge(conn, "staged", self.view, self.view, fields=self.index_fields)
            finally:
                conn.execute("DETACH DATABASE staged")
        _unlink(self.staging)

    def write_quarantine(self, rows: Iterable[dict[str, Any]]) -> None:
        """The quarantined features as a GeoPackage attributes table (sqlite3: see ``read``)."""
        rows = list(rows)
        if not rows:
            return
        self.quarantine_layer = self.layer + "_q"
        name = self.view + "_q"
        columns = list(dict.fromkeys(k for r in rows for k in r))
        kinds = {c: _sql_type([r.get(c) for r in rows]) for c in columns}
        with self.store._db(write=True, file=self.file) as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(f'CREATE TABLE "{name}" (fid INTEGER PRIMARY KEY AUTOINCREMENT'
                         + "".join(f', "{c}" {kinds[c]}' for c in columns) + ")")
            conn.executemany(f'INSERT INTO "{name}" ({", ".join(chr(34) + c + chr(34) for c in columns)}) '
                             f"VALUES ({', '.join('?' for _ in columns)})",
                             [[r.get(c) for c in columns] for r in rows])
            conn.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, last_change) "
                         "VALUES (?, 'attributes', ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))", (name, name))
            conn.execute("COMMIT")

    def commit(self, *, passport: dict[str, Any], report: dict[str, Any], feature_count: int,
               quarantined: int, bbox: list[float] | None, sha256: str | None,
               geometry_type: str, publish: bool = True) -> int:
        """Record the version and (unless ``publish`` is False: a draft) publish it."""
        with self.store._db(write=True) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                (last,) = conn.execute("SELECT coalesce(max(version), 0) FROM gp_versions "
                                       "WHERE collection = ?", (self.collection,)).fetchone()
                version = last + 1
                passport = {**passport, "version": version}
                report = {**report, "version": version}
                conn.execute(
                    "INSERT INTO gp_versions VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (self.collection, version, str(self.raster) if self.raster else self.layer,
                     self.quarantine_layer, _now(),
                     feature_count, quarantined, json.dumps(bbox) if bbox else None, sha256,
                     geometry_type, json.dumps(passport, ensure_ascii=False),
                     json.dumps(report, ensure_ascii=False)),
                )
                if publish:
                    conn.execute("INSERT OR REPLACE INTO gp_published VALUES (?, ?, ?)",
                                 (self.collection, version, _now()))
                    sqlite_index(conn, self.collection)
                conn.execute("DELETE FROM gp_staging WHERE layer = ?", (self.layer,))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return version

    def abort(self) -> None:
        if self._sink is not None:
            self._sink.abort()
        if self.raster is not None:
            self.raster.unlink(missing_ok=True)
        _unlink(self.staging)
        for t in (self.layer, self.layer + "_q"):
            self.store._drop(t)
        with self.store._db(write=True) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("DELETE FROM gp_staging WHERE layer = ?", (self.layer,))
                self.store._forget(conn, self.collection)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise


def _sql_type(values: list[Any]) -> str:
    kinds = {type(v) for v in values if v is not None}
    if kinds and kinds <= {int, bool}:
        return "INTEGER"
    if kinds and kinds <= {int, float}:
        return "REAL"
    return "TEXT"


_PANDAS = {"INTEGER": "int64", "MEDIUMINT": "int64", "SMALLINT": "int64", "TINYINT": "int64",
           "INT": "int64", "REAL": "float64", "DOUBLE": "float64", "FLOAT": "float64",
           "BOOLEAN": "bool"}


def read_frame(path: Path, layer: str) -> gpd.GeoDataFrame:
    """A version table as GeoPandas reads it through GDAL (fid order, typed columns: integers
    with gaps as floats, DATETIME as datetime64, DATE as datetime.date, geometry in EPSG:4326),
    read with sqlite3."""
    import geopandas as gpd
    import pandas as pd
    import pyarrow as pa

    from geo_publish.store import gpkg_read

    t = gpkg_read.table(path, layer)
    names = list(t.columns)
    cols = "".join(f', "{c}"' for c in names)
    rows = gpkg_read.connect(t.file).execute(f'SELECT "{t.geometry}"{cols} FROM "{t.name}" ORDER BY fid').fetchall()
    data: dict[str, Any] = {}
    for j, name in enumerate(names):
        values = [r[1 + j] for r in rows]
        decl = t.columns[name].split("(")[0]
        if decl == "DATETIME":
            data[name] = pd.to_datetime(pd.Series(values, dtype=object), errors="coerce", format="ISO8601")
        elif decl == "DATE":
            data[name] = pa.array([None if v is None else str(v) for v in values]).cast(
                pa.date32()).to_pandas()
        elif decl in _PANDAS:
            kind = {"int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_()}[_PANDAS[decl]]
            data[name] = pa.array(values, type=kind).to_pandas()
        else:
            data[name] = pd.Series(values, dtype=object)
    geoms = gpkg_read.geometries([r[0] for r in rows])
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"), crs="EPSG:4326")


def write_arrow(path: str, layer: str, geometry_type: str, stream: pa.RecordBatchReader,
                spatial_index: bool = True) -> None:
    """A version's table and (unless ``spatial_index`` is False) its R-tree, by GDAL (run in
    the writer process only)."""
    import pyogrio

    # GDAL's SQLite page cache (MB) for this write only: a version's table is one transaction;
    # with the default cache SQLite spills pages early. In WAL mode (the store's) readers do not
    # wait for it either way; the cache keeps the write fast.
    pyogrio.set_gdal_config_options({"OGR_SQLITE_CACHE": WRITE_CACHE_MB})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pyogrio.write_arrow(
            stream, path, layer=layer, driver="GPKG",
            geometry_name="geometry", geometry_type=geometry_type, crs="EPSG:4326",
            encoding="UTF-8", layer_options={"SPATIAL_INDEX": "YES" if spatial_index else "NO"},
        )
