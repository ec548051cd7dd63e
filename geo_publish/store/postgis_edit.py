"""OGC API - Features Part 4 on a PostGIS store: the edits applied to the next generation of the
collection's versioned rows (``store/postgis_rows.py``: a change closes the feature's row and
adds one), recorded as the next version and published, in one transaction under the
collection's lock (``store/features.py`` decides what each edit does)."""

from __future__ import annotations

from typing import Any

from geo_publish.errors import NotFound, StoreError
from geo_publish.store import postgis_rows
from geo_publish.store.records import pg_index
from geo_publish.store.base import now as _now

from geo_publish.store.postgis import PostGISStore, first_line


def edit_published(store: PostGISStore, collection: str, edits: list[Any], id_field: str | None,
                   checksum: str) -> list[Any]:
    import secrets

    import psycopg
    from psycopg.types.json import Jsonb

    from geo_publish.store import features as ft

    q = store.q
    with store._db() as conn:
        try:
            with conn.transaction():
                postgis_rows.lock(conn, collection)
                postgis_rows.fold(conn, q, collection)  # a store written before versioned rows
                pub = conn.execute(
                    f"SELECT v.layer, v.quarantine, v.version, v.quarantined, v.bbox, "
                    f"v.geometry_type, v.passport, v.report FROM {q('gp_published')} p JOIN "
                    f"{q('gp_versions')} v ON v.collection = p.collection AND v.version = p.version "
                    "WHERE p.collection = %s", (collection,)).fetchone()
                if pub is None or pub[5] == "Raster":
                    raise NotFound(f"no published vector collection {collection!r}")
                old, quarantine, published, quarantined, old_bbox, gtype_name, passport, report = pub
                table = postgis_rows.PgRows(conn, q, collection, old, gtype_name or "GEOMETRY")
                if id_field in table.columns:
                    table.key_col = id_field
                out = ft.apply(table, edits, collection)
                new = f"gpv_{collection.replace('-', '_')}_{secrets.token_hex(4)}"
                count, bbox = table.finish(new, old_bbox)
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
