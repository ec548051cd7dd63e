"""Tables between GeoPackage files: a version's table copied (``copy_table``, for Part 4 edits),
and the tables of stores written before layer files moved out of the store file into each
collection's layer file (``move_layers``), checked table by table before the old is dropped."""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
from typing import TYPE_CHECKING, Any

from geo_publish.errors import StoreError
from geo_publish.store.gpkg_read import layer_ref

if TYPE_CHECKING:
    from geo_publish.store.gpkg import GeoPackageStore


def _named(sql: str, old: str, new: str) -> str:
    """A CREATE statement of ``old`` (or of an index named after it) made for ``new``: the old
    name is a random token, so no other part of the statement matches it."""
    return sql.replace(old, new)


def copy_table(conn: sqlite3.Connection, src: str, old: str, new: str) -> None:
    """Table ``old`` of schema ``src`` (``main`` or an attached file) copied as ``new`` into the
    connection's main file: same schema, rows, registration, indexes and R-tree (filled from the
    old one). GDAL's R-tree triggers call functions plain SQLite lacks, so the copy has none:
    versions are immutable, and an edit keeps its copy's R-tree itself."""
    s = f'"{src}"'
    (create,) = conn.execute(f"SELECT sql FROM {s}.sqlite_master WHERE type = 'table' AND name = ?",
                             (old,)).fetchone()
    conn.execute(_named(create, old, new))
    conn.execute(f'INSERT INTO main."{new}" SELECT * FROM {s}."{old}"')
    for (sql,) in conn.execute(f"SELECT sql FROM {s}.sqlite_master WHERE type = 'index' AND "
                               "tbl_name = ? AND sql IS NOT NULL", (old,)).fetchall():
        conn.execute(_named(sql, old, new))
    conn.execute("INSERT INTO main.gpkg_contents (table_name, data_type, identifier, description, "
                 "last_change, min_x, min_y, max_x, max_y, srs_id) SELECT ?, data_type, ?, "
                 "description, strftime('%Y-%m-%dT%H:%M:%fZ','now'), min_x, min_y, max_x, max_y, "
                 f"srs_id FROM {s}.gpkg_contents WHERE table_name = ?", (new, new, old))
    conn.execute("INSERT INTO main.gpkg_geometry_columns SELECT ?, column_name, geometry_type_name, "
                 f"srs_id, z, m FROM {s}.gpkg_geometry_columns WHERE table_name = ?", (new, old))
    # GDAL makes this table with the first spatial index of a file (standard definition)
    conn.execute("CREATE TABLE IF NOT EXISTS main.gpkg_extensions (table_name TEXT, "
                 "column_name TEXT, extension_name TEXT NOT NULL, definition TEXT NOT NULL, "
                 "scope TEXT NOT NULL, CONSTRAINT ge_tce UNIQUE (table_name, column_name, "
                 "extension_name))")
    conn.execute("INSERT INTO main.gpkg_extensions SELECT ?, column_name, "
                 "replace(extension_name, ?, ?), definition, scope "
                 f"FROM {s}.gpkg_extensions WHERE lower(table_name) = lower(?)", (new, old, new, old))
    try:
        conn.execute("INSERT INTO main.gpkg_ogr_contents SELECT ?, feature_count "
                     f"FROM {s}.gpkg_ogr_contents WHERE lower(table_name) = lower(?)", (new, old))
    except sqlite3.OperationalError:
        pass  # a GeoPackage written without GDAL's feature-count table
    for (name,) in conn.execute(f"SELECT name FROM {s}.sqlite_master WHERE type = 'table' AND "
                                "name LIKE ?", (f"rtree_{old}_%",)).fetchall():
        if name.endswith(("_node", "_parent", "_rowid")):
            continue
        target = _named(name, old, new)
        conn.execute(f'CREATE VIRTUAL TABLE main."{target}" USING rtree(id, minx, maxx, miny, maxy)')
        try:  # the tree as it is, through its shadow tables: 2 ms for 10,000 entries, not 50
            conn.execute("SAVEPOINT rtree_copy")
            for part in ("_node", "_parent", "_rowid"):
                conn.execute(f'DELETE FROM main."{target}{part}"')
                conn.execute(f'INSERT INTO main."{target}{part}" SELECT * FROM {s}."{name}{part}"')
            conn.execute("RELEASE rtree_copy")
        except sqlite3.DatabaseError:  # shadow tables read-only (SQLITE_DBCONFIG_DEFENSIVE)
            conn.execute("ROLLBACK TO rtree_copy")
            conn.execute("RELEASE rtree_copy")
            conn.execute(f'INSERT INTO main."{target}" SELECT * FROM {s}."{name}"')


def _sha(rows: Any) -> tuple[int, str]:
    h = hashlib.sha256()
    n = 0
    for row in rows:
        h.update(repr(row).encode())
        n += 1
    return n, h.hexdigest()


def digest(conn: sqlite3.Connection, schema: str, table: str) -> tuple[int, str]:
    """(rows, SHA-256 of every row in fid order): what a moved table is checked against."""
    return _sha(conn.execute(f'SELECT * FROM "{schema}"."{table}" ORDER BY 1'))


_OLD = re.compile(r"^gpv_[A-Za-z0-9_]+$")


def move_layers(store: GeoPackageStore, collection: str | None = None) -> int:
    """Move the version and quarantine tables that ``collection`` (or every collection) keeps
    in the store file into its layer file; each copy is checked (rows and their digest) before
    the row points at it and the old table is dropped. Returns the number of tables moved."""
    from geo_publish.store.gpkg import drop, immediate

    if not store.path.exists():
        return 0
    where, args = ("WHERE collection = ?", (collection,)) if collection else ("", ())
    rows = store._fetch(f"SELECT collection, version, layer, quarantine FROM gp_versions {where}",
                        args)
    todo = [(r["collection"], r["version"], column, r[column]) for r in rows
            for column in ("layer", "quarantine") if r[column] and _OLD.match(r[column])]
    for cid, version, column, table in todo:
        with store._layer_db(cid) as lc:
            lc.execute("ATTACH DATABASE ? AS old", (str(store.path),))
            try:
                with immediate(lc, ""):  # the layer file's write lock only: the store file is read
                    drop(lc, table)  # a copy left by a move that was interrupted
                    copy_table(lc, "old", table, table)
                    if digest(lc, "old", table) != digest(lc, "main", table):
                        raise StoreError(f"{store.path}: {cid} v{version}: the copy of {table} in "
                                         f"{store.layer_file(cid)} differs; nothing was moved")
            finally:
                lc.execute("DETACH DATABASE old")
        with store._db(write=True) as conn, immediate(conn):
            conn.execute(f"UPDATE gp_versions SET {column} = ? WHERE collection = ? AND "
                         f"version = ? AND {column} = ?", (layer_ref(cid, table), cid, version, table))
            drop(conn, table)
    return len(todo)


def _rows_digest(conn: sqlite3.Connection, table: str) -> tuple[int, str]:
    """(rows, SHA-256 of (fid, attributes, geometry) in fid order) of a version's table or view."""
    from geo_publish.store.gpkg_rows import shape
    from geo_publish.store.base import quote

    sh = shape(conn, "main", table)
    return _sha(conn.execute(f"SELECT fid{sh.names()}, {quote(sh.geometry)} FROM {quote(table)} ORDER BY fid"))


def fold(store: GeoPackageStore, collection: str | None = None) -> int:
    """Make the version tables a layer file kept (one table per version, before versioned rows)
    versions of its collection's rows, oldest first: each table is merged with its ids kept,
    the new view checked against it (rows, ids, attributes and geometry), the version row
    pointed at the view, then the table dropped. Returns the number of versions folded."""
    from geo_publish.store import gpkg_rows
    from geo_publish.store.gpkg import drop, immediate

    if not store.path.exists():
        return 0
    where, args = ("WHERE collection = ? AND ", (collection,)) if collection else ("WHERE ", ())
    rows = store._fetch(f"SELECT collection, version, layer FROM gp_versions {where} layer LIKE "
                        "'%.gpkg#%' ORDER BY collection, version", args)
    done = 0
    for cid in dict.fromkeys(r["collection"] for r in rows):
        file = store.layer_file(cid)
        if not file.exists():
            continue
        mine = [r for r in rows if r["collection"] == cid]
        with store._db(write=True, file=file) as lc:
            tables = {r[0] for r in lc.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        todo = [r for r in mine if store.locate(r["layer"])[1] in tables]
        for r in todo:
            table = store.locate(r["layer"])[1]
            view = f"gpv_{cid.replace('-', '_')}_{secrets.token_hex(4)}"
            with store._db(write=True) as conn, immediate(conn):  # no gc between the steps
                with store._db(write=True, file=file) as lc, immediate(lc):
                    gpkg_rows.merge(lc, "main", table, view, forced_ids=True)
                    if _rows_digest(lc, table) != _rows_digest(lc, view):
                        raise StoreError(f"{store.path}: {cid} v{r['version']}: its rows as a "
                                         f"version of {file} differ from {table}; nothing was changed")
                conn.execute("UPDATE gp_versions SET layer = ? WHERE collection = ? AND version = ?",
                             (layer_ref(cid, view), cid, r["version"]))
            with store._db(write=True, file=file) as lc, immediate(lc):
                drop(lc, table)
            done += 1
    return done
