"""OGC API - Features Part 4 on a GeoPackage store: the published version's table copied in the
collection's layer file, the edits applied to the copy (``store/features.py`` decides what each
edit does), the copy committed there, then recorded as the next version and published in one
catalogue transaction. The catalogue's write lock is held throughout, so edits queue; a copy
whose version was never recorded is removed by the next write of the collection."""

from __future__ import annotations

import json
import secrets
import sqlite3
from typing import Any

from geo_publish.errors import NotFound
from geo_publish.store.base import now as _now
from geo_publish.store.base import quote

from geo_publish.store.gpkg import GeoPackageStore, immediate
from geo_publish.store.gpkg_layout import copy_table
from geo_publish.store.gpkg_read import layer_ref
from geo_publish.store.records import sqlite_index


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
            file, old = store.locate(pub["layer"])
            new = f"gpv_{collection.replace('-', '_')}_{secrets.token_hex(4)}"
            with store._layer_db(collection) as lc:
                if file != store.layer_file(collection):  # a store written before layer files
                    lc.execute("ATTACH DATABASE ? AS old", (str(file),))
                src = "old" if file != store.layer_file(collection) else "main"
                with immediate(lc, ""):
                    result, count, bbox = _edit_copy(lc, src, old, new, edits, id_field, collection)
            (last,) = conn.execute("SELECT max(version) FROM gp_versions WHERE collection = ?",
                                   (collection,)).fetchone()
            version, when = last + 1, _now()
            passport = json.loads(pub["passport"]) | {"version": version, "feature_count": count,
                                                      "last_modified": when}
            if bbox:
                passport["extent"] = bbox
            report = json.loads(pub["report"]) | {"version": version}
            conn.execute("INSERT INTO gp_versions VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                         (collection, version, layer_ref(collection, new), pub["quarantine"], when,
                          count, pub["quarantined"],
                          json.dumps(bbox) if bbox else pub["bbox"], checksum, pub["geometry_type"],
                          json.dumps(passport, ensure_ascii=False), json.dumps(report, ensure_ascii=False)))
            conn.execute("INSERT OR REPLACE INTO gp_published VALUES (?, ?, ?)", (collection, version, when))
            conn.row_factory = None
            sqlite_index(conn, collection)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return [ft.Applied(version, a.key, a.etag) for a in result]


def _edit_copy(lc: sqlite3.Connection, src: str, old: str, new: str, edits: list[Any],
               id_field: str | None, collection: str) -> tuple[list[Any], int, list[float] | None]:
    """The edits applied to a copy of ``old`` (schema ``src``) made as ``new`` in the layer
    file: (what each edit did, with version 0 for now; features; bbox)."""
    from geo_publish.store import features as ft

    s = f'"{src}"'
    geom_col, gtype, srs_id = lc.execute(
        f"SELECT column_name, geometry_type_name, srs_id FROM {s}.gpkg_geometry_columns "
        "WHERE table_name = ?", (old,)).fetchone()
    columns = {r[1]: (r[2] or "TEXT").upper() for r in lc.execute(f'PRAGMA {s}.table_info("{old}")')
               if r[1] not in ("fid", geom_col)}
    key_col = id_field if id_field in columns else "fid"
    copy_table(lc, src, old, new)
    rtree = f"rtree_{new}_{geom_col}"
    has_rtree = lc.execute("SELECT 1 FROM main.sqlite_master WHERE name = ?", (rtree,)).fetchone()
    table = GpkgTable(lc, new, geom_col, gtype, srs_id, columns, key_col,
                      rtree if has_rtree else None)
    out = ft.apply(table, edits, collection)
    (count,) = lc.execute(f'SELECT count(*) FROM main."{new}"').fetchone()
    bbox = None
    if has_rtree:
        box = lc.execute(f'SELECT min(minx), min(miny), max(maxx), max(maxy) FROM main."{rtree}"').fetchone()
        bbox = list(box) if box[0] is not None else None
    try:
        lc.execute("UPDATE main.gpkg_ogr_contents SET feature_count = ? WHERE table_name = ?",
                   (count, new))
    except sqlite3.OperationalError:
        pass  # a GeoPackage written without GDAL's feature-count table
    return ft.applied(table, 0, out), count, bbox
