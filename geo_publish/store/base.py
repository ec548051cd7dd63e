"""The Store interface every backend implements."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa

if TYPE_CHECKING:
    import geopandas as gpd

    from geo_publish.store.accounts import Accounts


def now() -> str:
    """The time a store records (versions, publishing): UTC, whole seconds, ISO 8601."""
    from datetime import UTC, datetime

    return datetime.now(UTC).replace(microsecond=0).isoformat()


def pg_sql(sql: str) -> str:
    """SQL written with ``?`` placeholders as psycopg takes it (``%s``, a literal ``%`` doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


def quote(name: str) -> str:
    """An SQL identifier, quoted (SQLite and PostgreSQL alike)."""
    return '"' + name.replace('"', '""') + '"'


def pg_layout(conn: Any, schema: str, script: str, key: str) -> None:
    """Run ``script`` (``CREATE TABLE/INDEX IF NOT EXISTS`` statements; tables named
    ``"schema"."name"`` or ``schema.name``, indexes bare) on PostgreSQL unless every table and
    index it creates is in ``schema`` already, under the advisory lock ``key``.

    Looked up by name first, which locks no table: ``CREATE INDEX IF NOT EXISTS`` takes a share
    lock on its table even when the index exists, so a process's first connection, setting up
    while another process's publish held some of these tables, deadlocked with it (two
    ingests side by side on one store)."""
    import re

    names = sorted({m.group(1).strip('"').rpartition(".")[2].strip('"') for m in re.finditer(
        r"CREATE (?:TABLE|INDEX) IF NOT EXISTS (\S+)", script)})
    found = conn.execute("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                         "WHERE n.nspname = %s AND c.relname = ANY(%s)", (schema, names)).fetchone()[0]
    if found == len(names):
        return
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (key,))
        conn.execute(script)


@dataclass(frozen=True)
class VersionInfo:
    collection: str
    version: int
    created: str
    feature_count: int
    quarantined: int
    bbox: list[float] | None
    sha256: str | None
    geometry_type: str | None
    published: bool
    layer: str
    quarantine_layer: str | None

    @property
    def pruned(self) -> bool:
        """Its features are no longer kept (``prune``): its passport, report and quarantine are."""
        return self.layer == ""

    def readable(self) -> VersionInfo:
        """This version, if its features are still kept; else a one-line NotFound."""
        if self.pruned:
            from geo_publish.errors import NotFound

            raise NotFound(f"version {self.version} of {self.collection!r} is no longer kept: "
                           "only the newest versions keep their features (store.keep_versions)",
                           hint="see `geo-publish history ID`")
        return self


def grown(bbox: list[float] | None, boxes: Iterable[tuple[float, float, float, float]]) -> list[float] | None:
    """``bbox`` grown to hold ``boxes`` (x0, y0, x1, y1): an edit's new extent, without a scan
    (a feature deleted at the edge leaves it as it was)."""
    box = list(bbox) if bbox else None
    for x0, y0, x1, y1 in boxes:
        box = [x0, y0, x1, y1] if box is None else [min(box[0], x0), min(box[1], y0),
                                                    max(box[2], x1), max(box[3], y1)]
    return box


GRACE_S = 60  # a version superseded less than this long ago may still be read by a worker


def prunable(rows: Iterable[tuple[str, int, str, str, int | None]], keep: int,
             at: str | None = None) -> list[tuple[str, int, str]]:
    """(collection, version, layer) of the versions ``prune`` may drop, from (collection,
    version, layer, created, published version) of every version: all but the ``keep`` newest
    of each collection and its published one, once superseded for ``GRACE_S`` seconds. Versions
    already pruned (no layer) are not listed again."""
    from datetime import UTC, datetime, timedelta

    def when(text: str) -> datetime:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return t if t.tzinfo else t.replace(tzinfo=UTC)

    limit = when(at or now()) - timedelta(seconds=GRACE_S)
    by: dict[str, list[tuple[int, str, str, int | None]]] = {}
    for collection, version, layer, created, published in rows:
        by.setdefault(collection, []).append((int(version), layer, created, published))
    out = []
    for collection, versions in sorted(by.items()):
        versions.sort(reverse=True)
        for k, (version, layer, _created, published) in enumerate(versions):
            successor_created = versions[k - 1][2] if k else None
            if (k >= keep and version != published and layer
                    and successor_created is not None and when(successor_created) <= limit):
                out.append((collection, version, layer))
    return sorted(out)


def raster_file(layer: str) -> Path | None:
    """The COG file a raster version's row names (an absolute path), else None."""
    path = Path(layer)
    return path if path.is_absolute() and path.suffix == ".tif" else None


class Staging(Protocol):
    """A version being written; invisible to readers until ``commit``. Fields named in
    ``index_fields`` (set before ``write_features``) get an index."""

    index_fields: list[str]

    def prepare(self, geometry_type: str) -> None:
        """Called once before the stream starts, while the ingest has a single thread."""

    def write_features(self, stream: pa.RecordBatchReader, geometry_type: str) -> None: ...

    def write_quarantine(self, rows: Iterable[dict[str, Any]]) -> None: ...

    def commit(self, *, passport: dict[str, Any], report: dict[str, Any], feature_count: int,
               quarantined: int, bbox: list[float] | None, sha256: str | None,
               geometry_type: str, publish: bool = True) -> int: ...

    def abort(self) -> None: ...


class Store(Protocol):
    def begin(self, collection: str) -> Staging: ...

    def collections(self, min_features: int = 0) -> list[VersionInfo]: ...

    def history(self, collection: str) -> list[VersionInfo]: ...

    def version(self, collection: str, version: int | None = None) -> VersionInfo: ...

    def passport(self, collection: str, version: int | None = None) -> dict[str, Any]: ...

    def report(self, collection: str, version: int | None = None) -> dict[str, Any]: ...

    def published_passports(self, only: list[str] | None = None) -> dict[str, dict[str, Any]]:
        """The passport of every published version (of ``only``), by collection, in one query."""

    def published_keys(self) -> dict[str, tuple[int, str]]:
        """Each published collection's (version, when it was published), in one query."""

    def read(self, collection: str, version: int | None = None) -> gpd.GeoDataFrame: ...

    def quarantine(self, collection: str, version: int | None = None) -> list[dict[str, Any]]: ...

    def rollback(self, collection: str, to: int) -> VersionInfo:
        """Publish version ``to`` (an older one, or a draft never published)."""

    def set_passport(self, collection: str, version: int, passport: dict[str, Any]) -> None:
        """Replace the passport kept with a version (edited in the portal before publishing)."""

    def first_published(self, collection: str) -> str | None: ...

    def sync_index(self) -> int:
        """Make the catalogue's index (``store/records.py``) agree with what is published."""

    def prune(self, keep: int, collection: str | None = None) -> list[tuple[str, int]]:
        """Drop the features of the versions ``prunable`` names; (collection, version) of each."""

    def accounts(self, pooled: bool = False) -> Accounts:
        """The publishing portal's tables: organisations, people, tokens, jobs, audit log."""
