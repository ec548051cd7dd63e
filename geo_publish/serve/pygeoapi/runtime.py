"""The live pygeoapi API object of one worker, updated when the store or the manifests change.

Every worker watches the store (which version of which collection is published) and the
manifests and styles (``read/state.py``: each second costs nothing when nothing changed); when
one changes it makes again the configuration entries of the collections that changed, and swaps
pygeoapi's API object in one assignment, so requests see the old or the new API, never a
failure. The other collections' entries are the same objects as before, and the API object is
made without pygeoapi's copy of the whole configuration: publishing one layer among 10,000 costs
what one layer costs. The OpenAPI document is made when it is asked for, once per
configuration. No restart, no coordination between workers. Workers never build the viewer
site: that is the site builder's work (``publish/viewer/builder.py``), a process of its own.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Any

from geo_publish.read.state import FileTimes, published_signature, quick_signature, watch_of, watched
from geo_publish.settings import Settings

LOG = logging.getLogger("geo_publish.serve")


def documents(settings: Settings) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pygeoapi configuration and the OpenAPI document, generated from the store."""
    from geo_publish.serve.pygeoapi import config as pconfig
    from geo_publish.serve.pygeoapi import openapi as poas

    cfg = pconfig.generate(settings)
    return cfg, poas.generate(cfg)


def light_api(cfg: dict[str, Any], oas: dict[str, Any]) -> Any:
    """pygeoapi's API object for ``cfg`` without its deep copy of the configuration (``API``
    copies it whole for its templates: a second of CPU and its size again in memory at 10,000
    layers). The templates get a shallow copy with the server's URL, as pygeoapi makes it."""
    import pygeoapi.starlette_app as sa
    from pygeoapi.api import API

    api = API({**cfg, "resources": {}}, oas, getattr(sa, "ASYNCAPI", None))
    api.config = cfg
    api.tpl_config = {**cfg, "server": {**cfg["server"], "url": api.base_url}}
    return api


class Runtime:
    """Holds the current configuration; ``refresh()`` swaps in a new one when the state changed."""

    def __init__(self, settings: Settings, interval: float = 1.0) -> None:
        from geo_publish.serve.pygeoapi.config import Generator

        self.settings = settings
        self.interval = interval
        self.signature = ""
        self.generation = ""
        self.config: dict[str, Any] = {}
        self.feature_collections: frozenset[str] = frozenset()
        self._generator = Generator(settings)
        self._openapi: tuple[str, dict[str, Any]] | None = None
        self._files: FileTimes | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()

    @property
    def base(self) -> str:
        """The server's URL as the installed configuration gives it (no trailing slash)."""
        return str(self.config.get("server", {}).get("url", "")).rstrip("/")

    def state(self) -> str:
        return quick_signature(self.settings)

    def refresh(self, force: bool = False) -> bool:
        with self._lock:
            sig = self.state()
            if sig == self.signature and not force:
                return False
            dirty = watch_of(self.settings).drain()
            cfg = self._generator.generate(None if force else dirty)
            self._install(cfg)
            self.signature = sig
            # which configuration this is, from what it was made of (the same in every worker):
            # part of every ETag (a new one is a new representation)
            if self._files is None or force:
                self._files = FileTimes(watched(self.settings))
            else:
                self._files.update(dirty)
            self.generation = hashlib.sha1(
                f"{published_signature(self.settings)}|{self._files.digest()}".encode()).hexdigest()[:16]
            self.config = cfg
            # a loop over every collection: which are vector ones (asked on every request)
            self.feature_collections = frozenset(
                k for k, v in cfg["resources"].items() if v["providers"][0]["type"] == "feature")
        return True

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI document of the installed configuration, made when first asked for."""
        from geo_publish.serve.pygeoapi import openapi as poas

        kept = self._openapi
        if kept is not None and kept[0] == self.generation:
            return kept[1]
        with self._lock:
            generation, cfg = self.generation, self.config
        oas = poas.generate(cfg)
        self._openapi = (generation, oas)
        return oas

    def record_fields(self, cid: str) -> set[str]:
        """Property names of a records collection (the catalogue): its items' query parameters."""
        from geo_publish.serve.records import FIELDS

        return {"id"} | set(FIELDS) if cid in self.config.get("resources", {}) else set()

    def _install(self, cfg: dict[str, Any]) -> None:
        import pygeoapi.starlette_app as sa

        from geo_publish.serve.pygeoapi.patches import freeze_resources

        api = light_api(cfg, {})  # the OpenAPI document: made when asked for (openapi())
        freeze_resources(cfg["resources"])  # never changed: a new configuration is a new dict
        sa.api_ = api  # one assignment: the next request uses the new API
        sa.CONFIG = cfg

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


def write_build(settings: Settings, build_dir: Path | None = None,
                full: bool = True) -> dict[str, Path]:
    """Write what a serving worker boots on (``boot_config``, ``boot_openapi``: no collections)
    and, with ``full`` (``geo-publish build``), pygeoapi-config.yml and openapi.yml with every
    collection, checked against pygeoapi's schema, for inspection and for a plain pygeoapi.

    ``serve`` writes the boot files only: its workers make the live configuration themselves
    (``Runtime``), and making and writing every collection's entry once more in the serving
    process, which nothing reads, was most of ``serve``'s start at 10,000 layers (YAML's
    representer is Python even with libyaml: 1.3 million nodes)."""
    import yaml
    from pygeoapi.config import validate_config

    from geo_publish.serve.pygeoapi import config as pconfig
    from geo_publish.serve.pygeoapi import openapi as poas
    from geo_publish.serve.pygeoapi.html import write_catalogues, write_templates

    from geo_publish.store import open_store

    out = build_dir or settings.path(settings.build_dir)
    out.mkdir(parents=True, exist_ok=True)
    open_store(settings).sync_index()  # a store written before the catalogue's index
    # what a serving worker's pygeoapi reads when it is imported, before the Runtime installs the
    # live configuration: no collections (it parsed and copied every one, seconds at 10,000)
    boot = pconfig.boot(settings)
    write_templates(Path(boot["server"]["templates"]["path"]))
    write_catalogues(Path(boot["server"]["locale_dir"]))
    docs: list[tuple[str, dict[str, Any]]] = [("boot_config", boot),
                                              ("boot_openapi", {**poas.generate(boot), "paths": {}})]
    if full:
        cfg, oas = documents(settings)
        # pygeoapi's schema checked on one collection of each kind: every collection of a kind is
        # made by the same code (collection_resource), and a check of 10,000 took 12 s at start
        kinds: dict[Any, str] = {}
        for cid, r in cfg["resources"].items():  # a loop over every collection: the first of each kind
            kinds.setdefault((r.get("providers") or [{}])[0].get("type"), cid)
        validate_config({**cfg, "resources": {cid: cfg["resources"][cid] for cid in kinds.values()}})
        docs += [("config", cfg), ("openapi", oas)]
    else:
        validate_config(boot)
    paths = {"config": out / "pygeoapi-config.yml", "openapi": out / "openapi.yml",
             "boot_config": out / "pygeoapi-boot.yml", "boot_openapi": out / "openapi-boot.yml"}
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: ~10x faster
    for key, data in docs:
        tmp = paths[key].with_name(f".{paths[key].name}.{os.getpid()}")
        tmp.write_text(yaml.dump(data, Dumper=dumper, allow_unicode=True, sort_keys=False),
                       encoding="utf-8")
        os.replace(tmp, paths[key])
    return {key: paths[key] for key, _ in docs}
