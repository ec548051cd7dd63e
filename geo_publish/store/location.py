"""Where a served store is, as the pygeoapi configuration names it (no secrets): a GeoPackage
path, or ``postgis:<schema>`` with the connection string kept in the server's environment
(``GEO_PUBLISH_SERVE_DSN``, from ``store.read_dsn`` or ``store.dsn``), never in a file.
Publishing writes it, serving reads it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

SERVE_DSN = "GEO_PUBLISH_SERVE_DSN"
POSTGIS_PREFIX = "postgis:"


@dataclass(frozen=True)
class Source:
    """Where a served store is, as written into the pygeoapi configuration (no secrets)."""

    data: str

    @classmethod
    def of(cls, settings: Any) -> Source:
        store = settings.store
        if store.backend == "postgis":
            return cls(POSTGIS_PREFIX + store.schema_)
        return cls(str(settings.path(store.path)))

    @staticmethod
    def export_dsn(settings: Any) -> None:
        """Give this process (and the workers it starts) the DSN the API reads from."""
        store = settings.store
        if store.backend == "postgis":
            secret = store.read_dsn or store.dsn
            os.environ[SERVE_DSN] = secret.get_secret_value()
