"""Publishing a version that is already in the store: a draft made by the portal's ingest, or
an older one (rollback). The portal and the CLI call these; they never touch store tables."""

from __future__ import annotations

from typing import Any

from geo_publish.manifest import Manifest, load_manifest, write_manifest
from geo_publish.settings import Settings
from geo_publish.store import VersionInfo, open_store


def passport_from(stored: dict[str, Any], manifest: Manifest) -> dict[str, Any]:
    """A version's passport with the manifest's current text, contact and licence."""
    p = manifest.passport
    return {**stored, "title": manifest.title or {"en": manifest.id},
            "description": manifest.description, "keywords": manifest.keywords,
            "organization": p.organization, "responsible": p.responsible.model_dump(mode="json"),
            "license": p.license, "update_frequency": p.update_frequency, "lineage": p.lineage,
            "complete": p.complete}


def publish_version(settings: Settings, collection: str, version: int,
                    manifest: Manifest | None = None) -> VersionInfo:
    """Make ``version`` the published one, first writing ``manifest`` (the passport form) and
    refreshing the version's passport from it. Live in the API and the viewer within seconds
    (workers watch the store; the site builder rebuilds the layer)."""
    store = open_store(settings)
    store.version(collection, version)  # NotFound before anything is written
    if manifest is not None:
        write_manifest(settings.path(settings.collections_dir), manifest,
                       " (edited in the publishing portal)")
    current = manifest or load_manifest(settings.path(settings.collections_dir), collection)
    if current is not None:
        store.set_passport(collection, version, passport_from(store.passport(collection, version),
                                                              current))
    return store.rollback(collection, version)
