"""OGC API - Features Part 4 on a GeoPackage store: the published version's table copied, the
edits applied to the copy (``store/features.py`` decides what each edit does), the copy
committed as the next version and published, in one write transaction."""

from __future__ import annotations

import json
import secrets
import sqlite3
from typing import Any

from geo_publish.errors import NotFound
from geo_publish.store.base import now as _now
from geo_publish.store.base import quote

from geo_publish.store.gpkg import GeoPackageStore


def _copy_table(conn: sqlite3.Connection, old: str, new: str) -> None:
    """A version's table copied as another GeoPackage table: same schema, rows, registration,
    indexes and R-tree (filled from the old one). GDAL's R-tree triggers call functions plain
    SQLite lacks, so the copy has none: ``edit`` keeps its R-tree itself."""
    (create,) = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                             (old,)).fetchone()
    conn.execute(create.replace(old, new))  # the old name is a random token: no other match
    conn.execute(f'INSERT INTO "{new}" SELECT * FROM "{old}"')
    for (sql,) in conn.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND "
                               "tbl_name = ? AND sql IS NOT NULL", (old,)).fetchall():
        conn.execute(sql.replace(old, new))
    conn.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description, "
                 "last_change, min_x, min_y, max_x, max_y, srs_id) SELECT ?, data_type, ?, "
                 "description, strftime('%Y-%m-%dT%H:%M:%fZ','now'), min_x, min_y, max_x, max_y, "
                 "srs_id FROM gpkg_contents WHERE table_name = ?", (new, new, old))
    conn.execute("INSERT INTO gpkg_geometry_columns SELECT ?, column_name, geometry_type_name, "
                 "srs_id, z, m FROM gpkg_geometry_columns WHERE table_name = ?", (new, old))
    conn.execute("INSERT INTO gpkg_extensions SELECT ?, column_name, replace(extension_name, ?, ?), "
                 "definition, scope FROM gpkg_extensions WHERE lower(table_name) = lower(?)",
                 (new, old, new, old))
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name "
                                "LIKE ?", (f"rtree_{old}_%",)).fetchall():
        if name.endswith(("_node", "_parent", "_rowid")):
            continue
        target = name.replace(old, new)
        conn.execute(f'CREATE VIRTUAL TABLE "{target}" USING rtree(id, minx, maxx, miny, maxy)')
        try:  # the tree as it is, through its shadow tables: 2 ms for 10,000 entries, not 50
            conn.execute("SAVEPOINT rtree_copy")
            for part in ("_node", "_parent", "_rowid"):
                conn.execute(f'DELETE FROM "{target}{part}"')
                conn.execute(f'INSERT INTO "{target}{part}" SELECT * FROM "{name}{part}"')
            conn.execute("RELEASE rtree_copy")
        except sqlite3.DatabaseError:  # shadow tables read-only (SQLITE_DBCONFIG_DEFENSIVE)
            conn.execute("ROLLBACK TO rtree_copy")
            conn.execute("RELEASE rtree_copy")
            conn.execute(f'INSERT INTO "{target}" SELECT * FROM "{name}"')


class GpkgTable:
    """The copy being edited, for ``features.apply``; keeps the copy's R-tree by hand."""

    def __init__(self, conn: sqlite3.Connection, table: str, geom_col: str, geometry_type: str,
                 srs_id: int, columns: dict[str, str], key_col: str, rtree: str | None) -> None:
        self.conn, self.table, self.geom_col, self.srs_id = conn, table, geom_col, srs_id
        self.geometry_type, self.columns, self.key_col, self.rtree = geometry_type, columns, key_col, rtree

    def rows(self, column: str, value: Any) -> list[tuple[Any, ...]]:
        return self.conn.execute(f'SELECT * FROM "{self.table}" WHERE {quote(column)} = ?',
                                 (value,)).fetchall()

    def _geometry(self, fid: int, geom: Any) -> None:
        from geo_publish.store.features import gpkg_blob

        self.conn.execute(f'UPDATE "{self.table}" SET {quote(self.geom_col)} = ? WHERE fid = ?',
                          (gpkg_blob(geom, self.srs_id), fid))
        if self.rtree:
            x0, y0, x1, y1 = geom.bounds
            self.conn.execute(f'INSERT OR REPLACE INTO "{self.rtree}" VALUES (?, ?, ?, ?, ?)',
                              (fid, x0, x1, y0, y1))

    def insert(self, props: dict[str, Any], geom: Any) -> int:
        names = list(props)
        cur = self.conn.execute(
            f'INSERT INTO "{self.table}" ({", ".join(quote(n) for n in names) or "fid"}) '
            f'VALUES ({", ".join("?" for _ in names) or "NULL"})', [props[n] for n in names])
        fid = int(cur.lastrowid)  # type: ignore[arg-type]
        self._geometry(fid, geom)
        return fid

    def update(self, fid: int, props: dict[str, Any], geom: Any) -> None:
        if props:
            self.conn.execute(f'UPDATE "{self.table}" SET {", ".join(f"{quote(n)} = ?" for n in props)} '
                              "WHERE fid = ?", [*props.values(), fid])
        if geom is not None:
            self._geometry(fid, geom)

    def delete(self, fid: int) -> None:
        self.conn.execute(f'DELETE FROM "{self.table}" WHERE fid = ?', (fid,))
        if self.rtree:
            self.conn.execute(f'DELETE FROM "{self.rtree}" WHERE id = ?', (fid,))


def edit_published(store: GeoPackageStore, collection: str, edits: list[Any], id_field: str | None,
               checksum: str) -> list[Any]:
    from geo_publish.store import features as ft

    with store._db(write=True) as conn:
        conn.row_factory = sqlite3.Row
        conn.execute("BEGIN IMMEDIATE")  # one writer: concurrent edits queue here
        try:
            pub = conn.execute(
                "SELECT v.* FROM gp_published p JOIN gp_versions v ON v.collection = p.collection "
                "AND v.version = p.version WHERE p.collection = ?", (collection,)).fetchone()
            if pub is None or pub["geometry_type"] == "Raster":
                raise NotFound(f"no published vector collection {collection!r}")
            old = pub["layer"]
            geom_col, gtype, srs_id = conn.execute(
                "SELECT column_name, geometry_type_name, srs_id FROM gpkg_geometry_columns "
                "WHERE table_name = ?", (old,)).fetchone()
            columns = {r[1]: (r[2] or "TEXT").upper() for r in conn.execute(f'PRAGMA table_info("{old}")')
                       if r[1] not in ("fid", geom_col)}
            key_col = id_field if id_field in columns else "fid"
            new = f"gpv_{collection.replace('-', '_')}_{secrets.token_hex(4)}"
            _copy_table(conn, old, new)
            rtree = f"rtree_{new}_{geom_col}"
            has_rtree = conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (rtree,)).fetchone()
            conn.row_factory = None
            table = GpkgTable(conn, new, geom_col, gtype, srs_id, columns, key_col,
                              rtree if has_rtree else None)
            out = ft.apply(table, edits, collection)
            (count,) = conn.execute(f'SELECT count(*) FROM "{new}"').fetchone()
            bbox = None
            if has_rtree:
                box = conn.execute(f'SELECT min(minx), min(miny), max(maxx), max(maxy) FROM "{rtree}"').fetchone()
                bbox = list(box) if box[0] is not None else None
            try:
                conn.execute("INSERT INTO gpkg_ogr_contents VALUES (?, ?)", (new, count))
            except sqlite3.OperationalError:
                pass  # a GeoPackage written without GDAL's feature-count table
            (last,) = conn.execute("SELECT max(version) FROM gp_versions WHERE collection = ?",
                                   (collection,)).fetchone()
            version, when = last + 1, _now()
            passport = json.loads(pub["passport"]) | {"version": version, "feature_count": count,
                                                      "last_modified": when}
            if bbox:
                passport["extent"] = bbox
            report = json.loads(pub["report"]) | {"version": version}
            conn.execute("INSERT INTO gp_versions VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                         (collection, version, new, pub["quarantine"], when, count, pub["quarantined"],
                          json.dumps(bbox) if bbox else pub["bbox"], checksum, pub["geometry_type"],
                          json.dumps(passport, ensure_ascii=False), json.dumps(report, ensure_ascii=False)))
            conn.execute("INSERT OR REPLACE INTO gp_published VALUES (?, ?, ?)", (collection, version, when))
            result = ft.applied(table, version, out)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return result
