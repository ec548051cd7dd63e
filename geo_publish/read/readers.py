"""The read side of each store backend for the server: which version is published, what a version
table looks like, running SQL, and how each backend spells the spatial and text tests.

The provider (``serve/provider.py``) writes its SQL once with ``?`` placeholders; a reader runs
it on its backend. GeoPackage: plain sqlite3 with an R-tree prefilter and a shapely test
registered as an SQL function. PostGIS: a connection pool per worker process, ``&&`` on the GiST
index and ``ST_*`` predicates. The PostGIS connection string comes from the server's
environment (``GEO_PUBLISH_SERVE_DSN``, set from ``store.read_dsn`` or ``store.dsn``), never
from the generated pygeoapi configuration, which is a file.
"""

from __future__ import annotations

import atexit
import os
import threading
from abc import ABC, abstractmethod
from typing import Any, Protocol

import numpy as np
import shapely
from pygeoapi.provider.base import ProviderInvalidQueryError

from geo_publish.errors import NotFound
from geo_publish.read.errors import QueryTimeout, QueryTooLarge, StoreUnavailable
from geo_publish.store import gpkg_read
from geo_publish.store.base import pg_sql, quote
from geo_publish.store.catalogue import json_column
from geo_publish.store.gpkg_read import Published, Table
from geo_publish.store.postgis_rows import PG_DECL
from geo_publish.store.location import POSTGIS_PREFIX, SERVE_DSN

DEFAULT_TIMEOUT = 10.0


class Reader(Protocol):
    """What the API, the catalogue, the tiles and the site read a store through: the same SQL
    (``?`` placeholders) on either backend, each spelling its spatial and text tests."""

    timeout: float

    def published(self, collection: str) -> Published | None: ...
    def all_published(self) -> dict[str, int]: ...
    def document(self, collection: str, column: str) -> dict[str, Any] | None: ...
    def published_passports(self, only: list[str] | None = None, offset: int = 0,
                            limit: int | None = None) -> list[tuple[str, int, str, dict[str, Any]]]: ...
    def published_summary(self) -> tuple[int, bool, str | None]: ...
    def published_token(self) -> Any:
        """Changes whenever which versions are published may have (cheap to ask each request)."""
    def table(self, name: str) -> Table: ...
    def arms(self, t: Table) -> list[str] | None:
        """The SELECTs whose union the version's table is, to filter each on its own (an older
        version on GeoPackage); None when it is to be read as it is."""
    def rows(self, sql: str, params: list[Any], on: Table | None = None) -> list[tuple[Any, ...]]:
        """The rows of ``sql``; ``on``: the version table it reads (its file, on GeoPackage)."""
    def q(self, name: str) -> str: ...
    def table_sql(self, t: Table) -> str: ...
    def tile_rows(self, t: Table, fields: list[str], box: tuple[float, float, float, float],
                  cell: float | None, limit: int) -> list[tuple[Any, ...]]: ...
    def geometries(self, values: list[Any]) -> np.ndarray: ...
    def geometry_select(self, t: Table) -> str: ...
    def boolean(self, value: bool) -> Any: ...
    def envelope(self, t: Table, box: tuple[float, float, float, float], params: list[Any]) -> str: ...
    def relate(self, t: Table, op: str, geom: shapely.Geometry, params: list[Any]) -> str: ...
    def points_in_box(self, t: Table, box: tuple[float, float, float, float], params: list[Any]) -> str: ...
    def fold(self, column: str) -> str: ...
    def temporal(self, column: str, date_only: bool) -> str: ...
    def as_text(self, column: str) -> str: ...
    def text_match(self, terms: list[str], params: list[Any]) -> str:
        """The catalogue index's rows whose terms start with each of ``terms`` (full text)."""


class _Catalogue(ABC):
    """The version catalogue's reads, one SQL text for both backends (``q`` names a table)."""

    @abstractmethod
    def q(self, name: str) -> str:
        """A table of the store as SQL names it."""

    @abstractmethod
    def rows(self, sql: str, params: list[Any], on: Table | None = None) -> list[tuple[Any, ...]]:
        """The rows of ``sql`` (``?`` placeholders); ``on``: the version table it reads."""

    def document(self, collection: str, column: str) -> dict[str, Any] | None:
        """The published version's passport or report."""
        found = self.rows(
            f"SELECT v.{column} FROM {self.q('gp_published')} p JOIN {self.q('gp_versions')} v "
            "ON v.collection = p.collection AND v.version = p.version WHERE p.collection = ?",
            [collection])
        return json_column(found[0][0]) if found else None

    def published_passports(self, only: list[str] | None = None, offset: int = 0,
                            limit: int | None = None) -> list[tuple[str, int, str, dict[str, Any]]]:
        """(collection, version, created, passport) of the published layers, by collection:
        every one, those named in ``only``, or a page (``offset``, ``limit``)."""
        params: list[Any] = []
        where = ""
        if only is not None:
            if not only:
                return []
            where = f" WHERE p.collection IN ({', '.join('?' for _ in only)})"
            params += only
        page = f" LIMIT {int(limit)} OFFSET {int(offset)}" if limit is not None else ""
        found = self.rows(
            f"SELECT p.collection, v.version, v.created, v.passport FROM {self.q('gp_published')} p "
            f"JOIN {self.q('gp_versions')} v ON v.collection = p.collection AND v.version = p.version"
            f"{where} ORDER BY p.collection{page}", params)
        return [(c, int(v), created, json_column(doc)) for c, v, created, doc in found]

    def published_summary(self) -> tuple[int, bool, str | None]:
        """How many layers are published, whether one is a raster, the newest version's time."""
        n, raster, newest = self.rows(
            f"SELECT count(*), max(CASE WHEN v.geometry_type = 'Raster' THEN 1 ELSE 0 END), "
            f"max(v.created) FROM {self.q('gp_published')} p JOIN {self.q('gp_versions')} v "
            "ON v.collection = p.collection AND v.version = p.version", [])[0]
        return int(n or 0), bool(raster), newest


class GeoPackageReader(_Catalogue):
    def __init__(self, path: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.path = path
        self.timeout = timeout

    def published(self, collection: str) -> Published | None:
        return gpkg_read.published(self.path, collection)

    def all_published(self) -> dict[str, int]:
        return gpkg_read.all_published(self.path)

    def published_token(self) -> Any:
        """The store file's and its log's times and sizes: every commit changes them."""
        return gpkg_read.file_state(self.path)

    def table(self, name: str) -> Table:
        return gpkg_read.table(self.path, name)

    def arms(self, t: Table) -> list[str] | None:
        return gpkg_read.view_arms(t) if t.file else None

    def q(self, name: str) -> str:
        """A table of the store as SQL names it."""
        return quote(name)

    def table_sql(self, t: Table) -> str:
        """A version table as SQL names it."""
        return quote(t.name)

    def tile_rows(self, t: Table, fields: list[str], box: tuple[float, float, float, float],
                  cell: float | None, limit: int) -> list[tuple[Any, ...]]:
        """(fid, geometry blob, *fields) of the features whose R-tree box meets ``box``; with
        ``cell``, one per cell of that size (degrees), the smallest fid (``tiles/cut.py``)."""
        if t.rtree is None:
            raise NotFound(f"{t.name} has no spatial index: no tiles")
        params: list[Any] = []
        cols = ", ".join(f't."{f}"' for f in fields)
        inner = (f'SELECT {"min(r.id)" if cell else "r.id"} FROM {quote(t.rtree)} r '
                 "WHERE r.minx <= ? AND r.maxx >= ? AND r.miny <= ? AND r.maxy >= ?")
        params += [box[2], box[0], box[3], box[1]]
        if cell:
            inner += (" GROUP BY CAST(((r.minx + r.maxx) * 0.5 + 180.0) / ? AS INTEGER), "
                      "CAST(((r.miny + r.maxy) * 0.5 + 90.0) / ? AS INTEGER)")
            params += [cell, cell]
        sql = (f'SELECT t.fid, t.{self.geometry_select(t)}{", " + cols if cols else ""} '
               f"FROM {self.table_sql(t)} t WHERE t.{t.row_id} IN ({inner}) LIMIT {int(limit)}")
        return self.rows(sql, params, t)


    def rows(self, sql: str, params: list[Any], on: Table | None = None) -> list[tuple[Any, ...]]:
        import sqlite3

        try:
            return gpkg_read.rows(on.file if on is not None and on.file else self.path, sql,
                                  params, self.timeout)
        except gpkg_read.Interrupted as err:
            raise QueryTimeout(user_msg=f"the query ran longer than {self.timeout:g} s and was "
                                        "cancelled: narrow it (bbox, filter, limit)") from err
        except sqlite3.OperationalError as err:
            if "too many SQL variables" in str(err):
                raise QueryTooLarge(user_msg="the query has too many values: shorten the "
                                             "filter's lists") from err
            raise StoreUnavailable(user_msg=f"store unreadable: {err}") from err

    @staticmethod
    def geometries(values: list[Any]) -> np.ndarray:
        return gpkg_read.geometries(values)

    @staticmethod
    def geometry_select(t: Table) -> str:
        return quote(t.geometry)

    @staticmethod
    def text_match(terms: list[str], params: list[Any]) -> str:
        """FTS5: every term as a prefix (``"term"*``)."""
        params.append(" AND ".join('"' + t.replace('"', '""') + '"*' for t in terms))
        return "collection IN (SELECT collection FROM gp_records_fts WHERE gp_records_fts MATCH ?)"

    @staticmethod
    def boolean(value: bool) -> Any:
        return 1 if value else 0

    @staticmethod
    def envelope(t: Table, box: tuple[float, float, float, float], params: list[Any]) -> str:
        if t.rtree is None:
            raise ValueError("the layer has no spatial index")
        x0, y0, x1, y1 = box
        params.extend([x0, x1, y0, y1])
        return (f"{t.row_id} IN (SELECT id FROM {quote(t.rtree)} WHERE maxx >= ? AND minx <= ? "
                f"AND maxy >= ? AND miny <= ?)")

    @staticmethod
    def relate(t: Table, op: str, geom: shapely.Geometry, params: list[Any]) -> str:
        params.extend([op, shapely.to_wkb(geom)])
        return f"gp_relate(?, {quote(t.geometry)}, ?) = 1"

    @staticmethod
    def points_in_box(t: Table, box: tuple[float, float, float, float], params: list[Any]) -> str:
        """Exactly the points in the box. The R-tree's float32 boxes are rounded outward: an
        entry wholly inside the box is a point inside it; only entries across its edges (points
        within a float32 step of an edge) are tested on their coordinates."""
        if t.rtree is None:
            params.extend(box)
            return f"gp_in_box({quote(t.geometry)}, ?, ?, ?, ?) = 1"
        x0, y0, x1, y1 = box
        overlap = "maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ?"
        inside = "minx >= ? AND maxx <= ? AND miny >= ? AND maxy <= ?"
        params.extend([x0, x1, y0, y1, x0, x1, y0, y1,  # wholly inside
                       x0, x1, y0, y1, x0, x1, y0, y1, x0, y0, x1, y1])  # across an edge
        rtree, table = quote(t.rtree), quote(t.name)
        return (f"{t.row_id} IN (SELECT id FROM {rtree} WHERE {overlap} AND {inside} "
                f"UNION ALL SELECT r.id FROM {rtree} r JOIN {table} f ON f.{t.row_id} = r.id "
                f"WHERE {overlap.replace('max', 'r.max').replace('min', 'r.min')} AND NOT "
                f"({inside.replace('max', 'r.max').replace('min', 'r.min')}) "
                f"AND gp_in_box(f.{quote(t.geometry)}, ?, ?, ?, ?) = 1)")

    @staticmethod
    def fold(column: str) -> str:
        return f"gp_fold({column})"

    @staticmethod
    def temporal(column: str, date_only: bool) -> str:
        """A date or date-time column as text that orders like the time it holds: GDAL writes
        DATETIME text with or without milliseconds, and 'Z' sorts after '.'."""
        return f"date({column})" if date_only else f"strftime('%Y-%m-%dT%H:%M:%fZ', {column})"

    @staticmethod
    def as_text(column: str) -> str:
        return column


_PG_OPS = {"intersects": "ST_Intersects", "disjoint": "ST_Disjoint", "contains": "ST_Contains",
           "within": "ST_Within", "touches": "ST_Touches", "crosses": "ST_Crosses",
           "overlaps": "ST_Overlaps", "equals": "ST_Equals"}


class PostGISReader(_Catalogue):
    """One pool per process and DSN; tables described once (versions are immutable)."""

    _pools: dict[str, Any] = {}
    _lock = threading.Lock()

    def __init__(self, dsn: str, schema: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.dsn = dsn
        self.schema = schema
        self.timeout = timeout
        self._tables: dict[str, Table] = {}

    def pool(self) -> Any:
        key = f"{self.dsn}\0{self.timeout}"  # the timeout is set per connection
        pool = self._pools.get(key)
        if pool is None:
            from psycopg_pool import ConnectionPool

            with self._lock:
                pool = self._pools.get(key)
                if pool is None:
                    pool = ConnectionPool(
                        self.dsn, min_size=1, max_size=8, open=True, timeout=2,
                        kwargs={"autocommit": True, "application_name": "geo-publish-serve",
                                "connect_timeout": 3,
                                # one core per query: parallel workers let a few slow queries
                                # take every core from the many quick ones
                                "options": f"-c statement_timeout={int(self.timeout * 1000)} "
                                           "-c max_parallel_workers_per_gather=0"},
                        # no check on each checkout (a round trip per query): a connection
                        # found broken is retried once on a new one (``rows``)
                        reconnect_timeout=0)
                    self._pools[key] = pool
                    atexit.register(pool.close, timeout=1)
        return pool

    def q(self, name: str) -> str:
        """A table of the store as SQL names it: in the store's schema."""
        return f"{quote(self.schema)}.{quote(name)}"

    def table_sql(self, t: Table) -> str:
        """A version table as SQL names it (``Published.table`` is schema-qualified already)."""
        return t.name

    def tile_rows(self, t: Table, fields: list[str], box: tuple[float, float, float, float],
                  cell: float | None, limit: int) -> list[tuple[Any, ...]]:
        """(fid, WKB, *fields) of the features whose box meets ``box`` (GiST); with ``cell``,
        one per cell of that size (degrees), the smallest fid (``tiles/cut.py``)."""
        cols = ", ".join(f'"{f}"' for f in fields)
        envelope = "geom && ST_MakeEnvelope(?, ?, ?, ?, 4326)"
        params: list[Any] = list(box)
        if cell:
            where = (f"fid IN (SELECT min(fid) FROM {t.name} WHERE {envelope} GROUP BY "
                     "floor(((ST_XMin(geom) + ST_XMax(geom)) * 0.5 + 180.0) / ?), "
                     "floor(((ST_YMin(geom) + ST_YMax(geom)) * 0.5 + 90.0) / ?))")
            params += [cell, cell]
        else:
            where = envelope
        sql = (f"SELECT fid, {self.geometry_select(t)}{', ' + cols if cols else ''} "
               f"FROM {self.table_sql(t)} WHERE {where} LIMIT {int(limit)}")
        return self.rows(sql, params, t)

    def rows(self, sql: str, params: list[Any], on: Table | None = None) -> list[tuple[Any, ...]]:
        import psycopg
        import psycopg_pool

        text = pg_sql(sql)
        conn = None
        try:
            try:
                with self.pool().connection() as conn:
                    return conn.execute(text, params).fetchall()  # type: ignore[no-any-return]
            except psycopg.OperationalError:
                if conn is None or not conn.broken:  # the query failed, not the connection
                    raise
                # a pooled connection that died (a database restart): the pool drops it; a read
                # is tried again once, on a new connection
                with self.pool().connection() as conn:
                    return conn.execute(text, params).fetchall()  # type: ignore[no-any-return]
        except psycopg.errors.QueryCanceled as err:
            raise QueryTimeout(user_msg=f"the query ran longer than {self.timeout:g} s and was "
                                        "cancelled: narrow it (bbox, filter, limit)") from err
        except (psycopg.errors.DataError, psycopg.errors.ProgramLimitExceeded) as err:
            # a value the column cannot hold or compare (caught earlier where we can)
            raise ProviderInvalidQueryError(
                user_msg=f"the query cannot run: {str(err).splitlines()[0]}") from err
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as err:
            raise StoreUnavailable(
                user_msg=f"PostgreSQL unavailable: {str(err).splitlines()[0]}") from err

    def published(self, collection: str) -> Published | None:
        found = self.rows(
            f"SELECT v.version, v.layer, v.feature_count, v.bbox FROM {self.q('gp_published')} p "
            f"JOIN {self.q('gp_versions')} v ON v.collection = p.collection AND v.version = p.version "
            "WHERE p.collection = ?", [collection])
        if not found:
            return None
        version, layer, count, bbox = found[0]
        return Published(collection, version, self.q(layer), count, bbox)

    def all_published(self) -> dict[str, int]:
        return dict(self.rows(f"SELECT collection, version FROM {self.q('gp_published')}", []))

    def published_token(self) -> Any:
        """A counter the store moves in every transaction that publishes (``gp_changes``; a
        store made before it: which version of each collection is published)."""
        try:
            return self.rows(f"SELECT n FROM {self.q('gp_changes')} WHERE id = 1", [])[0][0]
        except Exception:  # noqa: BLE001 - no counter (a store not opened since): ask the rows
            return hash(tuple(sorted(self.all_published().items())))

    def arms(self, t: Table) -> list[str] | None:
        return None  # PostgreSQL puts a filter into each part of a UNION ALL view itself

    def table(self, name: str) -> Table:
        found = self._tables.get(name)
        if found is not None:
            return found
        with gpkg_read.first_only((self.dsn, name)):  # one query a table, however many ask
            found = self._tables.get(name)
            return found if found is not None else self._describe(name)

    def _describe(self, name: str) -> Table:
        cols = self.rows("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                         "WHERE attrelid = ?::regclass AND attnum > 0 AND NOT attisdropped "
                         "ORDER BY attnum", [name])
        columns = {n: PG_DECL.get(t, "TEXT") for n, t in cols if n not in ("fid", "geom")}
        gtype = next((t for n, t in cols if n == "geom"), "geometry")
        kind = gtype.split("(")[1].split(",")[0].upper() if "(" in gtype else "GEOMETRY"
        bare = name.rsplit(".", 1)[-1].strip('"').replace('""', '"')
        kept = self.rows(f"SELECT features FROM {self.q('gp_rowsets')} WHERE view = ?", [bare]) \
            if self.rows("SELECT to_regclass(?) IS NOT NULL", [self.q("gp_rowsets")])[0][0] else []
        if kept:  # a version of the collection's rows (store/postgis_rows.py): its count is kept
            lo = self.rows(f"SELECT fid FROM {name} ORDER BY fid LIMIT 1", [])
            hi = self.rows(f"SELECT fid FROM {name} ORDER BY fid DESC LIMIT 1", [])
            lo, hi, n = (lo[0][0] if lo else None), (hi[0][0] if hi else None), kept[0][0]
        else:
            lo, hi, n = self.rows(f"SELECT min(fid), max(fid), count(*) FROM {name}", [])[0]
        first = lo if n and hi - lo + 1 == n else (1 if not n else None)
        found = Table(name, columns, "geom", kind.removesuffix("Z"), None, first)
        self._tables[name] = found
        return found

    @staticmethod
    def geometries(values: list[Any]) -> np.ndarray:
        return shapely.from_wkb(np.array(values, dtype=object), on_invalid="ignore")

    @staticmethod
    def geometry_select(t: Table) -> str:
        return "ST_AsBinary(geom)"

    @staticmethod
    def text_match(terms: list[str], params: list[Any]) -> str:
        """A ``tsvector`` of the terms (``simple``): every term as a prefix (``'term':*``)."""
        params.append(" & ".join("'" + t.replace("'", "''").replace("\\", "") + "':*" for t in terms))
        return "terms @@ to_tsquery('simple', ?)"

    @staticmethod
    def boolean(value: bool) -> Any:
        return bool(value)

    @staticmethod
    def envelope(t: Table, box: tuple[float, float, float, float], params: list[Any]) -> str:
        params.extend(box)
        return "geom && ST_MakeEnvelope(?, ?, ?, ?, 4326)"

    @staticmethod
    def relate(t: Table, op: str, geom: shapely.Geometry, params: list[Any]) -> str:
        params.append(shapely.to_wkb(geom))
        return f"{_PG_OPS[op]}(geom, ST_GeomFromWKB(?, 4326))"

    @staticmethod
    def points_in_box(t: Table, box: tuple[float, float, float, float], params: list[Any]) -> str:
        params.extend(box)  # && alone compares float4 boxes: ST_Intersects tests the coordinates
        return "ST_Intersects(geom, ST_MakeEnvelope(?, ?, ?, ?, 4326))"

    @staticmethod
    def fold(column: str) -> str:
        return f"lower({column})"

    @staticmethod
    def temporal(column: str, date_only: bool) -> str:
        return column  # date and timestamp columns compare as times

    @staticmethod
    def as_text(column: str) -> str:
        return f"({column})::text"


_readers: dict[str, Reader] = {}


def reader(data: str, timeout: float = DEFAULT_TIMEOUT) -> Reader:
    """The reader for a provider's ``data``: a GeoPackage path, or ``postgis:<schema>``; its
    queries are cancelled after ``timeout`` seconds (the first call for ``data`` sets it)."""
    found = _readers.get(data)
    if found is None:
        if data.startswith(POSTGIS_PREFIX):
            dsn = os.environ.get(SERVE_DSN)
            if not dsn:
                raise StoreUnavailable(
                    user_msg=f"{SERVE_DSN} is not set: the server cannot reach PostGIS")
            found = PostGISReader(dsn, data.removeprefix(POSTGIS_PREFIX), timeout)
        else:
            found = GeoPackageReader(data, timeout)
        _readers[data] = found
    return found
