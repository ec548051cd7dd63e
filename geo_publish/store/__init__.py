"""Stores keep layers, passports, reports, quarantined features and versions.

A registry by backend name, imported lazily: adding a backend is one module and one line.
"""

from __future__ import annotations

import importlib

from geo_publish.settings import Settings
from geo_publish.store.base import Store, VersionInfo

BACKENDS = {
    "geopackage": "geo_publish.store.gpkg:GeoPackageStore",
    "postgis": "geo_publish.store.postgis:PostGISStore",
}


def open_store(settings: Settings) -> Store:
    backend = settings.store.backend
    if backend not in BACKENDS:
        from geo_publish.errors import ConfigError

        raise ConfigError(f"store backend {backend!r} is not available here",
                          hint=f"use one of: {', '.join(BACKENDS)}")
    module, cls = BACKENDS[backend].split(":")
    return getattr(importlib.import_module(module), cls).from_settings(settings)  # type: ignore[no-any-return]


__all__ = ["Store", "VersionInfo", "open_store"]
