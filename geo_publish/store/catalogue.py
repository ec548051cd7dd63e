"""The version catalogue, written once for both backends: which versions each collection has
(``gp_versions``: layer, counts, bbox, checksum, passport, report) and which is published
(``gp_published``). The SQL is the same text for SQLite and PostgreSQL (``?`` placeholders,
tables named by ``q``); a backend gives how to run it and where the store is. What differs
stays with the backend: writing versions, reading features, locks for rollback and prune."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Any

from geo_publish.errors import NotFound
from geo_publish.store.base import VersionInfo

_COLUMNS = ("v.collection, v.version, v.layer, v.quarantine, v.created, v.feature_count, "
            "v.quarantined, v.bbox, v.sha256, v.geometry_type")


def json_column(value: Any) -> Any:
    """A JSON column as read: text from SQLite, already parsed from PostgreSQL's jsonb."""
    return json.loads(value) if isinstance(value, (str, bytes)) else value


class VersionCatalogue(ABC):
    where: str  # the store, as messages name it (never a password)

    @abstractmethod
    def q(self, name: str) -> str:
        """A table of the store as SQL names it."""

    @abstractmethod
    def _fetch(self, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Rows as dicts; ``sql`` has ``?`` placeholders."""

    def _exists(self) -> bool:
        return True

    def _select(self) -> str:
        return (f"SELECT {_COLUMNS}, (p.version = v.version) AS is_published "
                f"FROM {self.q('gp_versions')} v LEFT JOIN {self.q('gp_published')} p "
                "ON p.collection = v.collection")

    def _prune_candidates(self, collection: str | None) -> tuple[str, tuple[Any, ...]]:
        """(collection, version, layer, created, published version) of every version, for
        ``base.prunable``."""
        sql = (f"SELECT v.collection, v.version, v.layer, v.created, p.version "
               f"FROM {self.q('gp_versions')} v LEFT JOIN {self.q('gp_published')} p "
               "ON p.collection = v.collection" + (" WHERE v.collection = ?" if collection else ""))
        return sql, ((collection,) if collection else ())

    @staticmethod
    def _info(row: dict[str, Any]) -> VersionInfo:
        return VersionInfo(
            collection=row["collection"], version=row["version"], created=row["created"],
            feature_count=row["feature_count"], quarantined=row["quarantined"],
            bbox=json_column(row["bbox"]) if row["bbox"] else None, sha256=row["sha256"],
            geometry_type=row["geometry_type"], published=bool(row["is_published"]),
            layer=row["layer"], quarantine_layer=row["quarantine"],
        )

    def published_keys(self) -> dict[str, tuple[int, str]]:
        """Each published collection's (version, when it was published): one small row each,
        what tells a server which collections a publish, an edit or a rollback changed."""
        if not self._exists():
            return {}
        rows = self._fetch(f"SELECT collection, version, updated FROM {self.q('gp_published')}")
        return {r["collection"]: (r["version"], r["updated"]) for r in rows}

    def collections(self, min_features: int = 0) -> list[VersionInfo]:
        """The published version of every collection (of those with at least ``min_features``)."""
        if not self._exists():
            return []
        rows = self._fetch(self._select() + " WHERE p.version = v.version"
                           + (" AND v.feature_count >= ?" if min_features else "")
                           + " ORDER BY v.collection", (min_features,) if min_features else ())
        return [self._info(r) for r in rows]

    def history(self, collection: str) -> list[VersionInfo]:
        rows = self._fetch(self._select() + " WHERE v.collection = ? ORDER BY v.version", (collection,))
        if not rows:
            raise NotFound(f"collection {collection!r} is not in the store ({self.where})")
        return [self._info(r) for r in rows]

    def version(self, collection: str, version: int | None = None) -> VersionInfo:
        """A version (the published one when ``version`` is None), or NotFound."""
        if version is None:
            rows = self._fetch(self._select() + " WHERE v.collection = ? AND p.version = v.version",
                               (collection,))
        else:
            rows = self._fetch(self._select() + " WHERE v.collection = ? AND v.version = ?",
                               (collection, version))
        if not rows:
            what = f"version {version} of " if version is not None else ""
            raise NotFound(f"{what}collection {collection!r} is not in the store ({self.where})",
                           hint="see `geo-publish list` and `geo-publish history ID`")
        return self._info(rows[0])

    def _document(self, column: str, collection: str, version: int | None) -> dict[str, Any]:
        v = self.version(collection, version)
        row = self._fetch(f"SELECT {column} AS doc FROM {self.q('gp_versions')} "
                          "WHERE collection = ? AND version = ?", (collection, v.version))[0]
        return json_column(row["doc"])  # type: ignore[no-any-return]

    def passport(self, collection: str, version: int | None = None) -> dict[str, Any]:
        return self._document("passport", collection, version)

    def report(self, collection: str, version: int | None = None) -> dict[str, Any]:
        return self._document("report", collection, version)

    def published_passports(self, only: list[str] | None = None) -> dict[str, dict[str, Any]]:
        """The passport of every published version (of the collections ``only`` names), by
        collection, in one query."""
        if not self._exists() or only == []:
            return {}
        where = f" WHERE p.collection IN ({', '.join('?' * len(only))})" if only else ""
        rows = self._fetch(f"SELECT p.collection AS collection, v.passport AS doc "
                           f"FROM {self.q('gp_published')} p JOIN {self.q('gp_versions')} v "
                           "ON v.collection = p.collection AND v.version = p.version" + where,
                           tuple(only or ()))
        return {r["collection"]: json_column(r["doc"]) for r in rows}

    def first_published(self, collection: str) -> str | None:
        if not self._exists():
            return None
        rows = self._fetch(f"SELECT min(created) AS first FROM {self.q('gp_versions')} "
                           "WHERE collection = ?", (collection,))
        return rows[0]["first"] if rows else None
