"""The Store interface every backend implements."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa

if TYPE_CHECKING:
    import geopandas as gpd

    from geo_publish.store.accounts import Accounts


def now() -> str:
    """The time a store records (versions, publishing): UTC, whole seconds, ISO 8601."""
    from datetime import UTC, datetime

    return datetime.now(UTC).replace(microsecond=0).isoformat()


def quote(name: str) -> str:
    """An SQL identifier, quoted (SQLite and PostgreSQL alike)."""
    return '"' + name.replace('"', '""') + '"'


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

    def collections(self) -> list[VersionInfo]: ...

    def history(self, collection: str) -> list[VersionInfo]: ...

    def version(self, collection: str, version: int | None = None) -> VersionInfo: ...

    def passport(self, collection: str, version: int | None = None) -> dict[str, Any]: ...

    def report(self, collection: str, version: int | None = None) -> dict[str, Any]: ...

    def read(self, collection: str, version: int | None = None) -> gpd.GeoDataFrame: ...

    def quarantine(self, collection: str, version: int | None = None) -> list[dict[str, Any]]: ...

    def rollback(self, collection: str, to: int) -> VersionInfo:
        """Publish version ``to`` (an older one, or a draft never published)."""

    def set_passport(self, collection: str, version: int, passport: dict[str, Any]) -> None:
        """Replace the passport kept with a version (edited in the portal before publishing)."""

    def first_published(self, collection: str) -> str | None: ...

    def accounts(self, pooled: bool = False) -> Accounts:
        """The publishing portal's tables: organisations, people, tokens, jobs, audit log."""
