"""The live pygeoapi API object of one worker, rebuilt when the store or the manifests change.

Every worker watches the store (which version of which collection is published) and the
manifests; when either changes it regenerates the configuration and OpenAPI document in memory
(metadata only: milliseconds, whatever the size of the layers) and swaps pygeoapi's API object
in one assignment, so requests see the old or the new API, never a failure. No restart, no
coordination between workers. Workers never build the viewer site: that is the site builder's
work (``publish/viewer/builder.py``), a process of its own.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from geo_publish.read.state import state_signature
from geo_publish.settings import Settings

LOG = logging.getLogger("geo_publish.serve")


def documents(settings: Settings) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pygeoapi configuration and the OpenAPI document, generated from the store."""
    from geo_publish.serve.pygeoapi import config as pconfig
    from geo_publish.serve.pygeoapi import openapi as poas

    cfg = pconfig.generate(settings)
    return cfg, poas.generate(cfg)


class Runtime:
    """Holds the current configuration; ``refresh()`` swaps in a new one when the state changed."""

    def __init__(self, settings: Settings, interval: float = 1.0) -> None:
        self.settings = settings
        self.interval = interval
        self.signature = ""
        self.generation = ""
        self.config: dict[str, Any] = {}
        self.feature_collections: frozenset[str] = frozenset()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._record_fields: dict[str, set[str]] = {}

    @property
    def base(self) -> str:
        """The server's URL as the installed configuration gives it (no trailing slash)."""
        return str(self.config.get("server", {}).get("url", "")).rstrip("/")

    def state(self) -> str:
        return state_signature(self.settings)

    def refresh(self, force: bool = False) -> bool:
        with self._lock:
            sig = self.state()
            if sig == self.signature and not force:
                return False
            cfg, oas = documents(self.settings)
            self._install(cfg, oas)
            self.signature = sig
            self.generation = hashlib.sha1(
                json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()[:16]
            self.config = cfg
            self.feature_collections = frozenset(
                k for k, v in cfg["resources"].items() if v["providers"][0]["type"] == "feature")
        return True

    def record_fields(self, cid: str) -> set[str]:
        """Property names of a records collection (the catalogue): its items' query parameters."""
        path = self.config.get("resources", {}).get(cid, {}).get("providers", [{}])[0].get("data")
        if not path:
            return set()
        found = self._record_fields.get(path)
        if found is None:
            try:
                rows = json.loads(Path(path).read_text(encoding="utf-8")).get("_default", {})
                found = {"id"} | {k for r in rows.values() for k in r.get("properties", {})}
            except (OSError, ValueError):
                found = set()
            self._record_fields[path] = found
        return found

    def _install(self, cfg: dict[str, Any], oas: dict[str, Any]) -> None:
        import pygeoapi.starlette_app as sa
        from pygeoapi.api import API

        api = API(cfg, oas, getattr(sa, "ASYNCAPI", None))
        sa.api_ = api  # one assignment: the next request uses the new API
        sa.CONFIG = cfg
        sa.OPENAPI = oas

    def watch(self) -> None:
        def loop() -> None:
            while not self._stop.wait(self.interval):
                try:
                    if self.refresh():
                        LOG.warning("geo-publish: configuration reloaded (%s)", self.generation)
                except Exception as err:  # noqa: BLE001 - keep serving the last good config
                    LOG.error("geo-publish: reload failed, still serving the previous one: %s", err)

        threading.Thread(target=loop, name="geo-publish-watch", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()


def write_build(settings: Settings, build_dir: Path | None = None) -> dict[str, Path]:
    """Write pygeoapi-config.yml and openapi.yml for inspection and for a plain pygeoapi."""
    import yaml
    from pygeoapi.config import validate_config

    from geo_publish.serve.pygeoapi.html import write_catalogues, write_templates

    out = build_dir or settings.path(settings.build_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg, oas = documents(settings)
    write_templates(Path(cfg["server"]["templates"]["path"]))
    write_catalogues(Path(cfg["server"]["locale_dir"]))
    validate_config(cfg)
    paths = {"config": out / "pygeoapi-config.yml", "openapi": out / "openapi.yml"}
    for key, data in (("config", cfg), ("openapi", oas)):
        tmp = paths[key].with_name(f".{paths[key].name}.{os.getpid()}")
        tmp.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
        os.replace(tmp, paths[key])
    return paths
