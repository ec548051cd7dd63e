"""OGC API - Features Part 4 on a GeoPackage store: the edits applied to the next generation of
the collection's versioned rows (``store/gpkg_rows.py``: a change closes the feature's row and
adds one, so an edit costs the rows it changes, not a copy of the layer), committed in the
collection's layer file, then recorded as the next version and published in one catalogue
transaction (``store/features.py`` decides what each edit does). The catalogue's write lock is
held throughout, so edits queue; a generation whose version was never recorded is removed by
the next write of the collection."""

from __future__ import annotations

import json
import secrets
import sqlite3
from typing import Any

from geo_publish.errors import NotFound
from geo_publish.store.base import now as _now

from geo_publish.store.gpkg import GeoPackageStore, immediate
from geo_publish.store.gpkg_read import layer_ref
from geo_publish.store.gpkg_rows import EditRows
from geo_publish.store.records import sqlite_index


def edit_published(store: GeoPackageStore, collection: str, edits: list[Any], id_field: str | None,
                   checksum: str) -> list[Any]:
    from geo_publish.store import features as ft

    store.move_layers(collection)  # an older store's tables: made versioned rows first
    store.fold(collection)
    with store._db(write=True) as conn:
        conn.row_factory = sqlite3.Row
        conn.execute("BEGIN IMMEDIATE")  # one writer: concurrent edits queue here
        try:
            pub = conn.execute(
                "SELECT v.* FROM gp_published p JOIN gp_versions v ON v.collection = p.collection "
                "AND v.version = p.version WHERE p.collection = ?", (collection,)).fetchone()
            if pub is None or pub["geometry_type"] == "Raster":
                raise NotFound(f"no published vector collection {collection!r}")
            _file, old = store.locate(pub["layer"])
            new = f"gpv_{collection.replace('-', '_')}_{secrets.token_hex(4)}"
            with store._layer_db(collection) as lc, immediate(lc):
                table = EditRows(lc, old)
                if id_field in table.columns:
                    table.key_col = id_field
                out = ft.apply(table, edits, collection)
                result = ft.applied(table, 0, out)
                count, bbox = table.finish(new, json.loads(pub["bbox"]) if pub["bbox"] else None)
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
