"""Versioned rows in a collection's layer file (GeoPackage store).

A collection's features live in two tables of its layer file (a *base*): ``gpf_<token>`` holds
the open rows, one a feature, its ``fid`` (rowid) the feature's stable number (its OGC id), with
the generation that added it (``gp_from``); ``gph_<token>`` holds the closed rows, each with its
number (``gp_id``), the generation that added it and the one that replaced or removed it
(``gp_to``). A version is a view of its generation's rows (``gpv_<collection>_<token>``, what
``gp_versions`` names), registered as a GeoPackage feature table, so readers, QGIS and GDAL read
a version as before. Generations are numbered per layer file (``gp_rowsets``) and each is
written as a diff against the newest one: the rows it keeps stay, the others are closed (moved
to the history table), the new ones added.

- The newest generation's view is the open rows' table as it is (``_view_sql``): a page in fid
  order, a filter, a lookup by id and an R-tree join read it as they read a table of that
  version alone. An older one's view is the union of the open rows it saw and the closed rows
  it saw, which SQLite merges in fid order (the history table's ``gp_id`` index). This is the
  current table and history table of SQL:2011 system versioning, counted in generations.
- An ingest's features are written by GDAL into a staging file, then ``merge``d: a row equal
  to the open row at its position stays (SQL, no hashing: the common case of a file edited in
  place or appended to); the rest are matched by a hash of their values, so a republish that
  changes 1 % adds 1 % of the rows whatever its order. Features that changed take the numbers
  of the ones they replace, in order.
- A Part 4 edit (``EditRows``) closes and adds only the rows it changes.
- Dropping a version's view (prune, abort, clean-up of a dead writer) then ``clean`` deletes the
  rows no remaining generation sees, and reopens those its newest one sees: the open rows are
  always the newest registered generation's.
- A version whose table has other columns or another geometry type than the newest starts a
  new base; the old base keeps the older versions' rows.

One R-tree a base, over both tables: an open row's entry is its fid, a closed row's its rowid in
the history table, ``gp_to << 32 | gp_id`` (above every open one); a view gives it as ``gp_rid``
and readers join on ``Table.row_id``. ``split`` brings a base of the first layout (one table,
``gp_to`` NULL while open) to this one. Every function here runs inside the caller's write
transaction on the layer file.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from geo_publish.errors import StoreError
from geo_publish.store.base import grown, quote

_DDL = """
CREATE TABLE IF NOT EXISTS gp_rowsets (
  view TEXT PRIMARY KEY, base TEXT NOT NULL, gen INTEGER NOT NULL UNIQUE,
  features INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS gp_bases (
  base TEXT PRIMARY KEY, geometry TEXT NOT NULL, geometry_type TEXT NOT NULL,
  srs_id INTEGER NOT NULL, z INTEGER NOT NULL, m INTEGER NOT NULL,
  split INTEGER NOT NULL DEFAULT 0);
"""
SYSTEM = ("gp_id", "gp_from", "gp_to", "gp_hash", "gp_rid")
OPEN = 1 << 32  # feature numbers stay below; a closed row's rowid is gp_to << 32 | gp_id


def row_hash(*values: Any) -> bytes:
    """What makes two rows the same feature for a merge: attributes and geometry as stored."""
    return hashlib.blake2b(repr(values).encode(), digest_size=16).digest()


def history(base: str) -> str:
    """The table of a base's closed rows."""
    return "gph_" + base.removeprefix("gpf_")


def prepare(conn: sqlite3.Connection) -> None:
    """The registry tables and the hash function, on a write connection to a layer file; a base
    of the first layout is ``split`` on the first write after an upgrade."""
    conn.create_function("gp_hash", -1, row_hash, deterministic=True)
    if conn.execute("SELECT 1 FROM main.sqlite_master WHERE name = 'gp_rowsets'").fetchone() is None:
        for statement in _DDL.split(";"):
            if statement.strip():
                conn.execute(statement)
        return
    if not any(r[1] == "split" for r in conn.execute("PRAGMA main.table_info(gp_bases)")):
        conn.execute("ALTER TABLE gp_bases ADD COLUMN split INTEGER NOT NULL DEFAULT 0")
    first = conn.execute("SELECT base FROM gp_bases WHERE split = 0").fetchall()
    for (base,) in first:
        split(conn, base)
    if first:
        sync_views(conn)


def split(conn: sqlite3.Connection, base: str) -> None:
    """Give a base of the first layout (one table: ``fid`` in the order rows were added,
    ``gp_id``, ``gp_from``, ``gp_to`` NULL while open) this one: its open rows a table of their
    own at their numbers, its closed rows the history table, the R-tree renumbered with them.
    Every view is dropped first (SQLite checks every view when a table is renamed): the caller
    makes them again (``sync_views``) once every base is split."""
    sh = _base_shape(conn, base)
    b, h, tree = quote(base), quote(history(base)), quote(rtree(base, sh))
    names, g = sh.names(), quote(sh.geometry)
    for (view,) in conn.execute("SELECT view FROM gp_rowsets").fetchall():
        conn.execute(f"DROP VIEW IF EXISTS main.{quote(view)}")
    new = "CASE WHEN b.gp_to IS NULL THEN b.gp_id ELSE (b.gp_to << 32) | b.gp_id END"
    conn.execute("DROP TABLE IF EXISTS temp.gp_boxes")
    conn.execute(f"CREATE TEMP TABLE gp_boxes AS SELECT {new} AS id, r.minx, r.maxx, r.miny, r.maxy "
                 f"FROM {tree} r JOIN {b} b ON b.fid = r.id")
    conn.execute(f"DELETE FROM {tree}")
    conn.execute(f"INSERT INTO {tree} SELECT * FROM temp.gp_boxes ORDER BY id")
    conn.execute("DROP TABLE temp.gp_boxes")
    tmp = f"gpf_split_{secrets.token_hex(4)}"
    _tables(conn, tmp, history(base), sh)
    conn.execute(f"INSERT INTO {quote(tmp)} (fid, gp_from{names}, {g}) SELECT gp_id, gp_from{names}, {g} "
                 f"FROM {b} WHERE gp_to IS NULL ORDER BY gp_id")
    conn.execute(f"INSERT INTO {h} (fid, gp_id, gp_from, gp_to{names}, {g}) SELECT (gp_to << 32) | gp_id, "
                 f"gp_id, gp_from, gp_to{names}, {g} FROM {b} WHERE gp_to IS NOT NULL ORDER BY 1")
    fields = [r[0] for r in conn.execute("SELECT sql FROM main.sqlite_master WHERE type = 'index' "
                                         "AND tbl_name = ? AND name LIKE ?", (base, f"{base}_%_idx"))]
    conn.execute(f"DROP TABLE {b}")
    conn.execute(f"ALTER TABLE {quote(tmp)} RENAME TO {b}")
    for sql in fields:  # the id field's index, on the new table
        if sql:
            conn.execute(sql)
    conn.execute("UPDATE gp_bases SET split = 1 WHERE base = ?", (base,))


def _tables(conn: sqlite3.Connection, base: str, hist: str, sh: Shape) -> None:
    cols = "".join(f", {quote(n)} {decl}" for n, decl in sh.columns)
    geom = f"{quote(sh.geometry)} {sh.geometry_type}"
    conn.execute(f"CREATE TABLE {quote(base)} (fid INTEGER PRIMARY KEY, gp_from INTEGER NOT NULL{cols}, {geom})")
    # no index on gp_from: only the rare writes ask for it (a rollback's edit, a dead writer's
    # generation swept), and it cost an ingest of 1,000,000 points 2 s
    conn.execute(f"CREATE TABLE {quote(hist)} (fid INTEGER PRIMARY KEY, gp_id INTEGER NOT NULL, gp_from "
                 f"INTEGER NOT NULL, gp_to INTEGER NOT NULL{cols}, {geom})")
    conn.execute(f"CREATE INDEX {quote(hist + '_id')} ON {quote(hist)} (gp_id)")
    conn.execute(f"CREATE INDEX {quote(hist + '_range')} ON {quote(hist)} (gp_to, gp_from)")


def _close(conn: sqlite3.Connection, base: str, gen: int, where: str = "1", args: tuple[Any, ...] = (),
           sh: Shape | None = None) -> None:
    """Close the open rows of ``base`` that ``where`` selects, as of ``gen``: each moves to the
    history table, at rowid ``gen << 32 | fid``, and its R-tree entry with it."""
    sh = sh or _base_shape(conn, base)
    b, names, g = quote(base), sh.names(), quote(sh.geometry)
    conn.execute(f"UPDATE {quote(rtree(base, sh))} SET id = (? << 32) | id WHERE id IN "
                 f"(SELECT fid FROM {b} WHERE {where})", (gen, *args))
    conn.execute(f"INSERT INTO {quote(history(base))} (fid, gp_id, gp_from, gp_to{names}, {g}) SELECT "
                 f"(? << 32) | fid, fid, gp_from, ?{names}, {g} FROM {b} WHERE {where} ORDER BY fid",
                 (gen, gen, *args))
    conn.execute(f"DELETE FROM {b} WHERE {where}", args)


def _top_id(conn: sqlite3.Connection, base: str) -> int:
    """The largest feature number the base has given (open or closed)."""
    (top,) = conn.execute(f"SELECT max(coalesce((SELECT max(fid) FROM {quote(base)}), 0), "
                          f"coalesce((SELECT max(gp_id) FROM {quote(history(base))}), 0))").fetchone()
    return int(top)


@dataclass(frozen=True)
class Shape:
    """What a version's table looks like: merged into the same base only if equal."""

    geometry: str
    geometry_type: str
    srs_id: int
    z: int
    m: int
    columns: tuple[tuple[str, str], ...]  # (name, declared type), without fid and geometry

    def names(self, prefix: str = "") -> str:
        return "".join(f", {prefix}{quote(n)}" for n, _ in self.columns)


def shape(conn: sqlite3.Connection, schema: str, table: str) -> Shape:
    """The shape of a feature table (``schema``: main or an attached file)."""
    s = quote(schema)
    g = conn.execute(f"SELECT column_name, geometry_type_name, srs_id, z, m FROM {s}.gpkg_geometry_columns "
                     "WHERE lower(table_name) = lower(?)", (table,)).fetchone()
    if g is None:
        raise StoreError(f"{table} is not a feature table of its GeoPackage")
    skip = ("fid", g[0], "gp_rid") if is_view(conn, table, schema) else ("fid", g[0])
    cols = tuple((r[1], (r[2] or "").upper()) for r in conn.execute(f"PRAGMA {s}.table_info({quote(table)})")
                 if r[1] not in skip)
    clash = [n for n, _ in cols if n.lower() in SYSTEM]
    if clash:
        raise StoreError(f"a column is named {clash[0]!r}: that name is the store's own "
                         "(rename the attribute in the source)")
    return Shape(g[0], g[1].upper(), int(g[2]), int(g[3] or 0), int(g[4] or 0), cols)


def _base_shape(conn: sqlite3.Connection, base: str) -> Shape:
    g = conn.execute("SELECT geometry, geometry_type, srs_id, z, m FROM gp_bases WHERE base = ?",
                     (base,)).fetchone()
    cols = tuple((r[1], (r[2] or "").upper()) for r in conn.execute(f"PRAGMA main.table_info({quote(base)})")
                 if r[1] not in ("fid", g[0], *SYSTEM))
    return Shape(g[0], g[1], int(g[2]), int(g[3]), int(g[4]), cols)


def rtree(base: str, sh: Shape) -> str:
    return f"rtree_{base}_{sh.geometry}"


def newest(conn: sqlite3.Connection) -> tuple[int, str | None]:
    """(newest registered generation or 0, its base)."""
    row = conn.execute("SELECT gen, base FROM gp_rowsets ORDER BY gen DESC LIMIT 1").fetchone()
    return (int(row[0]), row[1]) if row else (0, None)


def _new_base(conn: sqlite3.Connection, sh: Shape) -> str:
    base = f"gpf_{secrets.token_hex(4)}"
    _tables(conn, base, history(base), sh)
    conn.execute(f"CREATE VIRTUAL TABLE {quote(rtree(base, sh))} USING rtree(id, minx, maxx, miny, maxy)")
    conn.execute("INSERT INTO gp_bases VALUES (?, ?, ?, ?, ?, ?, 1)",
                 (base, sh.geometry, sh.geometry_type, sh.srs_id, sh.z, sh.m))
    return base


def index_fields(conn: sqlite3.Connection, base: str, fields: list[str]) -> None:
    """An index on each of ``fields`` the base has (the manifest's id field)."""
    names = {r[1] for r in conn.execute(f"PRAGMA main.table_info({quote(base)})")}
    for name in fields:
        if name in names and name not in SYSTEM:
            conn.execute(f"CREATE INDEX IF NOT EXISTS {quote(f'{base}_{name}_idx')} "
                         f"ON {quote(base)} ({quote(name)})")


def _boxes(conn: sqlite3.Connection, schema: str, table: str, sh: Shape) -> str | None:
    """The source table's R-tree, if it has one."""
    name = f"rtree_{table}_{sh.geometry}"
    found = conn.execute(f"SELECT 1 FROM {quote(schema)}.sqlite_master WHERE name = ?", (name,)).fetchone()
    return name if found else None


def _fill_boxes(conn: sqlite3.Connection, base: str, sh: Shape, rids: list[int]) -> None:
    """R-tree entries for rows whose source had none (no R-tree), from their geometry."""
    from geo_publish.store.gpkg_read import geometries

    import shapely

    for k in range(0, len(rids), 10_000):
        part = rids[k:k + 10_000]
        rows = conn.execute(f"SELECT fid, {quote(sh.geometry)} FROM {quote(base)} WHERE fid IN "
                            f"({','.join('?' * len(part))})", part).fetchall()
        geoms = geometries([r[1] for r in rows])
        entries = [(r[0], b[0], b[2], b[1], b[3]) for r, g, b in
                   zip(rows, geoms, shapely.bounds(geoms)) if g is not None and not shapely.is_empty(g)]
        conn.executemany(f"INSERT INTO {quote(rtree(base, sh))} VALUES (?, ?, ?, ?, ?)", entries)


def _match(conn: sqlite3.Connection, src: str, b: str, cols: list[str],
           forced_ids: bool) -> tuple[list[int], list[int]]:
    """(fids of the staged rows that are new, numbers of the open rows they close).

    First by position, in SQL: a staged row equal (every column ``IS``) to the open row whose
    number is its fid stays. That is every unchanged feature of a file edited in place or
    appended to. The rest (a file re-sorted, or rows removed before them) are matched by a hash
    of their values, computed for those rows only: equal rows keep their numbers whatever their
    order. ``forced_ids``: by position only."""
    same = " AND ".join(f"b.{c} IS s.{c}" for c in cols)
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS gp_kept (fid INTEGER PRIMARY KEY)")
    conn.execute("DELETE FROM temp.gp_kept")
    conn.execute(f"INSERT INTO temp.gp_kept SELECT s.fid FROM {src} s JOIN {b} b ON b.fid = s.fid "
                 f"WHERE {same}")
    hashed = "" if forced_ids else f", gp_hash({', '.join(cols)})"
    left: dict[Any, list[int]] = defaultdict(list)
    closed: list[int] = []
    for row in conn.execute(f"SELECT fid{hashed} FROM {b} WHERE fid NOT IN (SELECT fid FROM temp.gp_kept) "
                            "ORDER BY fid"):
        if forced_ids:
            closed.append(row[0])
        else:
            left[row[1]].append(row[0])
    new: list[int] = []
    for row in conn.execute(f"SELECT fid{hashed} FROM {src} WHERE fid NOT IN (SELECT fid FROM temp.gp_kept) "
                            "ORDER BY fid"):
        found = None if forced_ids else left.get(row[1])
        if found:
            found.pop(0)  # the same feature, elsewhere in the file: it keeps its number
        else:
            new.append(row[0])
    closed += [gid for rows in left.values() for gid in rows]
    conn.execute("DELETE FROM temp.gp_kept")
    return new, sorted(closed)


def merge(conn: sqlite3.Connection, schema: str, table: str, view: str, forced_ids: bool = False,
          fields: list[str] | None = None) -> int:
    """Table ``table`` of ``schema`` (an ingest's staging table, or a version table of an older
    store) made the next generation, as view ``view``; the number of its features.

    Rows equal (attributes and geometry) to open rows keep theirs; the others are closed and
    new rows added. ``forced_ids``: each feature keeps its ``fid`` as its number (the move of an
    older store's tables, whose ids must not change); else a changed feature takes the number of
    a replaced one, in order, and a new one the next free number."""
    prepare(conn)
    sh = shape(conn, schema, table)
    gen, base = newest(conn)
    gen += 1
    src = f"{quote(schema)}.{quote(table)}"
    boxes = _boxes(conn, schema, table, sh)
    cols = [quote(n) for n, _ in sh.columns] + [quote(sh.geometry)]
    values, svalues = ", ".join(cols), ", ".join("s." + c for c in cols)
    (lo, hi) = conn.execute(f"SELECT min(fid), max(fid) FROM {src}").fetchone()
    if lo is not None and not 0 < lo <= hi < OPEN:
        raise StoreError(f"{table}: feature ids run from {lo} to {hi}; the store numbers features "
                         f"from 1 to {OPEN - 1}")
    if base is None or _base_shape(conn, base) != sh:
        if base is not None:  # the older versions keep their base; this one starts a new one
            _close(conn, base, gen)
        base = _new_base(conn, sh)
        conn.execute(f"INSERT INTO {quote(base)} (fid, gp_from, {values}) "
                     f"SELECT fid, ?, {values} FROM {src} ORDER BY fid", (gen,))
        if boxes:
            conn.execute(f"INSERT INTO {quote(rtree(base, sh))} SELECT * FROM {quote(schema)}.{quote(boxes)}")
        else:
            _fill_boxes(conn, base, sh, [r[0] for r in conn.execute(f"SELECT fid FROM {quote(base)}")])
    else:
        b = quote(base)
        new, closed = _match(conn, src, b, cols, forced_ids)
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS gp_ids (id INTEGER PRIMARY KEY)")
        conn.execute("DELETE FROM temp.gp_ids")
        conn.executemany("INSERT INTO temp.gp_ids VALUES (?)", [(gid,) for gid in closed])
        _close(conn, base, gen, "fid IN (SELECT id FROM temp.gp_ids)", sh=sh)
        if forced_ids:
            ids = new
        else:
            top = _top_id(conn, base)
            ids = closed[:len(new)] + list(range(top + 1, top + 1 + max(0, len(new) - len(closed))))
            if ids and ids[-1] >= OPEN:
                raise StoreError(f"{table}: the store numbers features from 1 to {OPEN - 1}")
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS gp_new (src INTEGER PRIMARY KEY, id INTEGER NOT NULL)")
        conn.execute("DELETE FROM temp.gp_new")
        conn.executemany("INSERT INTO temp.gp_new VALUES (?, ?)", list(zip(new, ids)))
        conn.execute(f"INSERT INTO {b} (fid, gp_from, {values}) SELECT n.id, ?, {svalues} "
                     f"FROM temp.gp_new n JOIN {src} s ON s.fid = n.src ORDER BY n.id", (gen,))
        if boxes:
            conn.execute(f"INSERT INTO {quote(rtree(base, sh))} SELECT n.id, x.minx, x.maxx, x.miny, x.maxy "
                         f"FROM temp.gp_new n JOIN {quote(schema)}.{quote(boxes)} x ON x.id = n.src")
        else:
            _fill_boxes(conn, base, sh, sorted(ids))
        conn.execute("DELETE FROM temp.gp_new")
        conn.execute("DELETE FROM temp.gp_ids")
    (count,) = conn.execute(f"SELECT count(*) FROM {src}").fetchone()
    index_fields(conn, base, fields or [])
    bbox = conn.execute(f"SELECT min(minx), min(miny), max(maxx), max(maxy) FROM "
                        f"{quote(schema)}.{quote(boxes)}").fetchone() if boxes else None
    make_view(conn, view, base, gen, int(count), bbox)
    return int(count)


def _view_sql(conn: sqlite3.Connection, view: str, base: str, gen: int, top: int) -> str:
    """The view of generation ``gen`` (``top``: the newest). The newest one's rows are the open
    ones: the view is their table, read as a table. An older one's are the open rows it saw and
    the closed rows it saw; SQLite merges the two in fid order (the open table's rowids, the
    history table's ``gp_id`` index). The unary + keeps SQLite off the history's (gp_to,
    gp_from) index, which would give every row of the generation, then a sort."""
    arms = _arms(conn, base, gen, top, named=False)
    return f"CREATE VIEW {quote(view)} AS " + " UNION ALL ".join(arms)


def _arms(conn: sqlite3.Connection, base: str, gen: int, top: int, named: bool) -> list[str]:
    """The SELECTs a generation's view is the union of (see ``_view_sql``); ``named``: the
    history's part names its columns as the view does (fid, gp_rid), to be read on its own."""
    sh = _base_shape(conn, base)
    cols = f"{sh.names()}, {quote(sh.geometry)}"
    head = f"SELECT fid{cols}, fid AS gp_rid FROM {quote(base)}"
    if gen == top:
        return [head]
    g = int(gen)
    fid, rid = ("gp_id AS fid", "fid AS gp_rid") if named else ("gp_id", "fid")
    return [f"{head} WHERE +gp_from <= {g}",
            f"SELECT {fid}{cols}, {rid} FROM {quote(history(base))} WHERE +gp_from <= {g} AND +gp_to > {g}"]


def view_arms(conn: sqlite3.Connection, view: str) -> list[str] | None:
    """An older generation's view as its two parts, each a SELECT with the view's column names;
    None for the newest (a table as it is) or a name that is no generation's view. SQLite puts
    no filter with a subquery (a bbox: ``gp_rid IN (SELECT id FROM rtree ...)``) into a
    compound view, and so scanned both its tables whole: a count in a bbox of a 1,000,000-row
    version took 2 s, as every worker still does for a moment after a new version is
    published. Put on each part, the filter finds its rows by rowid."""
    row = conn.execute("SELECT base, gen, (SELECT max(gen) FROM gp_rowsets) FROM gp_rowsets "
                       "WHERE view = ?", (view,)).fetchone()  # one query: on every filtered read
    if row is None or int(row[1]) == int(row[2]):
        return None
    return _arms(conn, row[0], int(row[1]), int(row[2]), named=True)


def sync_views(conn: sqlite3.Connection, gens: set[int] | None = None) -> None:
    """The views of generations ``gens`` (all when None: after ``split``) as ``_view_sql`` has
    them now. A generation added makes the one before it older (``make_view``: those two), one
    dropped may make another the newest (``clean``: that one); each is made again only if its
    form changed, so an edit costs two views, not one a kept version."""
    top, _ = newest(conn)
    if gens is None:
        rows = conn.execute("SELECT view, base, gen FROM gp_rowsets").fetchall()
    else:
        rows = conn.execute(f"SELECT view, base, gen FROM gp_rowsets WHERE gen IN "
                            f"({','.join('?' * len(gens))})", sorted(gens)).fetchall()
    for view, base, gen in rows:
        want = _view_sql(conn, view, base, int(gen), top)
        have = conn.execute("SELECT sql FROM main.sqlite_master WHERE name = ? AND type = 'view'",
                            (view,)).fetchone()
        if have is None or have[0] != want:
            conn.execute(f"DROP VIEW IF EXISTS main.{quote(view)}")
            conn.execute(want)


def make_view(conn: sqlite3.Connection, view: str, base: str, gen: int, features: int,
              bbox: Any = None) -> None:
    """Generation ``gen`` of ``base`` as a registered GeoPackage feature view."""
    sh = _base_shape(conn, base)
    before, _ = newest(conn)
    conn.execute("INSERT INTO gp_rowsets VALUES (?, ?, ?, ?)", (view, base, gen, features))
    sync_views(conn, {gen, before})
    x0, y0, x1, y1 = bbox if bbox and bbox[0] is not None else (None,) * 4
    conn.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, last_change, min_x, "
                 "min_y, max_x, max_y, srs_id) VALUES (?, 'features', ?, "
                 "strftime('%Y-%m-%dT%H:%M:%fZ','now'), ?, ?, ?, ?, ?)",
                 (view, view, x0, y0, x1, y1, sh.srs_id))
    conn.execute("INSERT INTO gpkg_geometry_columns VALUES (?, ?, ?, ?, ?, ?)",
                 (view, sh.geometry, sh.geometry_type, sh.srs_id, sh.z, sh.m))


def is_view(conn: sqlite3.Connection, name: str, schema: str = "main") -> bool:
    row = conn.execute(f"SELECT type FROM {quote(schema)}.sqlite_master WHERE name = ?", (name,)).fetchone()
    return bool(row and row[0] == "view")


def drop_view(conn: sqlite3.Connection, view: str) -> None:
    """Drop a version's view and what no remaining generation sees (``clean``)."""
    conn.execute(f"DROP VIEW IF EXISTS main.{quote(view)}")
    for meta in ("gpkg_contents", "gpkg_geometry_columns"):
        conn.execute(f"DELETE FROM main.{meta} WHERE lower(table_name) = lower(?)", (view,))
    if conn.execute("SELECT 1 FROM main.sqlite_master WHERE name = 'gp_rowsets'").fetchone():
        row = conn.execute("DELETE FROM gp_rowsets WHERE view = ? RETURNING gen", (view,)).fetchone()
        clean(conn, int(row[0]) if row else 0)


def clean(conn: sqlite3.Connection, dropped: int = 0) -> None:
    """Delete the rows no registered generation sees; reopen the rows the newest one sees that a
    generation since dropped had closed; drop bases no generation uses. Reads the closed rows,
    and the open ones only when ``dropped`` (the generation just dropped) was the newest: a
    scan, for a dead writer's generation; prune keeps the newest."""
    prepare(conn)
    top, _ = newest(conn)
    for (base,) in conn.execute("SELECT base FROM gp_bases").fetchall():
        b, h = quote(base), quote(history(base))
        sh = _base_shape(conn, base)
        tree = quote(rtree(base, sh))
        if conn.execute("SELECT 1 FROM gp_rowsets WHERE base = ?", (base,)).fetchone() is None:
            for table in (tree, h, b):
                conn.execute(f"DROP TABLE IF EXISTS {table}")
            conn.execute("DELETE FROM gp_bases WHERE base = ?", (base,))
            continue
        if dropped > top:
            conn.execute(f"DELETE FROM {tree} WHERE id IN (SELECT fid FROM {b} WHERE gp_from > ?)", (top,))
            conn.execute(f"DELETE FROM {b} WHERE gp_from > ?", (top,))
        dead = (f"SELECT fid FROM {h} x WHERE NOT EXISTS (SELECT 1 FROM gp_rowsets r WHERE "
                "r.base = ? AND r.gen >= x.gp_from AND r.gen < x.gp_to)")
        conn.execute(f"DELETE FROM {tree} WHERE id IN ({dead})", (base,))
        conn.execute(f"DELETE FROM {h} WHERE fid IN ({dead})", (base,))
        # reopened rows go back to the open table at their numbers, which the dead rows freed
        names, g = sh.names(), quote(sh.geometry)
        conn.execute(f"UPDATE {tree} SET id = id & {OPEN - 1} WHERE id IN (SELECT fid FROM {h} WHERE gp_to > ?)",
                     (top,))
        conn.execute(f"INSERT INTO {b} (fid, gp_from{names}, {g}) SELECT gp_id, gp_from{names}, {g} FROM {h} "
                     "WHERE gp_to > ? ORDER BY gp_id", (top,))
        conn.execute(f"DELETE FROM {h} WHERE gp_to > ?", (top,))
    sync_views(conn, {top})


class EditRows:
    """The next generation of a published version's rows, as ``features.apply`` edits it: a
    change closes the feature's row and adds one; the rows it does not touch stay as they are.
    ``rows`` gives rows as the version's view does, without its ``gp_rid`` (so ETags agree
    with the served ones)."""

    def __init__(self, conn: sqlite3.Connection, view: str) -> None:
        prepare(conn)
        self.conn = conn
        base, published, self.features = conn.execute(
            "SELECT base, gen, features FROM gp_rowsets WHERE view = ?", (view,)).fetchone()
        top, current = newest(conn)
        self.gen = top + 1
        self.base, self.b, self.sh = base, quote(base), _base_shape(conn, base)
        self.geometry_type, self.key_col = self.sh.geometry_type, "fid"
        self.columns = {n: d for n, d in self.sh.columns}
        self.tree = quote(rtree(base, self.sh))
        self.added: list[Any] = []
        if current != base or published != top:
            self._rebase(current, published)

    def _rebase(self, current: str | None, published: int) -> None:
        """Make the open rows the published generation's (it is not the newest: a rollback,
        or a draft since)."""
        g, b, names = self.gen, self.b, self.sh.names()
        h = quote(history(self.base))
        if current is not None and current != self.base:
            _close(self.conn, current, g)
        _close(self.conn, self.base, g, "gp_from > ?", (published,), sh=self.sh)
        # the published generation's rows that a later one closed, open again as copies (the
        # closed rows stay for the generations that see them); their boxes copied too
        seen = "gp_from <= ? AND gp_to > ? AND gp_to < ?"
        self.conn.execute(f"INSERT INTO {b} (fid, gp_from{names}, {quote(self.sh.geometry)}) "
                          f"SELECT gp_id, ?{names}, {quote(self.sh.geometry)} FROM {h} WHERE {seen} "
                          "ORDER BY gp_id", (g, published, published, g))
        self.conn.execute(f"INSERT INTO {self.tree} SELECT x.id & {OPEN - 1}, x.minx, x.maxx, x.miny, "
                          f"x.maxy FROM {h} o JOIN {self.tree} x ON x.id = o.fid WHERE o.{seen}",
                          (published, published, g))

    def _select(self) -> str:
        return f"SELECT fid{self.sh.names()}, {quote(self.sh.geometry)} FROM {self.b}"

    def rows(self, column: str, value: Any) -> list[tuple[Any, ...]]:
        col = "fid" if column == "fid" else quote(column)
        return self.conn.execute(f"{self._select()} WHERE {col} = ?", (value,)).fetchall()

    def _box(self, rid: int, geom: Any) -> None:
        self.conn.execute(f"DELETE FROM {self.tree} WHERE id = ?", (rid,))
        if geom is not None and not geom.is_empty:
            x0, y0, x1, y1 = geom.bounds
            self.conn.execute(f"INSERT INTO {self.tree} VALUES (?, ?, ?, ?, ?)", (rid, x0, x1, y0, y1))
            self.added.append(geom.bounds)

    def _open(self, gid: int) -> tuple[int, int]:
        return self.conn.execute(f"SELECT fid, gp_from FROM {self.b} WHERE fid = ?", (gid,)).fetchone()

    def insert(self, props: dict[str, Any], geom: Any) -> int:
        from geo_publish.store.features import gpkg_blob

        gid = _top_id(self.conn, self.base) + 1
        if gid >= OPEN:
            raise StoreError(f"the store numbers features from 1 to {OPEN - 1}")
        names = [quote(n) for n in props] + [quote(self.sh.geometry)]
        self.conn.execute(f"INSERT INTO {self.b} (fid, gp_from, {', '.join(names)}) VALUES "
                          f"(?, ?, {', '.join('?' * len(names))})",
                          (gid, self.gen, *props.values(), gpkg_blob(geom, self.sh.srs_id)))
        self._box(gid, geom)
        self.features += 1
        return int(gid)

    def update(self, gid: int, props: dict[str, Any], geom: Any) -> None:
        from geo_publish.store.features import gpkg_blob

        rid, since = self._open(gid)
        if since != self.gen:  # the feature's current row stays for the older versions, closed
            _close(self.conn, self.base, self.gen, "fid = ?", (rid,), sh=self.sh)
            g, old = quote(self.sh.geometry), (self.gen << 32) | rid
            self.conn.execute(f"INSERT INTO {self.b} (fid, gp_from{self.sh.names()}, {g}) SELECT "
                              f"gp_id, ?{self.sh.names()}, {g} FROM {quote(history(self.base))} WHERE fid = ?",
                              (self.gen, old))
            if geom is None:
                self.conn.execute(f"INSERT INTO {self.tree} SELECT ?, minx, maxx, miny, maxy FROM "
                                  f"{self.tree} WHERE id = ?", (rid, old))
        sets = [f"{quote(n)} = ?" for n in props]
        args: list[Any] = list(props.values())
        if geom is not None:
            sets.append(f"{quote(self.sh.geometry)} = ?")
            args.append(gpkg_blob(geom, self.sh.srs_id))
        if sets:
            self.conn.execute(f"UPDATE {self.b} SET {', '.join(sets)} WHERE fid = ?", (*args, rid))
        if geom is not None:
            self._box(rid, geom)

    def delete(self, gid: int) -> None:
        rid, since = self._open(gid)
        if since == self.gen:  # added by this edit: no version has it
            self.conn.execute(f"DELETE FROM {self.b} WHERE fid = ?", (rid,))
            self.conn.execute(f"DELETE FROM {self.tree} WHERE id = ?", (rid,))
        else:
            _close(self.conn, self.base, self.gen, "fid = ?", (rid,), sh=self.sh)
        self.features -= 1

    def finish(self, view: str, bbox: list[float] | None) -> tuple[int, list[float] | None]:
        """The edited rows made generation ``gen`` as ``view``: (features, bbox). The bbox grows
        to hold what was added; a deletion at the edge leaves it as it was (no scan)."""
        box = grown(bbox, self.added)
        make_view(self.conn, view, self.base, self.gen, self.features, box)
        return self.features, box
