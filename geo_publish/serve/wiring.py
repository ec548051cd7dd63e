"""The server's wiring: what ``geo-publish serve`` runs as ``uvicorn --factory
geo_publish.serve.wiring:create_app`` in each worker. The config file comes from
``GEO_PUBLISH_CONFIG``; pygeoapi's from ``PYGEOAPI_CONFIG`` (written by serve before it starts
the workers)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from geo_publish.serve.routes import catalog
from geo_publish.serve.app import GeoPublishApp
from geo_publish.serve.pygeoapi.patches import patch_pygeoapi
from geo_publish.serve.pygeoapi.runtime import Runtime, write_build
from geo_publish.settings import load_settings
from geo_publish.store.location import Source


def create_app() -> Any:
    """Factory for uvicorn (one call per worker process)."""
    from starlette.middleware.gzip import GZipMiddleware

    settings = load_settings(os.environ.get("GEO_PUBLISH_CONFIG", "config.yml"))
    Source.export_dsn(settings)
    if os.environ.get("GEO_PUBLISH_URL"):
        settings.server.url = os.environ["GEO_PUBLISH_URL"]
    if "PYGEOAPI_CONFIG" not in os.environ or not Path(os.environ["PYGEOAPI_CONFIG"]).exists():
        paths = write_build(settings, full=False)
        os.environ["PYGEOAPI_CONFIG"] = str(paths["boot_config"])  # the Runtime installs the live one
        os.environ["PYGEOAPI_OPENAPI"] = str(paths["boot_openapi"])
    import pygeoapi.starlette_app as sa

    patch_pygeoapi()
    sa.APP.debug = False
    runtime = Runtime(settings)
    runtime.refresh(force=True)
    runtime.watch()
    app = GeoPublishApp(settings, sa.APP, runtime)
    catalog.keep_warm(app.catalogue)
    return GZipMiddleware(app, minimum_size=1024)
