"""Versioned rows on PostGIS: the model of ``store/gpkg_rows.py`` in SQL.

A collection's features are one table of the store's schema (a *base*, ``gpf_<token>``, with a
GiST index on ``geom``): each row carries the feature's stable number ``gp_id`` (its OGC id),
the generation that added it (``gp_from``) and the one that replaced or removed it (``gp_to``,
NULL while current). A version is a view of its generation's rows (``gp_versions.layer`` names
it); the planner pushes a query's conditions into the base and its indexes. Generations are
numbered per collection (``gp_rowsets``); each is written as a diff against the newest, in
set-based SQL: rows equal to the current row at their position first, then the rest by an MD5
of their attributes and geometry.

Everything here runs inside the caller's transaction, after it took the collection's advisory
lock (``gp:<collection>``): generations are a line, so a second writer of the collection waits
for the first to commit. Views, rows and the registry are written in that one transaction, so a
version is published whole or not at all, as before.
"""

from __future__ import annotations

import secrets
from typing import Any, Callable

from geo_publish.errors import StoreError
from geo_publish.store.base import grown, quote

SYSTEM = ("gp_id", "gp_from", "gp_to", "gp_hash")
# PostgreSQL's type names as the readers and Part 4's checks name a column's type
PG_DECL = {"bigint": "INTEGER", "integer": "INTEGER", "smallint": "INTEGER",
           "double precision": "DOUBLE", "real": "REAL", "numeric": "DOUBLE", "boolean": "BOOLEAN",
           "date": "DATE", "timestamp without time zone": "DATETIME",
           "timestamp with time zone": "DATETIME", "text": "TEXT"}
Q = Callable[[str], str]


def ddl(q: Q) -> str:
    return (f"CREATE TABLE IF NOT EXISTS {q('gp_rowsets')} (view text PRIMARY KEY, collection text "
            "NOT NULL, base text NOT NULL, gen integer NOT NULL, features bigint NOT NULL, "
            "UNIQUE (collection, gen));"
            f"CREATE TABLE IF NOT EXISTS {q('gp_bases')} (base text PRIMARY KEY, collection text NOT NULL);"
            f"CREATE INDEX IF NOT EXISTS gp_bases_collection ON {q('gp_bases')} (collection);")


def lock(conn: Any, collection: str) -> None:
    """The collection's write lock, held until the transaction ends."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"gp:{collection}",))


def shape(conn: Any, relation: str) -> tuple[tuple[tuple[str, str], ...], str]:
    """((name, type) of the attributes, the geometry column's type) of a table or view
    (``relation`` as SQL names it), without the store's own columns."""
    rows = conn.execute("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE "
                        "attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                        (relation,)).fetchall()
    geom = next((t for n, t in rows if n == "geom"), "geometry")
    return tuple((n, t) for n, t in rows if n not in ("fid", "geom", *SYSTEM)), geom


def _hash(cols: tuple[tuple[str, str], ...], prefix: str = "") -> str:
    names = ", ".join([f"{prefix}{quote(n)}" for n, _ in cols] + [f"{prefix}geom"])
    return f"decode(md5(ROW({names})::text), 'hex')"


def _names(cols: tuple[tuple[str, str], ...], prefix: str = "") -> str:
    return "".join(f", {prefix}{quote(n)}" for n, _ in cols)


def newest(conn: Any, q: Q, collection: str) -> tuple[int, str | None]:
    row = conn.execute(f"SELECT gen, base FROM {q('gp_rowsets')} WHERE collection = %s "
                       "ORDER BY gen DESC LIMIT 1", (collection,)).fetchone()
    return (int(row[0]), row[1]) if row else (0, None)


def _new_base(conn: Any, q: Q, collection: str, cols: tuple[tuple[str, str], ...], geom: str) -> str:
    base = f"gpf_{collection.replace('-', '_')[:40]}_{secrets.token_hex(4)}"
    b = q(base)
    attrs = "".join(f", {quote(n)} {t}" for n, t in cols)
    # closing a row (gp_to) is an UPDATE of a column no index holds, with room left on each page
    # (fillfactor): PostgreSQL writes it in place (a HOT update), so the table stays in feature
    # order and a read in fid order stays a walk, not a scatter (an index on gp_to scattered
    # every closed row to the table's end: reads of a filter took 2x as long)
    conn.execute(f"CREATE TABLE {b} (fid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, gp_id bigint "
                 f"NOT NULL, gp_from integer NOT NULL, gp_to integer{attrs}, geom {geom}) "
                 "WITH (fillfactor = 90)")
    conn.execute(f"CREATE INDEX ON {b} (gp_id)")
    conn.execute(f"CREATE INDEX ON {b} USING gist (geom)")
    conn.execute(f"INSERT INTO {q('gp_bases')} VALUES (%s, %s)", (base, collection))
    return base


def index_fields(conn: Any, q: Q, base: str, fields: list[str]) -> None:
    cols, _ = shape(conn, q(base))
    for name in fields:
        if any(n == name for n, _ in cols):
            conn.execute(f"CREATE INDEX IF NOT EXISTS {quote(f'{base}_{name}_idx'[:63])} ON {q(base)} "
                         f"({quote(name)})")


def merge(conn: Any, q: Q, collection: str, staged: str, view: str, forced_ids: bool = False,
          fields: list[str] | None = None) -> int:
    """Table ``staged`` (SQL name; ``fid`` 1..N, attributes, ``geom``) made the collection's next
    generation as view ``view``; its number of features. ``forced_ids``: each feature keeps its
    fid as its number (an older store's version tables); else a changed feature takes the number
    of a replaced one, in order, and a new one the next free number."""
    cols, geom = shape(conn, staged)
    clash = conn.execute("SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
                         "AND NOT attisdropped AND attname = ANY(%s)", (staged, list(SYSTEM))).fetchone()
    if clash:
        raise StoreError(f"a column is named {clash[0]!r}: that name is the store's own "
                         "(rename the attribute in the source)")
    gen, base = newest(conn, q, collection)
    gen += 1
    names = _names(cols)
    if base is None or shape(conn, q(base)) != (cols, geom):
        if base is not None:  # the older versions keep their base; this one starts a new one
            conn.execute(f"UPDATE {q(base)} SET gp_to = %s WHERE gp_to IS NULL", (gen,))
        base = _new_base(conn, q, collection, cols, geom)
        conn.execute(f"INSERT INTO {q(base)} (gp_id, gp_from{names}, geom) SELECT fid, %s"
                     f"{names}, geom FROM {staged} ORDER BY fid", (gen,))
    else:
        b = q(base)
        both = (f"ROW({', '.join([f's.{quote(n)}' for n, _ in cols] + ['s.geom'])}) IS NOT DISTINCT FROM "
                f"ROW({', '.join([f'b.{quote(n)}' for n, _ in cols] + ['b.geom'])})")
        # by position first: the staged row equal to the open row whose number is its fid stays
        # (every unchanged feature of a file edited in place or appended to: no hashing)
        conn.execute("DROP TABLE IF EXISTS gp_same")
        conn.execute(f"CREATE TEMP TABLE gp_same ON COMMIT DROP AS SELECT s.fid AS sfid, b.fid AS rid "
                     f"FROM {staged} s JOIN {b} b ON b.gp_id = s.fid AND b.gp_to IS NULL WHERE {both}")
        # the rest by an MD5 of their values (rows that moved in the file keep their numbers)
        hashed = "false" if forced_ids else "o.h = sk.h AND o.k = sk.k"
        conn.execute("DROP TABLE IF EXISTS gp_match")
        conn.execute(
            f"CREATE TEMP TABLE gp_match ON COMMIT DROP AS "
            f"WITH o0 AS (SELECT b.fid AS rid, b.gp_id, {_hash(cols, 'b.')} AS h FROM {b} b WHERE "
            f"b.gp_to IS NULL AND NOT EXISTS (SELECT 1 FROM gp_same m WHERE m.rid = b.fid)), "
            f"o AS (SELECT *, row_number() OVER (PARTITION BY h ORDER BY gp_id) AS k FROM o0), "
            f"s0 AS (SELECT s.fid AS sfid, {_hash(cols, 's.')} AS h FROM {staged} s WHERE NOT EXISTS "
            f"(SELECT 1 FROM gp_same m WHERE m.sfid = s.fid)), "
            f"sk AS (SELECT *, row_number() OVER (PARTITION BY h ORDER BY sfid) AS k FROM s0) "
            f"SELECT o.rid, o.gp_id, sk.sfid FROM o FULL JOIN sk ON {hashed}")
        conn.execute(f"UPDATE {b} SET gp_to = %s WHERE fid IN (SELECT rid FROM gp_match WHERE "
                     "sfid IS NULL)", (gen,))
        if forced_ids:
            ids = "fresh.sfid"
            freed = ""
        else:
            ids = "coalesce(freed.gp_id, top.t + fresh.n - (SELECT count(*) FROM freed))"
            freed = (" LEFT JOIN freed ON freed.n = fresh.n CROSS JOIN top")
        conn.execute(
            f"WITH freed AS (SELECT gp_id, row_number() OVER (ORDER BY gp_id) AS n FROM gp_match "
            f"WHERE sfid IS NULL AND rid IS NOT NULL), "
            f"fresh AS (SELECT sfid, row_number() OVER (ORDER BY sfid) AS n FROM gp_match "
            f"WHERE rid IS NULL), top AS (SELECT coalesce(max(gp_id), 0) AS t FROM {b}) "
            f"INSERT INTO {b} (gp_id, gp_from{names}, geom) SELECT {ids}, %s"
            f"{_names(cols, 's.')}, s.geom FROM fresh{freed} JOIN {staged} s ON s.fid = fresh.sfid "
            "ORDER BY fresh.sfid", (gen,))
    (count,) = conn.execute(f"SELECT count(*) FROM {staged}").fetchone()
    index_fields(conn, q, base, fields or [])
    make_view(conn, q, collection, view, base, gen, int(count))
    return int(count)


def make_view(conn: Any, q: Q, collection: str, view: str, base: str, gen: int, features: int) -> None:
    cols, _ = shape(conn, q(base))
    conn.execute(f"CREATE VIEW {q(view)} AS SELECT gp_id AS fid{_names(cols)}, geom FROM {q(base)} "
                 f"WHERE gp_from <= {int(gen)} AND (gp_to IS NULL OR gp_to > {int(gen)})")
    conn.execute(f"INSERT INTO {q('gp_rowsets')} VALUES (%s, %s, %s, %s, %s)",
                 (view, collection, base, gen, features))


def is_view(conn: Any, q: Q, name: str) -> bool:
    row = conn.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", (q(name),)).fetchone()
    return bool(row and row[0] == "v")


def drop_version(conn: Any, q: Q, layer: str) -> str | None:
    """Drop a version's view (or, in a store written before versioned rows, its table); the
    collection whose rows must then be ``clean``ed."""
    row = conn.execute(f"DELETE FROM {q('gp_rowsets')} WHERE view = %s RETURNING collection",
                       (layer,)).fetchone()
    if row:
        conn.execute(f"DROP VIEW IF EXISTS {q(layer)}")
        return str(row[0])
    conn.execute(f"DROP TABLE IF EXISTS {q(layer)}")
    return None


def clean(conn: Any, q: Q, collection: str) -> None:
    """Delete the rows no remaining generation of ``collection`` sees, reopen those its newest
    sees, drop the bases no generation uses (see gpkg_rows.clean)."""
    top, _ = newest(conn, q, collection)
    for (base,) in conn.execute(f"SELECT base FROM {q('gp_bases')} WHERE collection = %s",
                                (collection,)).fetchall():
        b = q(base)
        if conn.execute(f"SELECT 1 FROM {q('gp_rowsets')} WHERE base = %s LIMIT 1", (base,)).fetchone() is None:
            conn.execute(f"DROP TABLE IF EXISTS {b}")
            conn.execute(f"DELETE FROM {q('gp_bases')} WHERE base = %s", (base,))
            continue
        conn.execute(f"DELETE FROM {b} WHERE gp_to IS NULL AND gp_from > %s", (top,))
        conn.execute(f"DELETE FROM {b} x WHERE gp_to IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
                     f"{q('gp_rowsets')} r WHERE r.base = %s AND r.gen >= x.gp_from AND r.gen < x.gp_to)",
                     (base,))
        conn.execute(f"UPDATE {b} SET gp_to = NULL WHERE gp_to > %s", (top,))


def digest(conn: Any, relation: str) -> tuple[int, str]:
    """(rows, MD5 over (fid, attributes, geometry) in fid order) of a version's table or view."""
    cols, _ = shape(conn, relation)
    row = conn.execute(f"SELECT count(*), md5(string_agg(md5(ROW(fid{_names(cols)}, geom)::text), '' "
                       f"ORDER BY fid)) FROM {relation}").fetchone()
    return int(row[0]), str(row[1])


def fold(conn: Any, q: Q, collection: str) -> int:
    """Make the version tables of a store written before versioned rows versions of the
    collection's rows, oldest first, each checked (rows, ids, attributes, geometry) before its
    version row points at the view and the table is dropped; in the caller's transaction."""
    done = 0
    for version, table in conn.execute(
            f"SELECT version, layer FROM {q('gp_versions')} WHERE collection = %s AND layer != '' "
            "ORDER BY version", (collection,)).fetchall():
        row = conn.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", (q(table),)).fetchone()
        if not row or row[0] != "r":  # a view already, or a raster's file
            continue
        view = f"gpv_{collection.replace('-', '_')}_{secrets.token_hex(4)}"
        merge(conn, q, collection, q(table), view, forced_ids=True)
        if digest(conn, q(table)) != digest(conn, q(view)):
            raise StoreError(f"{collection} v{version}: its rows as a version differ from {table}; "
                             "nothing was changed")
        conn.execute(f"UPDATE {q('gp_versions')} SET layer = %s WHERE collection = %s AND version = %s",
                     (view, collection, version))
        conn.execute(f"DROP TABLE {q(table)}")
        done += 1
    return done


class PgRows:
    """The next generation of a published version's rows, as ``features.apply`` edits it (see
    gpkg_rows.EditRows): a change closes the feature's row and adds one."""

    def __init__(self, conn: Any, q: Q, collection: str, view: str, geometry_type: str) -> None:
        self.conn, self.q, self.collection = conn, q, collection
        base, published, self.features = conn.execute(
            f"SELECT base, gen, features FROM {q('gp_rowsets')} WHERE view = %s", (view,)).fetchone()
        top, current = newest(conn, q, collection)
        self.gen = top + 1
        self.base, self.b = base, q(base)
        self.cols, geom = shape(conn, self.b)
        self.columns = {n: PG_DECL.get(t, "TEXT") for n, t in self.cols}
        self.geometry_type = geometry_type
        self.geom_sql = "ST_SetSRID(ST_GeomFromWKB(%s), 4326)"
        if "Z," in geom.upper():
            self.geom_sql = f"ST_Force3D({self.geom_sql})"
        self.key_col = "fid"
        self.added: list[tuple[float, float, float, float]] = []
        if current != base or published != top:
            g, b, names = self.gen, self.b, _names(self.cols)
            if current is not None and current != base:
                conn.execute(f"UPDATE {q(current)} SET gp_to = %s WHERE gp_to IS NULL", (g,))
            conn.execute(f"UPDATE {b} SET gp_to = %s WHERE gp_to IS NULL AND gp_from > %s", (g, published))
            conn.execute(f"INSERT INTO {b} (gp_id, gp_from{names}, geom) SELECT gp_id, %s"
                         f"{names}, geom FROM {b} WHERE gp_from <= %s AND gp_to IS NOT NULL "
                         "AND gp_to > %s ORDER BY gp_id", (g, published, published))

    def _select(self) -> str:
        return f"SELECT gp_id{_names(self.cols)}, geom FROM {self.b} WHERE gp_to IS NULL"

    def rows(self, column: str, value: Any) -> list[tuple[Any, ...]]:
        col = "gp_id" if column == "fid" else quote(column)
        return self.conn.execute(f"{self._select()} AND {col} = %s", (value,)).fetchall()  # type: ignore[no-any-return]

    def _open(self, gid: int) -> tuple[int, int]:
        return self.conn.execute(f"SELECT fid, gp_from FROM {self.b} WHERE gp_id = %s AND gp_to IS NULL",  # type: ignore[no-any-return]
                                 (gid,)).fetchone()

    def insert(self, props: dict[str, Any], geom: Any) -> int:
        import shapely

        (gid,) = self.conn.execute(f"SELECT coalesce(max(gp_id), 0) + 1 FROM {self.b}").fetchone()
        names = "".join(f", {quote(n)}" for n in props)
        (rid,) = self.conn.execute(
            f"INSERT INTO {self.b} (gp_id, gp_from{names}, geom) VALUES (%s, %s"
            f"{', %s' * len(props)}, {self.geom_sql}) RETURNING fid",
            (gid, self.gen, *props.values(), shapely.to_wkb(geom))).fetchone()
        self.added.append(geom.bounds)
        self.features += 1
        return int(gid)

    def update(self, gid: int, props: dict[str, Any], geom: Any) -> None:
        import shapely

        rid, since = self._open(gid)
        if since != self.gen:  # the feature's current row stays for the older versions
            self.conn.execute(f"UPDATE {self.b} SET gp_to = %s WHERE fid = %s", (self.gen, rid))
            names = _names(self.cols)
            (rid,) = self.conn.execute(
                f"INSERT INTO {self.b} (gp_id, gp_from{names}, geom) SELECT gp_id, %s{names}, geom "
                f"FROM {self.b} WHERE fid = %s RETURNING fid", (self.gen, rid)).fetchone()
        sets = [f"{quote(n)} = %s" for n in props]
        args: list[Any] = list(props.values())
        if geom is not None:
            sets.append(f"geom = {self.geom_sql}")
            args.append(shapely.to_wkb(geom))
            self.added.append(geom.bounds)
        if sets:
            self.conn.execute(f"UPDATE {self.b} SET {', '.join(sets)} WHERE fid = %s", (*args, rid))

    def delete(self, gid: int) -> None:
        rid, since = self._open(gid)
        if since == self.gen:
            self.conn.execute(f"DELETE FROM {self.b} WHERE fid = %s", (rid,))
        else:
            self.conn.execute(f"UPDATE {self.b} SET gp_to = %s WHERE fid = %s", (self.gen, rid))
        self.features -= 1

    def finish(self, view: str, bbox: list[float] | None) -> tuple[int, list[float] | None]:
        box = grown(bbox, self.added)
        make_view(self.conn, self.q, self.collection, view, self.base, self.gen, self.features)
        return self.features, box
