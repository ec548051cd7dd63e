"""The catalogue's index (``gp_records``): one row per published layer, kept by the store in the
same transaction that publishes (a version, a rollback, an edit, a passport change), read by
the API's records collection (``/collections/catalogue/items``) and the site's index. Full text
through SQLite FTS5 (``gp_records_fts``) or a PostgreSQL ``tsvector``, over the terms of
``store/search.py``; the other filters (bbox, datetime, organisation, keyword, format,
freshness) are columns. A search costs what it finds, with ten layers or ten thousand."""

from __future__ import annotations

import json
from typing import Any

from geo_publish.schedule import milestones
from geo_publish.store.catalogue import json_column
from geo_publish.store.search import index_terms

COLUMNS = ("collection", "version", "title", "description", "keywords", "organization",
           "license", "format", "created", "updated", "frequency", "due_at", "overdue_at",
           "delinquent_at", "minx", "miny", "maxx", "maxy", "doc", "terms")
LANGS = ("en", "ru", "uz")


def _texts(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [str(v) for v in value.values() if v]
    return [str(value)] if value else []


def _first(value: Any, fallback: str) -> str:
    if isinstance(value, dict):
        return next((str(value[k]) for k in LANGS if value.get(k)), fallback)
    return str(value) if value else fallback


def record_row(collection: str, version: int, created: str, passport: dict[str, Any],
               geometry_type: str | None, bbox: list[float] | None) -> dict[str, Any]:
    """The index row of a published version (``created``: when the version was made, which
    freshness is counted from)."""
    ext = passport.get("extent") or bbox or [-180, -90, 180, 90]
    contact = passport.get("responsible") or {}
    keywords = [str(k) for k in passport.get("keywords") or []]  # the passport's themes
    frequency = passport.get("update_frequency")
    due = milestones(frequency, created)
    fmt = "raster" if geometry_type == "Raster" else "vector"
    doc = {
        "type": "dataset", "title": passport.get("title") or {"en": collection},
        "description": passport.get("description") or {},
        "keywords": keywords, "language": "en",
        "created": passport.get("first_published"), "updated": passport.get("last_modified"),
        "license": passport.get("license") or None, "version": str(version),
        "organization": passport.get("organization") or None,
        "contacts": [{"name": contact.get("name"), "organization": passport.get("organization"),
                      "emails": [{"value": contact["email"]}] if contact.get("email") else [],
                      "roles": ["pointOfContact"]}],
        "feature_count": passport.get("feature_count"), "format": fmt,
        "geometry_type": geometry_type, "update_frequency": frequency, "version_created": created,
    }
    terms = index_terms(collection.replace("-", " ").replace("_", " "),
                        *_texts(passport.get("title")), *_texts(passport.get("description")),
                        *keywords, str(passport.get("organization") or ""))
    return {
        "collection": collection, "version": version,
        "title": _first(passport.get("title"), collection),
        "description": _first(passport.get("description"), ""),
        # between bars, lower case: "|kw|" matches a whole keyword
        "keywords": "|" + "|".join(k.lower() for k in keywords) + "|",
        "organization": passport.get("organization") or None, "license": passport.get("license") or None,
        "format": fmt, "created": passport.get("first_published"),
        "updated": passport.get("last_modified") or created, "frequency": frequency or "unknown",
        "due_at": due[0] if due else None, "overdue_at": due[1] if due else None,
        "delinquent_at": due[2] if due else None,
        "minx": float(ext[0]), "miny": float(ext[1]), "maxx": float(ext[2]), "maxy": float(ext[3]),
        "doc": json.dumps(doc, ensure_ascii=False), "terms": terms,
    }


# SQLite (the GeoPackage store's catalogue file): the table and its FTS5 index
SQLITE_DDL = """
CREATE TABLE IF NOT EXISTS gp_records (
  collection TEXT PRIMARY KEY, version INTEGER NOT NULL, title TEXT, description TEXT,
  keywords TEXT, organization TEXT, license TEXT, format TEXT, created TEXT, updated TEXT,
  frequency TEXT, due_at TEXT, overdue_at TEXT, delinquent_at TEXT,
  minx REAL, miny REAL, maxx REAL, maxy REAL, doc TEXT NOT NULL, terms TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS gp_records_updated ON gp_records (updated);
CREATE INDEX IF NOT EXISTS gp_records_organization ON gp_records (organization);
CREATE VIRTUAL TABLE IF NOT EXISTS gp_records_fts USING fts5(collection UNINDEXED, terms,
  tokenize = 'unicode61');
"""


def sqlite_index(conn: Any, collection: str) -> None:
    """Make ``collection``'s index row what its published version says (none if unpublished);
    in the caller's transaction."""
    row = conn.execute(
        "SELECT v.version, v.created, v.passport, v.geometry_type, v.bbox FROM gp_published p "
        "JOIN gp_versions v ON v.collection = p.collection AND v.version = p.version "
        "WHERE p.collection = ?", (collection,)).fetchone()
    conn.execute("DELETE FROM gp_records WHERE collection = ?", (collection,))
    conn.execute("DELETE FROM gp_records_fts WHERE collection = ?", (collection,))
    if row is None:
        return
    version, created, passport, gtype, bbox = row
    rec = record_row(collection, version, created, json_column(passport), gtype, json_column(bbox))
    conn.execute(f"INSERT INTO gp_records ({', '.join(COLUMNS)}) VALUES "
                 f"({', '.join('?' for _ in COLUMNS)})", [rec[c] for c in COLUMNS])
    conn.execute("INSERT INTO gp_records_fts (collection, terms) VALUES (?, ?)",
                 (collection, rec["terms"]))


def stale_sql(q: Any) -> str:
    """The published collections whose index row is missing or not of the published version,
    and index rows of collections no longer published: what ``sync`` makes right."""
    return (f"SELECT p.collection FROM {q('gp_published')} p LEFT JOIN {q('gp_records')} r "
            "ON r.collection = p.collection WHERE r.version IS NULL OR r.version != p.version "
            f"UNION SELECT r.collection FROM {q('gp_records')} r LEFT JOIN {q('gp_published')} p "
            "ON p.collection = r.collection WHERE p.collection IS NULL")


def pg_ddl(q: Any) -> str:
    """PostgreSQL: the table, with the terms as a ``tsvector`` under a GIN index."""
    return f"""
CREATE TABLE IF NOT EXISTS {q('gp_records')} (
  collection text PRIMARY KEY, version integer NOT NULL, title text, description text,
  keywords text, organization text, license text, format text, created text, updated text,
  frequency text, due_at text, overdue_at text, delinquent_at text,
  minx double precision, miny double precision, maxx double precision, maxy double precision,
  doc jsonb NOT NULL, terms tsvector NOT NULL);
CREATE INDEX IF NOT EXISTS gp_records_terms ON {q('gp_records')} USING gin (terms);
CREATE INDEX IF NOT EXISTS gp_records_updated ON {q('gp_records')} (updated);
CREATE TABLE IF NOT EXISTS {q('gp_changes')} (id integer PRIMARY KEY, n bigint NOT NULL);
INSERT INTO {q('gp_changes')} VALUES (1, 0) ON CONFLICT DO NOTHING;
"""


def pg_index(conn: Any, q: Any, collection: str) -> None:
    """``sqlite_index`` on PostgreSQL (psycopg, in the caller's transaction)."""
    from psycopg.rows import tuple_row

    row = conn.cursor(row_factory=tuple_row).execute(
        f"SELECT v.version, v.created, v.passport, v.geometry_type, v.bbox FROM {q('gp_published')} p "
        f"JOIN {q('gp_versions')} v ON v.collection = p.collection AND v.version = p.version "
        "WHERE p.collection = %s", (collection,)).fetchone()
    conn.execute(f"DELETE FROM {q('gp_records')} WHERE collection = %s", (collection,))
    # what the server's workers look at each second (PostgreSQL has no file times): committed
    # with what it counts
    conn.execute(f"UPDATE {q('gp_changes')} SET n = n + 1 WHERE id = 1")
    if row is None:
        return
    version, created, passport, gtype, bbox = row
    rec = record_row(collection, version, created, json_column(passport), gtype, json_column(bbox))
    cols = [c for c in COLUMNS if c != "terms"]
    conn.execute(f"INSERT INTO {q('gp_records')} ({', '.join(cols)}, terms) VALUES "
                 f"({', '.join('%s' for _ in cols)}, to_tsvector('simple', %s))",
                 [rec[c] for c in cols] + [rec["terms"]])
