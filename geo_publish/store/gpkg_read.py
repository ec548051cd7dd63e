"""Read side of the GeoPackage store for the server: plain sqlite3, no SpatiaLite.

One read-only connection per thread and store file. What a version's table looks like (columns,
types, R-tree, whether its fids run 1..N) is learnt once: versions are immutable. Which version
is published is asked on every request (one indexed lookup), so a new version is served as soon
as its publish transaction commits.
"""

from __future__ import annotations

import json
import sqlite3
import struct
import os
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import shapely


_local = threading.local()
_lock = threading.Lock()
_tables: dict[tuple[str, str], Table] = {}
_first: dict[Any, threading.Lock] = {}

# GeoPackage geometry blob: "GP", version, flags, srs_id, then an envelope sized by flags bits 1-3
_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}
_JSON_TYPES = {"INTEGER": "integer", "MEDIUMINT": "integer", "SMALLINT": "integer",
               "TINYINT": "integer", "INT": "integer", "BOOLEAN": "boolean", "REAL": "number",
               "DOUBLE": "number", "FLOAT": "number", "DATE": "string", "DATETIME": "string"}
_FORMATS = {"DATE": "date", "DATETIME": "date-time"}
_CONVERSE = {"within": "contains", "contains": "within"}


@dataclass(frozen=True)
class Published:
    collection: str
    version: int
    table: str
    feature_count: int
    bbox: list[float] | None


@dataclass(frozen=True)
class Table:
    name: str
    columns: dict[str, str]  # property name -> SQLite declared type (upper case)
    geometry: str
    geometry_type: str  # upper case, as gpkg_geometry_columns says
    rtree: str | None
    first_fid: int | None  # fids run first_fid .. first_fid + count - 1 with no gap
    file: str = ""  # the SQLite file that holds it (a collection's layer file, or the store)
    row_id: str = "fid"  # the column the R-tree's ids are (a version of versioned rows: gp_rid)

    def json_type(self, column: str) -> dict[str, str]:
        decl = self.columns[column]
        out = {"type": _JSON_TYPES.get(decl.split("(")[0], "string")}
        if decl in _FORMATS:
            out["format"] = _FORMATS[decl]
        return out


def wkb_of(blob: bytes | None) -> bytes | None:
    if blob is None or len(blob) < 8 or blob[:2] != b"GP":
        return None
    flags = blob[3]
    if flags & 0b10000:  # empty geometry
        return None
    return blob[8 + _ENVELOPE_BYTES.get((flags >> 1) & 0b111, 0):]


def geometries(blobs: list[bytes | None]) -> np.ndarray:
    return shapely.from_wkb(np.array([wkb_of(b) for b in blobs], dtype=object), on_invalid="ignore")


@lru_cache(maxsize=64)
def _literal(wkb: bytes) -> shapely.Geometry:
    geom = shapely.from_wkb(wkb)
    shapely.prepare(geom)
    return geom


def _relate(op: str, blob: bytes | None, wkb: bytes) -> int:
    wkb_feature = wkb_of(blob)
    if wkb_feature is None:
        return 0
    geom = shapely.from_wkb(wkb_feature)
    # the literal is prepared; shapely uses that when it is the first argument
    return int(getattr(shapely, _CONVERSE.get(op, op))(_literal(wkb), geom))


def _in_box(blob: bytes | None, x0: float, y0: float, x1: float, y1: float) -> int:
    """Is a (multi)point inside the box? Read off the WKB, without GEOS: bbox requests on point
    layers call this for every candidate the R-tree gives."""
    wkb = wkb_of(blob)
    if wkb is None or len(wkb) < 5:
        return 0
    order = "<" if wkb[0] == 1 else ">"
    kind = struct.unpack_from(order + "I", wkb, 1)[0]
    base, dims = kind % 1000, kind // 1000
    if base == 1:
        x, y = struct.unpack_from(order + "dd", wkb, 5)
        return int(x0 <= x <= x1 and y0 <= y <= y1)
    if base != 4 or dims > 3:
        return _relate("intersects", blob, shapely.to_wkb(shapely.box(x0, y0, x1, y1)))
    n = struct.unpack_from(order + "I", wkb, 5)[0]
    stride = 5 + 8 * (2 + (dims in (1, 2)) + 2 * (dims == 3))
    pos = 9
    for _ in range(n):
        inner = "<" if wkb[pos] == 1 else ">"
        x, y = struct.unpack_from(inner + "dd", wkb, pos + 5)
        if x0 <= x <= x1 and y0 <= y <= y1:
            return 1
        pos += stride
    return 0


def _fold(value: object) -> object:
    return value.casefold() if isinstance(value, str) else value


def layers_dir(store: Path | str) -> Path:
    """Where a GeoPackage store keeps its collections' layer files: ``store.gpkg`` →
    ``store.layers/`` beside it."""
    path = Path(store)
    return path.with_name(path.stem + ".layers")


def layer_ref(collection: str, table: str) -> str:
    """How ``gp_versions.layer`` names a table in a collection's layer file."""
    return f"{collection}.gpkg#{table}"


def locate(store: Path | str, layer: str) -> tuple[str, str]:
    """(file, table) of a version's table: ``<collection>.gpkg#<table>`` is in the collection's
    layer file; a bare table name (stores written before layer files) is in the store file."""
    file, sep, table = layer.rpartition("#")
    if not sep:
        return str(store), layer
    return str(layers_dir(store) / file), table


OPEN_FILES = 64  # read connections a thread keeps open (the least recently used is closed)


def connect(path: Path | str) -> sqlite3.Connection:
    """This thread's read-only connection to a store or layer file. A server reading 10,000
    layer files keeps only the ``OPEN_FILES`` it used last (file descriptors are finite)."""
    key = str(path)
    conns: dict[str, sqlite3.Connection] = getattr(_local, "conns", None) or {}
    _local.conns = conns
    conn = conns.pop(key, None)
    if conn is not None:
        conns[key] = conn  # most recently used last
        return conn
    if len(conns) >= OPEN_FILES:
        conns.pop(next(iter(conns))).close()
    if conn is None:
        conn = sqlite3.connect(f"file:{key}?mode=ro", uri=True, timeout=30)
        conn.execute("PRAGMA case_sensitive_like = ON")  # CQL2 LIKE is case-sensitive
        conn.create_function("gp_relate", 3, _relate, deterministic=True)
        conn.create_function("gp_fold", 1, _fold, deterministic=True)
        conn.create_function("gp_in_box", 5, _in_box, deterministic=True)
        conns[key] = conn
    return conn


def published(path: Path | str, collection: str) -> Published | None:
    row = connect(path).execute(
        "SELECT v.version, v.layer, v.feature_count, v.bbox FROM gp_published p JOIN gp_versions v "
        "ON v.collection = p.collection AND v.version = p.version WHERE p.collection = ?",
        (collection,),
    ).fetchone()
    if row is None:
        return None
    return Published(collection, row[0], row[1], row[2], json.loads(row[3]) if row[3] else None)


def file_state(path: Path | str) -> tuple[int, ...] | None:
    """Changes whenever the database does: size and modification time of the file and of its
    write-ahead log (a commit appends to the log; a checkpoint writes the file). None if absent."""
    out: list[int] = []
    for p in (str(path), f"{path}-wal"):
        try:
            st = os.stat(p)
        except OSError:
            if p == str(path):
                return None
            continue
        out += [st.st_mtime_ns, st.st_size, st.st_ino]
    return tuple(out)


_published_cache: dict[str, tuple[tuple[int, ...], float, dict[str, int]]] = {}
KEEP_PUBLISHED = 5.0  # seconds at most (a file's times tick coarsely: two commits can share one)


def all_published(path: Path | str) -> dict[str, int]:
    """On a connection of its own, closed at once: this is also called by processes that then
    open the file with GDAL's SQLite (the site builder, the CLI), and two SQLite libraries in one
    process must not hold the same WAL database open together (closing one drops the other's
    POSIX locks). Opening costs SQLite a parse of the whole schema (65 ms with 200 layers and
    their R-trees), and every serving worker and the site builder ask each second: the answer
    is kept while the file is unchanged."""
    from contextlib import closing

    state = file_state(path)
    kept = _published_cache.get(str(path))
    if (state is not None and kept is not None and kept[0] == state
            and time.monotonic() - kept[1] < KEEP_PUBLISHED):
        return dict(kept[2])
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as conn:
            rows = conn.execute("SELECT collection, version FROM gp_published").fetchall()
    except sqlite3.Error:
        return {}
    if state is not None and state == file_state(path):  # unchanged while we read
        _published_cache[str(path)] = (state, time.monotonic(), dict(rows))
    return dict(rows)


def first_only(key: Any) -> threading.Lock:
    """A lock per key: what many threads ask at once is worked out by one of them. When a new
    version goes live, every request in flight asks for its table at the same moment; each
    working it out (a count over a million rows) kept every reader of the server waiting for
    seconds."""
    with _lock:
        found = _first.get(key)
        if found is None:
            found = _first[key] = threading.Lock()
        return found


def table(path: Path | str, layer: str) -> Table:
    """What a version's table (as ``gp_versions.layer`` names it) looks like."""
    key = (str(path), layer)
    found = _tables.get(key)
    if found is not None:
        return found
    with first_only(key):
        found = _tables.get(key)
        return found if found is not None else _describe(*locate(path, layer), key)


def view_arms(t: Table) -> list[str] | None:
    """The parts of an older version's view (``gpkg_rows.view_arms``), read now: a version's
    view changes form when a newer one is published."""
    if t.row_id != "gp_rid":  # not a version of versioned rows (its file has gp_rowsets)
        return None
    from geo_publish.store.gpkg_rows import view_arms as arms

    return arms(connect(t.file), t.name)


def _describe(path: str, name: str, key: tuple[str, str]) -> Table:
    conn = connect(path)
    geometry = conn.execute("SELECT column_name, geometry_type_name FROM gpkg_geometry_columns "
                            "WHERE table_name = ?", (name,)).fetchone()
    geom_col, geom_type = (geometry[0], geometry[1].upper()) if geometry else ("geometry", "GEOMETRY")
    columns = {r[1]: (r[2] or "TEXT").upper() for r in conn.execute(f'PRAGMA table_info("{name}")')
               if r[1] not in ("fid", geom_col, "gp_rid")}
    rowset = conn.execute("SELECT base, features FROM gp_rowsets WHERE view = ?", (name,)).fetchone() \
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'gp_rowsets'").fetchone() else None
    if rowset:  # a version of the collection's rows (store/gpkg_rows.py): its count is kept
        rtree_name, row_id, n = f"rtree_{rowset[0]}_{geom_col}", "gp_rid", rowset[1]
        lo = conn.execute(f'SELECT fid FROM "{name}" ORDER BY fid LIMIT 1').fetchone()
        hi = conn.execute(f'SELECT fid FROM "{name}" ORDER BY fid DESC LIMIT 1').fetchone()
        lo, hi = (lo[0], hi[0]) if lo and hi else (None, None)
    else:
        rtree_name, row_id = f"rtree_{name}_{geom_col}", "fid"
        lo, hi, n = conn.execute(f'SELECT min(fid), max(fid), count(*) FROM "{name}"').fetchone()
    has_rtree = conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (rtree_name,)).fetchone()
    first = lo if n and hi - lo + 1 == n else (1 if not n else None)
    found = Table(name, columns, geom_col, geom_type, rtree_name if has_rtree else None, first,
                  path, row_id)
    with _lock:
        _tables[key] = found
    return found


class Interrupted(Exception):
    """The query ran past its deadline and SQLite stopped it."""


def rows(path: Path | str, sql: str, params: list[Any],
         timeout: float | None = None) -> list[tuple[Any, ...]]:
    conn = connect(path)
    if timeout is None:
        return conn.execute(sql, params).fetchall()
    import time

    deadline = time.monotonic() + timeout
    # called every 10,000 SQLite VM steps (and so between calls of gp_relate): a non-zero
    # return interrupts the statement
    conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
    try:
        return conn.execute(sql, params).fetchall()
    except sqlite3.OperationalError as err:
        if "interrupted" in str(err):
            raise Interrupted(str(err)) from err
        raise
    finally:
        conn.set_progress_handler(None, 0)


