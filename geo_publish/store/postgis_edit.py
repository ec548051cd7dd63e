"""OGC API - Features Part 4 on a PostGIS store: the published version's table copied, the edits
applied to the copy (``store/features.py`` decides what each edit does), the copy committed as
the next version and published, in one transaction."""

from __future__ import annotations

import secrets
from typing import Any

import shapely

from geo_publish.errors import NotFound, StoreError
from geo_publish.store.records import pg_index
from geo_publish.store.base import now as _now
from geo_publish.store.base import quote

from geo_publish.store.postgis import GEOM, PostGISStore, first_line


_PG_DECL = {"bigint": "INTEGER", "integer": "INTEGER", "smallint": "INTEGER",
            "double precision": "DOUBLE", "real": "REAL", "numeric": "DOUBLE", "boolean": "BOOLEAN",
            "date": "DATE", "timestamp without time zone": "DATETIME",
            "timestamp with time zone": "DATETIME", "text": "TEXT"}


class PgTable:
    """The copy being edited, for ``features.apply``."""

    def __init__(self, conn: Any, table: str, geometry_type: str, columns: dict[str, str],
                 key_col: str, has_z: bool) -> None:
        self.conn, self.table, self.geometry_type = conn, table, geometry_type
        self.columns, self.key_col = columns, key_col
        self.geom_sql = "ST_SetSRID(ST_GeomFromWKB(%s), 4326)"
        if has_z:
            self.geom_sql = f"ST_Force3D({self.geom_sql})"

    def rows(self, column: str, value: Any) -> list[tuple[Any, ...]]:
        return self.conn.execute(f"SELECT * FROM {self.table} WHERE {quote(column)} = %s",  # type: ignore[no-any-return]
                                 (value,)).fetchall()

    def insert(self, props: dict[str, Any], geom: Any) -> int:
        (fid,) = self.conn.execute(f"SELECT coalesce(max(fid), 0) + 1 FROM {self.table}").fetchone()
        names = [quote(n) for n in props]
        self.conn.execute(f"INSERT INTO {self.table} (fid, {', '.join([*names, GEOM])}) VALUES "
                          f"(%s, {', '.join(['%s'] * len(names) + [self.geom_sql])})",
                          (fid, *props.values(), shapely.to_wkb(geom)))
        return int(fid)

    def update(self, fid: int, props: dict[str, Any], geom: Any) -> None:
        sets = [f"{quote(n)} = %s" for n in props]
        args: list[Any] = list(props.values())
        if geom is not None:
            sets.append(f"{GEOM} = {self.geom_sql}")
            args.append(shapely.to_wkb(geom))
        if sets:
            self.conn.execute(f"UPDATE {self.table} SET {', '.join(sets)} WHERE fid = %s", (*args, fid))

    def delete(self, fid: int) -> None:
        self.conn.execute(f"DELETE FROM {self.table} WHERE fid = %s", (fid,))


def edit_published(store: PostGISStore, collection: str, edits: list[Any], id_field: str | None,
             checksum: str) -> list[Any]:
    import psycopg
    from psycopg.types.json import Jsonb

    from geo_publish.store import features as ft

    q = store.q
    with store._db() as conn:
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"gp:{collection}",))
                pub = conn.execute(
                    f"SELECT v.layer, v.quarantine, v.version, v.quarantined, v.bbox, "
                    f"v.geometry_type, v.passport, v.report FROM {q('gp_published')} p JOIN "
                    f"{q('gp_versions')} v ON v.collection = p.collection AND v.version = p.version "
                    "WHERE p.collection = %s", (collection,)).fetchone()
                if pub is None or pub[5] == "Raster":
                    raise NotFound(f"no published vector collection {collection!r}")
                old, quarantine, published, quarantined, old_bbox, gtype_name, passport, report = pub
                cols = conn.execute(
                    "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE "
                    "attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                    (q(old),)).fetchall()
                columns = {n: _PG_DECL.get(t, "TEXT") for n, t in cols if n not in ("fid", GEOM)}
                geom_decl = next((t for n, t in cols if n == GEOM), "geometry")
                has_z = "Z," in geom_decl.upper()
                key_col = id_field if id_field in columns else "fid"
                new = f"gpv_{collection.replace('-', '_')}_{secrets.token_hex(4)}"
                conn.execute(f"CREATE TABLE {q(new)} (LIKE {q(old)} INCLUDING ALL)")
                conn.execute(f"INSERT INTO {q(new)} SELECT * FROM {q(old)}")
                table = PgTable(conn, q(new), gtype_name or "GEOMETRY", columns, key_col, has_z)
                out = ft.apply(table, edits, collection)
                count, x0, y0, x1, y1 = conn.execute(
                    f"SELECT n, ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT "
                    f"count(*) AS n, ST_Extent({GEOM}) AS e FROM {q(new)}) s").fetchone()
                bbox = [x0, y0, x1, y1] if x0 is not None else old_bbox
                (last,) = conn.execute(f"SELECT max(version) FROM {q('gp_versions')} WHERE "
                                       "collection = %s", (collection,)).fetchone()
                version, when = last + 1, _now()
                passport = {**passport, "version": version, "feature_count": count, "last_modified": when}
                if bbox:
                    passport["extent"] = bbox
                conn.execute(
                    f"INSERT INTO {q('gp_versions')} VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                    (collection, version, new, quarantine, when, count, quarantined,
                     Jsonb(bbox) if bbox else None, checksum, gtype_name, Jsonb(passport),
                     Jsonb({**report, "version": version})))
                conn.execute(f"INSERT INTO {q('gp_quarantine')} SELECT collection, %s, ord, row FROM "
                             f"{q('gp_quarantine')} WHERE collection = %s AND version = %s",
                             (version, collection, published))
                conn.execute(f"UPDATE {q('gp_published')} SET version = %s, updated = %s "
                             "WHERE collection = %s", (version, when, collection))
                pg_index(conn, q, collection)
                result = ft.applied(table, version, out)
        except psycopg.Error as err:
            raise StoreError(f"{store.where}: editing {collection} failed ({first_line(err)})") from err
    return result
