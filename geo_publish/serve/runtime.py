"""The live pygeoapi API object of one worker, rebuilt when the store or the manifests change.

Every worker watches the store (which version of which collection is published) and the
manifests; when either changes it regenerates the configuration and OpenAPI document in memory
(metadata only: milliseconds, whatever the size of the layers) and swaps pygeoapi's API object
in one assignment, so requests see the old or the new API, never a failure. No restart, no
coordination between workers. Workers never build the viewer site: that is the site builder's
work (``serve/site_builder.py``), a process of its own.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from geo_publish.serve.common import cached_crs, dumps
from geo_publish.settings import Settings

LOG = logging.getLogger("geo_publish.serve")


def _to_json(dict_: dict[str, Any], pretty: bool = False) -> str:
    """pygeoapi's to_json, but UTF-8 as is and with < and > escaped the JSON way instead of as
    HTML entities, which corrupted values."""
    from pygeoapi.util import json_serial

    return dumps(dict_, default=json_serial, indent=4 if pretty else None)


class _NoCache(dict):  # type: ignore[type-arg]
    """Stands in for pygeoapi's ``l10n._cfg_cache``, which keeps one translated configuration per
    language for the life of the process: after a live publish its templates still saw the old
    collections (``/collections/<new>?f=html`` answered 500 until a restart)."""

    def get(self, *_: object) -> None:  # type: ignore[override]
        return None

    def __setitem__(self, key: object, value: object) -> None:
        return None


_TRANSLATED: dict[tuple[int, str], tuple[Any, Any]] = {}


def _translate_struct(struct: Any, locale_: Any, is_config: bool = False) -> Any:
    """pygeoapi's translate_struct, with its configuration cache keyed by the configuration it
    translated (the one installed now), not by the language alone."""
    if not (is_config and struct and locale_):
        return _ORIGINAL_TRANSLATE(struct, locale_, is_config)
    key = (id(struct), str(locale_))
    hit = _TRANSLATED.get(key)
    if hit is not None and hit[0] is struct:
        return hit[1]
    result = _ORIGINAL_TRANSLATE(struct, locale_, True)
    if len(_TRANSLATED) > 32:  # the configurations of earlier generations go
        _TRANSLATED.clear()
    _TRANSLATED[key] = (struct, result)  # the struct held: its id is not reused meanwhile
    return result


_ORIGINAL_TRANSLATE: Any = None


def patch_pygeoapi() -> None:
    import sys

    import pygeoapi.crs
    import pygeoapi.util
    from pygeoapi import l10n

    global _ORIGINAL_TRANSLATE
    if _ORIGINAL_TRANSLATE is None:
        _ORIGINAL_TRANSLATE = l10n.translate_struct
        l10n._cfg_cache = _NoCache()
        l10n.translate_struct = _translate_struct

    swaps = {id(pygeoapi.util.to_json): _to_json, id(pygeoapi.crs.get_crs): cached_crs}
    for name, module in list(sys.modules.items()):
        if not name.startswith("pygeoapi"):
            continue
        for attr in ("to_json", "get_crs"):
            value = getattr(module, attr, None)
            if value is not None and id(value) in swaps:
                setattr(module, attr, swaps[id(value)])


def documents(settings: Settings) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pygeoapi configuration and the OpenAPI document, generated from the store."""
    from geo_publish.publish import config as pconfig
    from geo_publish.publish import openapi as poas

    cfg = pconfig.generate(settings)
    return cfg, poas.generate(cfg)


def state_signature(settings: Settings) -> str:
    """What the served configuration and the site depend on: published versions, manifests and
    styles."""
    from geo_publish.serve.readers import reader
    from geo_publish.store.location import Source

    parts: list[str] = []
    source = Source.of(settings)
    if settings.store.backend != "geopackage" or Path(source.data).exists():
        parts.append(json.dumps(sorted(reader(source.data).all_published().items())))
    for folder in (settings.collections_dir, settings.styles_dir):
        d = settings.path(folder)
        if d.is_dir():
            for p in sorted(d.glob("*.yml")):
                st = p.stat()
                parts.append(f"{folder}/{p.name}:{st.st_mtime_ns}:{st.st_size}")
    return hashlib.sha1("|".join(parts).encode()).hexdigest()


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

    from geo_publish.publish.pygeoapi_html import write_catalogues, write_templates

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
