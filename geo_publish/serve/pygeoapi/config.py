"""The pygeoapi configuration, generated from the store and the manifests (never hand-edited).

Each published collection gets our store provider, its passport as collection metadata (title,
description and keywords in uz/ru/en, extents, licence, responsible person, version, dates) and
links to its passport (JSON, DCAT JSON-LD) and validation report. One more collection,
``catalogue``, is an OGC API - Records collection with one record per published layer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from geo_publish.manifest import load_manifest
from geo_publish.publish.viewer.style import tile_fields
from geo_publish.passport import licenses
from geo_publish.store.location import Source
from geo_publish.settings import Settings
from geo_publish.store import open_store

LANGUAGES = ["en-US", "ru-RU", "uz"]
CRS_LIST = [
    "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
    "http://www.opengis.net/def/crs/EPSG/0/4326",
    "http://www.opengis.net/def/crs/EPSG/0/3857",
    "http://www.opengis.net/def/crs/EPSG/0/32642",
    "http://www.opengis.net/def/crs/EPSG/0/28412",
]
CATALOGUE = "catalogue"
PROVIDER = "geo_publish.serve.provider.StoreProvider"
COVERAGE_PROVIDER = "geo_publish.serve.coverage.COGProvider"


def _i18n(value: dict[str, str], fallback: str) -> dict[str, str]:
    """pygeoapi i18n: keys are language codes; 'en' first so it is the default."""
    out = {lang: value[lang] for lang in ("en", "ru", "uz") if value.get(lang)}
    return out or {"en": fallback}


def collection_resource(settings: Settings, base: str, passport: dict[str, Any],
                        info: Any) -> dict[str, Any]:
    cid = passport["collection"]
    manifest = load_manifest(settings.path(settings.collections_dir), cid)
    title = _i18n(passport.get("title") or {}, cid)
    description = _i18n(passport.get("description") or {}, title["en"] if "en" in title else cid)
    keywords = passport.get("keywords") or [cid]
    bbox = passport.get("extent") or info.bbox or [-180, -90, 180, 90]
    temporal = passport.get("temporal_extent") or [None, None]
    responsible = passport.get("responsible") or {}
    provider: dict[str, Any] = {
        "type": "feature", "name": PROVIDER, "data": Source.of(settings).data,
        "collection": cid, "crs": CRS_LIST, "storage_crs": CRS_LIST[0],
        "statement_timeout": settings.server.statement_timeout,
        "max_in_list": settings.server.max_in_list,
        "heavy_queries": settings.server.heavy_queries,
    }
    if info.geometry_type == "Raster":  # a COG: OGC API - Coverages
        provider = {"type": "coverage", "name": COVERAGE_PROVIDER, "data": info.layer,
                    "format": {"name": "GTiff", "mimetype": "image/tiff"},
                    "max_cells": settings.server.coverage_max_cells}
    if manifest and manifest.schema_.id_field:
        provider["id_field"] = manifest.schema_.id_field
    if manifest and manifest.schema_.date_field:
        provider["time_field"] = manifest.schema_.date_field
    links = [
        {"type": "application/json", "rel": "describedby", "title": "Data passport (JSON)",
         "href": f"{base}/passports/{cid}.json"},
        {"type": "application/ld+json", "rel": "describedby", "title": "Data passport (DCAT JSON-LD)",
         "href": f"{base}/passports/{cid}.jsonld"},
        {"type": "text/html", "rel": "describedby", "title": "Validation report",
         "href": f"{base}/reports/{cid}.html"},
        {"type": "application/json", "rel": "describedby", "title": "Validation report (JSON)",
         "href": f"{base}/reports/{cid}.json"},
    ]
    if passport.get("license"):
        links.append({"type": "text/html", "rel": "license", "title": passport["license"],
                      "href": licenses.license_url(passport["license"])})
    resource: dict[str, Any] = {
        "type": "collection", "title": title, "description": description,
        "keywords": keywords, "links": links,
        "extents": {"spatial": {"bbox": [round(v, 7) for v in bbox],
                                "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}},
        "providers": [provider],
        # not read by pygeoapi's schema, carried into /collections/{id} by our middleware
        "geo_publish": {
            "version": passport.get("version"), "first_published": passport.get("first_published"),
            "last_modified": passport.get("last_modified"), "license": passport.get("license"),
            "organization": passport.get("organization"),
            "contact": {k: responsible.get(k) for k in ("name", "email", "phone") if responsible.get(k)},
            "update_frequency": passport.get("update_frequency"),
            "feature_count": passport.get("feature_count"),
            "editable": bool(manifest and manifest.editable and info.geometry_type != "Raster"),
            "version_created": info.created,
            # the attributes in its vector tiles (tiles/cut.py): what the viewer shows of a
            # feature before asking for it
            "tile_fields": tile_fields(settings, manifest, cid),
            # which style file it uses (popped by Generator: a change of it rebuilds this)
            "_style": (manifest.style if manifest and manifest.style else None) or cid,
        },
    }
    if temporal and (temporal[0] or temporal[1]):
        # datetime objects, as pygeoapi's YAML loader would give (it compares them with requests)
        resource["extents"]["temporal"] = {"begin": _when(temporal[0]), "end": _when(temporal[1])}
    return resource


RECORDS_PROVIDER = "geo_publish.serve.records.StoreRecords"
CHUNK = 500  # collections whose entries are made from one query of passports
MANY = 50  # more changed collections than this (a start): their versions in one query


def _catalogue_resource(settings: Settings, base: str) -> dict[str, Any]:
    return {
        "type": "collection",
        "title": {"en": "Catalogue of published layers", "ru": "Каталог опубликованных слоёв",
                  "uz": "E'lon qilingan qatlamlar katalogi"},
        "description": {"en": "One record per published layer, with its data passport (OGC API - Records)",
                        "ru": "Одна запись на каждый опубликованный слой с его паспортом данных",
                        "uz": "Har bir e'lon qilingan qatlam uchun bitta yozuv va uning ma'lumotlar pasporti"},
        "keywords": ["catalogue", "records", "passport"],
        "links": [],
        "extents": {"spatial": {"bbox": [-180, -90, 180, 90],
                                "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}},
        # the store's catalogue index (store/records.py): full text, filters, pages
        "providers": [{"type": "record", "name": RECORDS_PROVIDER, "data": Source.of(settings).data,
                       "base_url": base, "id_field": "id", "time_field": "updated",
                       "title_field": "title"}],
    }


class Generator:
    """The configuration, rebuilt for what changed: a collection's resource is made again when
    its published version, its manifest or its style changed (``dirty``), the others are the
    same objects as before. Publishing one layer among 10,000 rebuilds one resource."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._kept: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}
        self._styles: dict[str, str] = {}  # collection -> the style file it uses (by stem)

    def generate(self, dirty: set[str] | None = None) -> dict[str, Any]:
        """``dirty``: stems of the manifests and styles changed since the last call (None or
        "*" in it: any may have)."""
        from geo_publish.errors import NotFound

        settings, base = self.settings, self.settings.base_url()
        store = open_store(settings)
        # a loop over every collection: which version of each is published, and since when (one
        # query of small rows: 10 ms at 10,000), what says which ones a publish changed
        published = store.published_keys()
        every = dirty is None or "*" in dirty
        if every:
            self._kept.clear()
        marked = set(dirty or ())
        marked |= {cid for cid, style in self._styles.items() if style in marked}
        want = [cid for cid, key in published.items()
                if cid in marked or cid not in self._kept or self._kept[cid][0] != key]
        many = len(want) > MANY  # a server's start: every one's version in one query
        infos: dict[str, Any] = {i.collection: i for i in store.collections()} if many else {}
        for at in range(0, len(want), CHUNK):
            chunk = want[at:at + CHUNK]
            if many:  # passports a chunk at a time: all 10,000 at once left a worker 45 MB bigger
                passports = store.published_passports(chunk)
            else:  # a publish: what it changed, a query or two each
                passports = {}
                for cid in chunk:
                    try:
                        infos[cid], passports[cid] = store.version(cid), store.passport(cid)
                    except NotFound:  # unpublished since: the next look sees it gone
                        continue
            for cid in chunk:
                info, passport = infos.get(cid), passports.get(cid)
                if info is None or passport is None:
                    continue
                resource = collection_resource(settings, base, passport, info)
                self._kept[cid] = (published[cid], resource)
                self._styles[cid] = resource["geo_publish"].pop("_style", cid)
        for gone in set(self._kept) - set(published):
            del self._kept[gone]
            self._styles.pop(gone, None)
        # a loop over every collection: the resources dict the configuration holds (references)
        resources = {cid: self._kept[cid][1] for cid in sorted(published) if cid in self._kept}
        resources[CATALOGUE] = _catalogue_resource(settings, base)
        return _document(settings, base, resources)


def boot(settings: Settings) -> dict[str, Any]:
    """The configuration without the layers' collections (the catalogue's only): what a
    serving worker's pygeoapi is imported with, before its Runtime installs the live one."""
    base = settings.base_url()
    return _document(settings, base, {CATALOGUE: _catalogue_resource(settings, base)})


def generate(settings: Settings) -> dict[str, Any]:
    """The pygeoapi configuration as a dict (every collection made anew)."""
    return Generator(settings).generate()


def _document(settings: Settings, base: str, resources: dict[str, Any]) -> dict[str, Any]:
    build = settings.path(settings.build_dir)
    return {
        "server": {
            "bind": {"host": settings.server.host, "port": settings.server.port},
            "url": base, "mimetype": "application/json; charset=UTF-8", "encoding": "utf-8",
            "gzip": False,  # our middleware compresses what the client accepts
            "languages": LANGUAGES, "cors": False, "pretty_print": False,
            "limits": {"default_items": 10, "max_items": 10000, "on_exceed": "throttle"},
            "map": {"url": settings.server.tiles or "", "attribution": settings.server.tiles_attribution},
            # written by write_build: templates with vendored assets, ru/uz catalogues
            "templates": {"path": str(build / "pygeoapi-templates"), "static": str(_pygeoapi_static())},
            "locale_dir": str(build / "locale"),
        },
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {
                "title": {"en": "geo-publish: open geographic data", "ru": "Открытые геоданные",
                          "uz": "Ochiq geografik ma'lumotlar"},
                "description": {"en": "Published layers with their data passports",
                                "ru": "Опубликованные слои с паспортами данных",
                                "uz": "E'lon qilingan qatlamlar va ularning pasportlari"},
                "keywords": {"en": ["open data", "geospatial"], "ru": ["открытые данные"],
                             "uz": ["ochiq ma'lumotlar"]},
                "keywords_type": "theme", "terms_of_service": "", "url": base,
            },
            "license": {"name": {"en": "Each layer has its own licence", "ru": "Лицензия указана у каждого слоя",
                                 "uz": "Har bir qatlamning o'z litsenziyasi bor"}, "url": base},
            "provider": {"name": "geo-publish", "url": base},
            # the office that answers for the service (the DCAT catalogue's publisher)
            "contact": {"name": settings.catalogue.publisher, "email": settings.catalogue.publisher_email,
                        "role": "pointOfContact"},
        },
        "resources": resources,
    }


def _when(value: str | None) -> Any:
    from datetime import UTC, datetime

    if not value:
        return None
    try:
        found = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def _pygeoapi_static() -> Path:
    import pygeoapi

    return Path(pygeoapi.__file__).parent / "static"
