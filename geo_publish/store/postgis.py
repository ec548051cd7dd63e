"""The scale-out store: PostgreSQL with PostGIS, the same behaviour as the GeoPackage store.

Layout, in one schema (``geo_publish`` unless ``store.schema`` says otherwise): ``gp_versions``
and ``gp_published`` as in the GeoPackage store, ``gp_quarantine`` (rows as JSON), and one table
per version (``gpv_<collection>_<token>``: ``fid`` 1..N primary key, the attributes, ``geom``
with a GiST index). An ingest is one transaction from ``begin`` to ``commit``: the version table
is created and loaded with COPY inside it, so a killed ingest leaves nothing behind and readers
see the old published version or the new one, never a mix. Two ingests into one collection
queue on an advisory lock at commit and get consecutive versions.

The connection string comes only from the environment (``dsn: ${GEO_PUBLISH_DSN}``); it is
never logged or printed (errors name the host and database only).
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import shapely

from geo_publish.errors import StoreError
from geo_publish.settings import Settings
from geo_publish.store.accounts import Channel
from geo_publish.store.base import VersionInfo, pg_layout, pg_sql, prunable, quote, raster_file
from geo_publish.store.records import pg_ddl, pg_index, stale_sql
from geo_publish.store.catalogue import VersionCatalogue
from geo_publish.store import postgis_rows
from geo_publish.store.base import now as _now

GEOMETRY = "geometry"  # the column name in the ingest stream
GEOM = "geom"  # the column name in PostGIS tables
_PG_TYPES = (
    (pa.types.is_boolean, "boolean"), (pa.types.is_integer, "bigint"),
    (pa.types.is_floating, "double precision"), (pa.types.is_date, "date"),
    (lambda t: pa.types.is_timestamp(t) and t.tz is not None, "timestamptz"),
    (pa.types.is_timestamp, "timestamp"), (pa.types.is_binary, "bytea"),
)


def pg_type(t: pa.DataType) -> str:
    return next((name for test, name in _PG_TYPES if test(t)), "text")


def describe(dsn: str) -> str:
    """Where a DSN points, without its secrets (for messages)."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        info = conninfo_to_dict(dsn)
    except Exception:  # noqa: BLE001 - a malformed DSN: say so without echoing it
        return "PostgreSQL (unparseable connection string)"
    return f"PostgreSQL {info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"


def _meta(schema: str) -> str:
    s = quote(schema)
    return f"""
CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE IF NOT EXISTS {s}.gp_versions (
  collection text NOT NULL, version integer NOT NULL, layer text NOT NULL, quarantine text,
  created text NOT NULL, feature_count bigint NOT NULL, quarantined bigint NOT NULL,
  bbox jsonb, sha256 text, geometry_type text, passport jsonb NOT NULL, report jsonb NOT NULL,
  PRIMARY KEY (collection, version));
CREATE TABLE IF NOT EXISTS {s}.gp_published (
  collection text PRIMARY KEY, version integer NOT NULL, updated text NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.gp_quarantine (
  collection text NOT NULL, version integer NOT NULL, ord integer NOT NULL, row jsonb NOT NULL,
  PRIMARY KEY (collection, version, ord));
"""


class PostGISStore(VersionCatalogue):
    def __init__(self, dsn: str, schema: str = "geo_publish") -> None:
        self.dsn = dsn
        self.schema = schema
        self.where = describe(dsn)
        self._ready = False

    @classmethod
    def from_settings(cls, settings: Settings) -> PostGISStore:
        s = settings.store
        return cls(s.dsn.get_secret_value(), s.schema_)  # type: ignore[union-attr]

    def __repr__(self) -> str:  # never the DSN
        return f"<PostGISStore {self.where} schema={self.schema}>"

    # -- connections ---------------------------------------------------------------------------
    def connect(self, autocommit: bool = True) -> Any:
        import psycopg

        try:
            conn = psycopg.connect(self.dsn, autocommit=autocommit, connect_timeout=10,
                                   application_name="geo-publish")
        except psycopg.Error as err:
            raise StoreError(f"{self.where}: cannot connect ({first_line(err)})",
                             hint="check GEO_PUBLISH_DSN and that the server runs") from err
        return conn

    @contextmanager
    def _db(self) -> Iterator[Any]:
        import psycopg

        conn = self.connect()
        try:
            if not self._ready:
                self._setup(conn)
            yield conn
        except psycopg.Error as err:
            raise StoreError(f"{self.where}: store error ({first_line(err)})") from err
        finally:
            conn.close()

    def _setup(self, conn: Any) -> None:
        exists = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'postgis'").fetchone()
        if not exists:
            try:
                conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            except Exception as err:
                raise StoreError(f"{self.where}: PostGIS is not available ({first_line(err)})",
                                 hint="install postgresql-15-postgis-3 (scripts/system-deps.sh)") from err
        pg_layout(conn, self.schema, _meta(self.schema) + pg_ddl(self.q) + postgis_rows.ddl(self.q),
                  "geo-publish setup")
        self._ready = True

    def q(self, name: str) -> str:
        return f"{quote(self.schema)}.{quote(name)}"

    def accounts(self, pooled: bool = False) -> Channel:
        """The portal's tables (accounts, jobs, audit log) in the store's schema; ``pooled``
        (the server's workers: a signed-in request asks several small questions) through a
        small connection pool, else a connection per question (a pool's threads would keep a
        command from forking its writer, and a command asks few)."""
        return Channel(self._pooled if pooled else self._db, "postgres", quote(self.schema) + ".")

    _pools: dict[str, Any] = {}

    @contextmanager
    def _pooled(self) -> Iterator[Any]:
        import psycopg
        import psycopg_pool

        pool = self._pools.get(self.dsn)
        if pool is None:
            pool = self._pools[self.dsn] = psycopg_pool.ConnectionPool(
                self.dsn, min_size=1, max_size=4, open=True, timeout=10,
                kwargs={"autocommit": True, "application_name": "geo-publish-portal",
                        "connect_timeout": 10},
                check=psycopg_pool.ConnectionPool.check_connection)
            import atexit

            atexit.register(pool.close, timeout=1)
        try:
            with pool.connection() as conn:
                if not self._ready:
                    self._setup(conn)
                yield conn
        except psycopg_pool.PoolTimeout as err:
            raise StoreError(f"{self.where}: no connection free ({first_line(err)})") from err
        except psycopg.Error as err:
            raise StoreError(f"{self.where}: store error ({first_line(err)})") from err

    # -- writing -----------------------------------------------------------------------------
    def begin(self, collection: str) -> PostGISStaging:
        with self._db():
            pass  # create the layout outside the long ingest transaction
        conn = self.connect(autocommit=False)
        layer = f"gpv_{collection.replace('-', '_')}_{secrets.token_hex(4)}"
        return PostGISStaging(self, conn, collection, layer)

    # -- reading -----------------------------------------------------------------------------
    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        from psycopg.rows import dict_row

        with self._db() as conn, conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(sql, args).fetchall()

    def _fetch(self, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return self._rows(pg_sql(sql), args)  # type: ignore[no-any-return]

    def columns(self, conn: Any, layer: str) -> list[tuple[str, str]]:
        """(name, PostgreSQL type) of a version table's attributes, in order."""
        rows = conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            (self.q(layer),)).fetchall()
        return [(n, t) for n, t in rows if n not in ("fid", GEOM)]

    def read(self, collection: str, version: int | None = None) -> gpd.GeoDataFrame:
        v = self.version(collection, version).readable()
        with self._db() as conn:
            cols = self.columns(conn, v.layer)
            names = ", ".join(quote(n) for n, _ in cols)
            sql = (f"COPY (SELECT {names}{', ' if cols else ''}encode(ST_AsBinary({GEOM}), 'hex') "
                   f"FROM {self.q(v.layer)} ORDER BY fid) TO STDOUT (FORMAT csv, HEADER true)")
            buf = io.BytesIO()
            with conn.cursor() as cur, cur.copy(sql) as copy:
                for chunk in copy:
                    buf.write(chunk)
        buf.seek(0)
        types = {n: _ARROW.get(t.split("(")[0], pa.string()) for n, t in cols}
        table = pacsv.read_csv(buf, convert_options=pacsv.ConvertOptions(
            column_types={**types, "encode": pa.string()}, strings_can_be_null=True,
            quoted_strings_can_be_null=False))
        frame = table.drop(["encode"]).to_pandas()
        geoms = shapely.from_wkb(np.asarray(table["encode"].to_pylist(), dtype=object))
        return gpd.GeoDataFrame(frame, geometry=geoms, crs="EPSG:4326")

    def quarantine(self, collection: str, version: int | None = None) -> list[dict[str, Any]]:
        v = self.version(collection, version)
        rows = self._rows(f"SELECT row FROM {self.q('gp_quarantine')} WHERE collection = %s "
                          "AND version = %s ORDER BY (row->>'feature')::bigint, ord", (collection, v.version))
        return [r["row"] for r in rows]

    def rollback(self, collection: str, to: int) -> VersionInfo:
        target = self.version(collection, to).readable()
        with self._db() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('gp:prune'))")  # not while pruning
            self.version(collection, to).readable()  # (pruned since it was looked up?)
            conn.execute(f"INSERT INTO {self.q('gp_published')} VALUES (%s, %s, %s) "
                         "ON CONFLICT (collection) DO UPDATE SET version = excluded.version, "
                         "updated = excluded.updated", (collection, target.version, _now()))
            pg_index(conn, self.q, collection)
        return self.version(collection, to)

    def edit(self, collection: str, edits: list[Any], id_field: str | None,
             checksum: str) -> list[Any]:
        """Apply Part 4 edits to a copy of the published version and publish it (see
        ``store.features``); returns one ``Applied`` per edit."""
        from geo_publish.store.postgis_edit import edit_published

        return edit_published(self, collection, edits, id_field, checksum)

    def prune(self, keep: int, collection: str | None = None) -> list[tuple[str, int]]:
        files = []
        with self._db() as conn, conn.transaction():
            # one pruner at a time, and never while a rollback publishes an old version
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('gp:prune'))")
            sql, args = self._prune_candidates(collection)
            rows = conn.execute(pg_sql(sql), args).fetchall()
            gone = prunable(rows, keep)
            touched: dict[str, int] = {}  # collection: the newest generation dropped
            for c, version, layer in gone:
                if cog := raster_file(layer):
                    files.append(cog)
                else:
                    # the collection's writers first: its rows change under this transaction
                    postgis_rows.lock(conn, c)
                    if dropped := postgis_rows.drop_version(conn, self.q, layer):
                        touched[c] = max(touched.get(c, 0), dropped[1])
                conn.execute(f"UPDATE {self.q('gp_versions')} SET layer = '' "
                             "WHERE collection = %s AND version = %s", (c, version))
            for c in sorted(touched):
                postgis_rows.clean(conn, self.q, c, touched[c])
        for f in files:
            f.unlink(missing_ok=True)
        return [(c, v) for c, v, _ in gone]

    def sync_index(self) -> int:
        """Make the catalogue's index agree with what is published (see the GeoPackage store's)."""
        with self._db() as conn, conn.transaction():
            stale = [r[0] for r in conn.execute(stale_sql(self.q)).fetchall()]
            for cid in stale:
                pg_index(conn, self.q, cid)
        return len(stale)

    def set_passport(self, collection: str, version: int, passport: dict[str, Any]) -> None:
        from psycopg.types.json import Jsonb

        self.version(collection, version)
        with self._db() as conn, conn.transaction():
            conn.execute(f"UPDATE {self.q('gp_versions')} SET passport = %s "
                         "WHERE collection = %s AND version = %s", (Jsonb(passport), collection, version))
            pg_index(conn, self.q, collection)  # the published version's: the index says it

    def tables(self) -> list[str]:
        """Every table of the store's schema (for tests and migrations)."""
        rows = self._rows("SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY 1",
                          (self.schema,))
        return [r["tablename"] for r in rows]


_ARROW = {"bigint": pa.int64(), "integer": pa.int64(), "double precision": pa.float64(),
          "boolean": pa.bool_(), "date": pa.date32(), "text": pa.string()}


class PostGISStaging:
    """One transaction on its own connection, from ``begin`` to ``commit`` or ``abort``."""

    def __init__(self, store: PostGISStore, conn: Any, collection: str, layer: str) -> None:
        self.store = store
        self.conn = conn
        self.collection = collection
        self.layer = layer
        self.quarantine_rows: list[dict[str, Any]] = []
        self.index_fields: list[str] = []
        self.raster: Path | None = None

    def prepare(self, geometry_type: str) -> None:
        """Nothing to start: COPY goes through psycopg, which lets other threads run."""

    def write_raster(self, path: Path) -> None:
        """A raster version is a COG file (rasters_dir); the version row points at it."""
        self.raster = path

    def _fail(self, what: str, err: BaseException) -> StoreError:
        self.abort()
        return StoreError(f"{self.store.where}: {what} {self.collection} failed ({first_line(err)})")

    def write_features(self, stream: pa.RecordBatchReader, geometry_type: str) -> None:
        import psycopg

        schema = stream.schema
        attrs = [f for f in schema if f.name != GEOMETRY]
        table = "pg_temp.gp_staged"
        gtype = (geometry_type or "GEOMETRY").upper().replace(" ", "")  # "Point Z" -> POINTZ
        if gtype.startswith("UNKNOWN"):
            gtype = "GEOMETRY" + gtype.removeprefix("UNKNOWN")
        cols = ", ".join(f"{quote(f.name)} {pg_type(f.type)}" for f in attrs)
        batches = iter(stream)
        first = next((b for b in batches if b.num_rows), None)
        column = f"geometry({gtype}, 4326)"
        if first is not None:
            # the declared type may omit a Z the features carry (M dropped, Z kept), or the layer
            # may mix 2D and 3D (a GeoPackage allows it; a typed PostGIS column does not)
            z = shapely.has_z(shapely.from_wkb(np.asarray(first.column(GEOMETRY).to_pylist(), dtype=object)))
            base = gtype.removesuffix("Z") if gtype != "GEOMETRYZ" else "GEOMETRY"
            if z.all():
                column = f"geometry({base}Z, 4326)"
            elif z.any():
                column = "geometry CHECK (ST_SRID(geom) = 4326)"
            else:
                column = f"geometry({base}, 4326)"
        try:
            self.conn.execute("DROP TABLE IF EXISTS pg_temp.gp_staged")
            self.conn.execute(f"CREATE TEMP TABLE gp_staged (fid bigint NOT NULL, {cols}{', ' if cols else ''}"
                              f"{GEOM} {column}) ON COMMIT DROP")
            names = ", ".join(["fid", *(quote(f.name) for f in attrs), GEOM])
            fid = 1
            with self.conn.cursor() as cur, cur.copy(
                    f"COPY {table} ({names}) FROM STDIN (FORMAT csv)") as copy:
                for batch in ([first] if first is not None else []):
                    copy.write(_csv(batch, attrs, fid))
                    fid += batch.num_rows
                for batch in batches:
                    if batch.num_rows == 0:
                        continue
                    copy.write(_csv(batch, attrs, fid))
                    fid += batch.num_rows
            # the collection's rows take this version as a diff (store/postgis_rows.py); other
            # writers of the collection wait from here to the commit: generations are a line
            postgis_rows.lock(self.conn, self.collection)
            postgis_rows.fold(self.conn, self.store.q, self.collection)
            postgis_rows.merge(self.conn, self.store.q, self.collection, table, self.layer,
                               fields=self.index_fields)
        except psycopg.Error as err:
            raise self._fail("writing", err) from err

    def write_quarantine(self, rows: Iterable[dict[str, Any]]) -> None:
        self.quarantine_rows = list(rows)

    def commit(self, *, passport: dict[str, Any], report: dict[str, Any], feature_count: int,
               quarantined: int, bbox: list[float] | None, sha256: str | None,
               geometry_type: str, version: int | None = None, created: str | None = None,
               publish: bool = True) -> int:
        """Record and publish the version; ``version``/``created``/``publish`` are for
        migrations, which keep a store's history as it was."""
        import psycopg
        from psycopg.types.json import Jsonb

        s = self.store
        try:
            # concurrent ingests of one collection queue here and get consecutive versions
            self.conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"gp:{self.collection}",))
            if self.raster is None:
                (base, fresh) = self.conn.execute(
                    f"SELECT base, (SELECT count(*) FROM {s.q('gp_rowsets')} r WHERE r.base = v.base) = 1 "
                    f"FROM {s.q('gp_rowsets')} v WHERE view = %s", (self.layer,)).fetchone()
                if fresh:  # a new table's statistics; a republish changes few rows (autovacuum's)
                    self.conn.execute(f"ANALYZE {s.q(base)}")
            if version is None:
                (last,) = self.conn.execute(f"SELECT coalesce(max(version), 0) FROM "
                                            f"{s.q('gp_versions')} WHERE collection = %s",
                                            (self.collection,)).fetchone()
                version = last + 1
            passport = {**passport, "version": version}
            report = {**report, "version": version}
            self.conn.execute(
                f"INSERT INTO {s.q('gp_versions')} VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                (self.collection, version, str(self.raster) if self.raster else self.layer, None,
                 created or _now(), feature_count, quarantined,
                 Jsonb(bbox) if bbox else None, sha256, geometry_type, Jsonb(passport), Jsonb(report)))
            if self.quarantine_rows:
                with self.conn.cursor() as cur:
                    cur.executemany(f"INSERT INTO {s.q('gp_quarantine')} VALUES (%s, %s, %s, %s)",
                                    [(self.collection, version, k, Jsonb(r))
                                     for k, r in enumerate(self.quarantine_rows)])
            if publish:
                self.conn.execute(f"INSERT INTO {s.q('gp_published')} VALUES (%s, %s, %s) "
                                  "ON CONFLICT (collection) DO UPDATE SET version = excluded.version, "
                                  "updated = excluded.updated", (self.collection, version, _now()))
                pg_index(self.conn, s.q, self.collection)
            self.conn.commit()
        except psycopg.Error as err:
            raise self._fail("publishing", err) from err
        finally:
            self.conn.close()
        return version

    def abort(self) -> None:
        if self.raster is not None:
            self.raster.unlink(missing_ok=True)
        try:
            self.conn.rollback()
        except Exception:  # noqa: BLE001 - the connection may be gone: the server rolls back
            pass
        finally:
            self.conn.close()


def _csv(batch: pa.RecordBatch, attrs: list[pa.Field], first_fid: int) -> bytes:
    """One batch as COPY csv rows: fid, attributes, geometry as hex EWKB (SRID 4326)."""
    geoms = shapely.from_wkb(np.asarray(batch.column(GEOMETRY).to_pylist(), dtype=object))
    ewkb = shapely.to_wkb(shapely.set_srid(geoms, 4326), hex=True, include_srid=True)
    arrays = [pa.array(np.arange(first_fid, first_fid + batch.num_rows))]
    names = ["fid"]
    for f in attrs:
        col = batch.column(f.name)
        if pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type):
            col = pa.array([None if v is None else "\\x" + v.hex() for v in col.to_pylist()], pa.string())
        arrays.append(col)
        names.append(f.name)
    arrays.append(pa.array(ewkb, pa.string()))
    names.append(GEOM)
    buf = io.BytesIO()
    pacsv.write_csv(pa.Table.from_arrays(arrays, names=names), buf,
                    pacsv.WriteOptions(include_header=False, quoting_style="all_valid"))
    return buf.getvalue()


def first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]
