"""Versioned rows on PostGIS: the model of ``store/gpkg_rows.py`` in SQL.

A collection's features are two tables of the store's schema (a *base*): ``gpf_<cid>_<token>``
holds the open rows, one a feature, keyed by its stable number ``fid`` (its OGC id), with the
generation that added it (``gp_from``); ``gph_<cid>_<token>`` holds the closed rows, with their
number (``gp_id``), the generation that added them and the one that replaced or removed them
(``gp_to``). Both have a GiST index on ``geom``. A version is a view of its generation's rows
(``gp_versions.layer`` names it): the newest one's is the open table itself, so a scan, a filter
or a page reads what a table of that version alone would; an older one's is the union of the
open and closed rows it saw, which the planner merges in fid order (a Merge Append of the two
tables' indexes). Generations are numbered per collection (``gp_rowsets``); each is written as a
diff against the newest, in set-based SQL: rows equal to the open row at their position first,
then the rest by an MD5 of their attributes and geometry; a closed row moves to the history
table. A base of the first layout (one table, ``gp_to`` NULL while open) is ``split`` on the
collection's next write.

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
OPEN_COLUMNS = ("fid", "gp_from")  # the open table's own columns, before the attributes
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


def history(base: str) -> str:
    """The table of a base's closed rows."""
    return "gph_" + base.removeprefix("gpf_")


def _tables(conn: Any, q: Q, base: str, hist: str, cols: tuple[tuple[str, str], ...], geom: str) -> None:
    attrs = "".join(f", {quote(n)} {t}" for n, t in cols)
    conn.execute(f"CREATE TABLE {q(base)} (fid bigint PRIMARY KEY, gp_from integer NOT NULL{attrs}, "
                 f"geom {geom})")
    conn.execute(f"CREATE INDEX ON {q(base)} USING gist (geom)")
    conn.execute(f"CREATE TABLE {q(hist)} (gp_id bigint NOT NULL, gp_from integer NOT NULL, gp_to integer "
                 f"NOT NULL{attrs}, geom {geom})")
    conn.execute(f"CREATE INDEX ON {q(hist)} (gp_id)")
    conn.execute(f"CREATE INDEX ON {q(hist)} (gp_to, gp_from)")
    conn.execute(f"CREATE INDEX ON {q(hist)} USING gist (geom)")


def _new_base(conn: Any, q: Q, collection: str, cols: tuple[tuple[str, str], ...], geom: str) -> str:
    base = f"gpf_{collection.replace('-', '_')[:40]}_{secrets.token_hex(4)}"
    _tables(conn, q, base, history(base), cols, geom)
    conn.execute(f"INSERT INTO {q('gp_bases')} VALUES (%s, %s)", (base, collection))
    return base


def is_split(conn: Any, q: Q, base: str) -> bool:
    return conn.execute("SELECT to_regclass(%s)", (q(history(base)),)).fetchone()[0] is not None


def split(conn: Any, q: Q, collection: str) -> int:
    """Give the collection's bases of the first layout (one table: an identity ``fid``,
    ``gp_id``, ``gp_from``, ``gp_to`` NULL while open) this one: the open rows a table keyed by
    their numbers, the closed rows the history table; its views made again. Under the
    collection's lock, in the caller's transaction; the number of bases split."""
    done = 0
    for (base,) in conn.execute(f"SELECT base FROM {q('gp_bases')} WHERE collection = %s",
                                (collection,)).fetchall():
        if is_split(conn, q, base) or conn.execute("SELECT to_regclass(%s)", (q(base),)).fetchone()[0] is None:
            continue
        cols, geom = shape(conn, q(base))
        names = _names(cols)
        fields = [r[0] for r in conn.execute(  # the id field's index (index_fields)
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = %s::regclass "
            "AND NOT i.indisprimary", (q(base),)).fetchall()
            if "(gp_id)" not in r[0] and " gist " not in r[0]]
        tmp = f"gpf_split_{secrets.token_hex(4)}"
        _tables(conn, q, tmp, history(base), cols, geom)
        conn.execute(f"INSERT INTO {q(tmp)} (fid, gp_from{names}, geom) SELECT gp_id, gp_from{names}, geom "
                     f"FROM {q(base)} WHERE gp_to IS NULL ORDER BY gp_id")
        conn.execute(f"INSERT INTO {q(history(base))} (gp_id, gp_from, gp_to{names}, geom) SELECT gp_id, "
                     f"gp_from, gp_to{names}, geom FROM {q(base)} WHERE gp_to IS NOT NULL ORDER BY gp_id")
        conn.execute(f"DROP TABLE {q(base)} CASCADE")  # and its views, made again below
        conn.execute(f"ALTER TABLE {q(tmp)} RENAME TO {quote(base)}")
        for sql in fields:  # the id field's index
            conn.execute(sql)
        conn.execute(f"ANALYZE {q(base)}")
        conn.execute(f"ANALYZE {q(history(base))}")
        done += 1
    if done:
        sync_views(conn, q, collection)
    return done


def _close(conn: Any, q: Q, base: str, gen: int, where: str = "true", args: tuple[Any, ...] = (),
           cols: tuple[tuple[str, str], ...] | None = None) -> None:
    """Close the open rows of ``base`` that ``where`` selects, as of ``gen``: each moves to the
    history table. ``cols``: the base's attributes, when the caller has them."""
    names = _names(cols if cols is not None else shape(conn, q(base))[0])
    conn.execute(f"WITH gone AS (DELETE FROM {q(base)} WHERE {where} RETURNING *) "
                 f"INSERT INTO {q(history(base))} (gp_id, gp_from, gp_to{names}, geom) "
                 f"SELECT fid, gp_from, %s{names}, geom FROM gone", (*args, gen))


def _top_id(conn: Any, q: Q, base: str) -> int:
    (top,) = conn.execute(f"SELECT greatest(coalesce((SELECT max(fid) FROM {q(base)}), 0), "
                          f"coalesce((SELECT max(gp_id) FROM {q(history(base))}), 0))").fetchone()
    return int(top)


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
    split(conn, q, collection)
    gen, base = newest(conn, q, collection)
    gen += 1
    names = _names(cols)
    if base is None or shape(conn, q(base)) != (cols, geom):
        if base is not None:  # the older versions keep their base; this one starts a new one
            _close(conn, q, base, gen)
        base = _new_base(conn, q, collection, cols, geom)
        conn.execute(f"INSERT INTO {q(base)} (fid, gp_from{names}, geom) SELECT fid, %s"
                     f"{names}, geom FROM {staged} ORDER BY fid", (gen,))
        conn.execute(f"ANALYZE {q(base)}")  # a new table: the planner knows nothing of it yet
    else:
        b = q(base)
        both = (f"ROW({', '.join([f's.{quote(n)}' for n, _ in cols] + ['s.geom'])}) IS NOT DISTINCT FROM "
                f"ROW({', '.join([f'b.{quote(n)}' for n, _ in cols] + ['b.geom'])})")
        # by position first: the staged row equal to the open row whose number is its fid stays
        # (every unchanged feature of a file edited in place or appended to: no hashing)
        conn.execute("DROP TABLE IF EXISTS gp_same")
        conn.execute(f"CREATE TEMP TABLE gp_same ON COMMIT DROP AS SELECT s.fid AS sfid, b.fid AS rid "
                     f"FROM {staged} s JOIN {b} b ON b.fid = s.fid WHERE {both}")
        # the rest by an MD5 of their values (rows that moved in the file keep their numbers)
        hashed = "false" if forced_ids else "o.h = sk.h AND o.k = sk.k"
        conn.execute("DROP TABLE IF EXISTS gp_match")
        conn.execute(
            f"CREATE TEMP TABLE gp_match ON COMMIT DROP AS "
            f"WITH o0 AS (SELECT b.fid AS rid, b.fid AS gp_id, {_hash(cols, 'b.')} AS h FROM {b} b WHERE "
            f"NOT EXISTS (SELECT 1 FROM gp_same m WHERE m.rid = b.fid)), "
            f"o AS (SELECT *, row_number() OVER (PARTITION BY h ORDER BY gp_id) AS k FROM o0), "
            f"s0 AS (SELECT s.fid AS sfid, {_hash(cols, 's.')} AS h FROM {staged} s WHERE NOT EXISTS "
            f"(SELECT 1 FROM gp_same m WHERE m.sfid = s.fid)), "
            f"sk AS (SELECT *, row_number() OVER (PARTITION BY h ORDER BY sfid) AS k FROM s0) "
            f"SELECT o.rid, o.gp_id, sk.sfid FROM o FULL JOIN sk ON {hashed}")
        top = _top_id(conn, q, base)
        _close(conn, q, base, gen, "fid IN (SELECT rid FROM gp_match WHERE sfid IS NULL)", cols=cols)
        if forced_ids:
            ids, freed = "fresh.sfid", ""
        else:
            ids = "coalesce(freed.gp_id, %s::bigint + fresh.n - (SELECT count(*) FROM freed))"
            freed = " LEFT JOIN freed ON freed.n = fresh.n"
        conn.execute(
            f"WITH freed AS (SELECT gp_id, row_number() OVER (ORDER BY gp_id) AS n FROM gp_match "
            f"WHERE sfid IS NULL AND rid IS NOT NULL), "
            f"fresh AS (SELECT sfid, row_number() OVER (ORDER BY sfid) AS n FROM gp_match "
            f"WHERE rid IS NULL) "
            f"INSERT INTO {b} (fid, gp_from{names}, geom) SELECT {ids}, %s"
            f"{_names(cols, 's.')}, s.geom FROM fresh{freed} JOIN {staged} s ON s.fid = fresh.sfid "
            "ORDER BY fresh.sfid", ((gen,) if forced_ids else (top, gen)))
    (count,) = conn.execute(f"SELECT count(*) FROM {staged}").fetchone()
    index_fields(conn, q, base, fields or [])
    make_view(conn, q, collection, view, base, gen, int(count))
    return int(count)


def _view_sql(conn: Any, q: Q, view: str, base: str, gen: int, top: int) -> str:
    """Generation ``gen``'s view (``top``: the newest): the open table itself for the newest, the
    open and closed rows it saw for an older one. Each side of the union is a subquery ordered by
    fid: PostgreSQL 15 merges them for a page in fid order (a Merge Append of the two tables'
    indexes, stopping at the limit); with plain filtered branches it sorted every row. A
    query's own conditions still reach each side's indexes."""
    cols, _ = shape(conn, q(base))
    names = _names(cols)
    if gen == top:
        return f"CREATE VIEW {q(view)} AS SELECT fid{names}, geom FROM {q(base)}"
    g = int(gen)
    return (f"CREATE VIEW {q(view)} AS SELECT * FROM (SELECT fid{names}, geom FROM {q(base)} "
            f"WHERE gp_from <= {g} ORDER BY fid) o UNION ALL SELECT * FROM (SELECT gp_id{names}, geom "
            f"FROM {q(history(base))} WHERE gp_from <= {g} AND gp_to > {g} ORDER BY gp_id) h")


def sync_views(conn: Any, q: Q, collection: str, gens: set[int] | None = None) -> None:
    """The collection's views of generations ``gens`` (all when None: after ``split``, whose
    tables took every view with them) in their form now (``_view_sql``). A generation added
    makes the one before it older (``make_view``: those two), one dropped may make another the
    newest (``clean``: that one); each is made again only if its form changed."""
    top, _ = newest(conn, q, collection)
    rows = conn.execute(f"SELECT view, base, gen FROM {q('gp_rowsets')} WHERE collection = %s"
                        + ("" if gens is None else " AND gen = ANY(%s)"),
                        (collection,) if gens is None else (collection, sorted(gens))).fetchall()
    for view, base, gen in rows:
        if gens is not None:
            found = conn.execute("SELECT pg_get_viewdef(to_regclass(%s))", (q(view),)).fetchone()[0]
            if found is not None and ("UNION" in found.upper()) == (int(gen) != top):
                continue
        conn.execute(f"DROP VIEW IF EXISTS {q(view)}")
        conn.execute(_view_sql(conn, q, view, base, int(gen), top))


def make_view(conn: Any, q: Q, collection: str, view: str, base: str, gen: int, features: int) -> None:
    before, _ = newest(conn, q, collection)
    conn.execute(f"INSERT INTO {q('gp_rowsets')} VALUES (%s, %s, %s, %s, %s)",
                 (view, collection, base, gen, features))
    sync_views(conn, q, collection, {gen, before})


def is_view(conn: Any, q: Q, name: str) -> bool:
    row = conn.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", (q(name),)).fetchone()
    return bool(row and row[0] == "v")


def drop_version(conn: Any, q: Q, layer: str) -> tuple[str, int] | None:
    """Drop a version's view (or, in a store written before versioned rows, its table); the
    collection whose rows must then be ``clean``ed, and the generation dropped."""
    row = conn.execute(f"DELETE FROM {q('gp_rowsets')} WHERE view = %s RETURNING collection, gen",
                       (layer,)).fetchone()
    if row:
        conn.execute(f"DROP VIEW IF EXISTS {q(layer)}")
        return str(row[0]), int(row[1])
    conn.execute(f"DROP TABLE IF EXISTS {q(layer)}")
    return None


def clean(conn: Any, q: Q, collection: str, dropped: int = 0) -> None:
    """Delete the rows no remaining generation of ``collection`` sees, reopen those its newest
    sees, drop the bases no generation uses (see gpkg_rows.clean); the open rows are read only
    when ``dropped`` (the newest generation dropped) was above the newest left."""
    split(conn, q, collection)
    top, _ = newest(conn, q, collection)
    for (base,) in conn.execute(f"SELECT base FROM {q('gp_bases')} WHERE collection = %s",
                                (collection,)).fetchall():
        b, h = q(base), q(history(base))
        if conn.execute(f"SELECT 1 FROM {q('gp_rowsets')} WHERE base = %s LIMIT 1", (base,)).fetchone() is None:
            conn.execute(f"DROP TABLE IF EXISTS {h}")
            conn.execute(f"DROP TABLE IF EXISTS {b} CASCADE")
            conn.execute(f"DELETE FROM {q('gp_bases')} WHERE base = %s", (base,))
            continue
        if dropped > top:
            conn.execute(f"DELETE FROM {b} WHERE gp_from > %s", (top,))
        conn.execute(f"DELETE FROM {h} x WHERE NOT EXISTS (SELECT 1 FROM {q('gp_rowsets')} r WHERE "
                     "r.base = %s AND r.gen >= x.gp_from AND r.gen < x.gp_to)", (base,))
        cols, _ = shape(conn, b)
        names = _names(cols)
        conn.execute(f"WITH back AS (DELETE FROM {h} WHERE gp_to > %s RETURNING *) INSERT INTO {b} "
                     f"(fid, gp_from{names}, geom) SELECT gp_id, gp_from{names}, geom FROM back", (top,))
    sync_views(conn, q, collection, {top})


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
    gpkg_rows.EditRows): a change moves the feature's open row to the history table and adds
    one."""

    def __init__(self, conn: Any, q: Q, collection: str, view: str, geometry_type: str) -> None:
        self.conn, self.q, self.collection = conn, q, collection
        split(conn, q, collection)
        base, published, self.features = conn.execute(
            f"SELECT base, gen, features FROM {q('gp_rowsets')} WHERE view = %s", (view,)).fetchone()
        top, current = newest(conn, q, collection)
        self.gen = top + 1
        self.base, self.b, self.h = base, q(base), q(history(base))
        self.cols, geom = shape(conn, self.b)
        self.columns = {n: PG_DECL.get(t, "TEXT") for n, t in self.cols}
        self.geometry_type = geometry_type
        self.geom_sql = "ST_SetSRID(ST_GeomFromWKB(%s), 4326)"
        if "Z," in geom.upper():
            self.geom_sql = f"ST_Force3D({self.geom_sql})"
        self.key_col = "fid"
        self.added: list[tuple[float, float, float, float]] = []
        if current != base or published != top:
            # make the open rows the published generation's (a rollback, or a draft since)
            if current is not None and current != base:
                _close(conn, q, current, self.gen)
            _close(conn, q, base, self.gen, "gp_from > %s", (published,), self.cols)
            names = _names(self.cols)
            conn.execute(f"INSERT INTO {self.b} (fid, gp_from{names}, geom) SELECT gp_id, %s{names}, geom "
                         f"FROM {self.h} WHERE gp_from <= %s AND gp_to > %s AND gp_to < %s ORDER BY gp_id",
                         (self.gen, published, published, self.gen))

    def _select(self) -> str:
        return f"SELECT fid{_names(self.cols)}, geom FROM {self.b}"

    def rows(self, column: str, value: Any) -> list[tuple[Any, ...]]:
        return self.conn.execute(f"{self._select()} WHERE {quote(column)} = %s", (value,)).fetchall()  # type: ignore[no-any-return]

    def _open(self, gid: int) -> tuple[int, int]:
        return self.conn.execute(f"SELECT fid, gp_from FROM {self.b} WHERE fid = %s",  # type: ignore[no-any-return]
                                 (gid,)).fetchone()

    def insert(self, props: dict[str, Any], geom: Any) -> int:
        import shapely

        gid = _top_id(self.conn, self.q, self.base) + 1
        names = "".join(f", {quote(n)}" for n in props)
        self.conn.execute(f"INSERT INTO {self.b} (fid, gp_from{names}, geom) VALUES (%s, %s"
                          f"{', %s' * len(props)}, {self.geom_sql})",
                          (gid, self.gen, *props.values(), shapely.to_wkb(geom)))
        self.added.append(geom.bounds)
        self.features += 1
        return int(gid)

    def update(self, gid: int, props: dict[str, Any], geom: Any) -> None:
        import shapely

        rid, since = self._open(gid)
        if since != self.gen:  # the feature's open row goes to the history, a copy stays open
            names = _names(self.cols)
            self.conn.execute(f"INSERT INTO {self.h} (gp_id, gp_from, gp_to{names}, geom) SELECT fid, "
                              f"gp_from, %s{names}, geom FROM {self.b} WHERE fid = %s", (self.gen, rid))
            self.conn.execute(f"UPDATE {self.b} SET gp_from = %s WHERE fid = %s", (self.gen, rid))
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
            _close(self.conn, self.q, self.base, self.gen, "fid = %s", (rid,), self.cols)
        self.features -= 1

    def finish(self, view: str, bbox: list[float] | None) -> tuple[int, list[float] | None]:
        box = grown(bbox, self.added)
        make_view(self.conn, self.q, self.collection, view, self.base, self.gen, self.features)
        return self.features, box
