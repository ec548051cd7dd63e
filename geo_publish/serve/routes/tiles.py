"""OGC API - Tiles on every vector collection, on both stores: Mapbox Vector Tiles in the
WebMercatorQuad and WorldCRS84Quad tile matrix sets, the tile matrix set definitions, tileset
metadata (OGC and TileJSON 3). Cut when asked (``tiles/cut.py``) and kept in memory, bounded:
the key names the version's table, so a new version is never answered from an old tile; a
large layer's tiles up to ``full_zoom`` come from its PMTiles archive in the site.

Empty tiles answer 204; a tile outside its matrix 404.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from typing import Any
from urllib.parse import parse_qsl

from geo_publish.errors import BadRequest, NotFound
from geo_publish.http.asgi import VARY, Headers, cors, json_response, none_match
from geo_publish.read.readers import Reader
from geo_publish.serve import caching, validate
from geo_publish.serve.common import dumps, text_of
from geo_publish.settings import Settings
from geo_publish.store.gpkg_read import Published, Table
from geo_publish.tiles import pmtiles
from geo_publish.tiles.cut import cut, field_types
from geo_publish.tiles.grid import MAX_LAT, SCHEMES, Scheme, address, scheme

MVT = "application/vnd.mapbox-vector-tile"
_CONF = "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/"
CONFORMANCE = [_CONF + c for c in ("core", "tileset", "tilesets-list", "geodata-tilesets", "mvt",
                                   "oas30")]
REL_SCHEME = "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"
REL_VECTOR = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"
REL_SCHEMES = "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes"

TILES_PATH = re.compile(r"^/collections/([^/]+)/tiles(?:/([^/]+)(?:/([^/]+)/([^/]+)/([^/]+))?)?/?$")
TMS_PATH = re.compile(r"^/tileMatrixSets(?:/([^/]+))?/?$")
METADATA_PARAMS = {"f", "lang"}
TILE_PARAMS = {"f"}
_DIMENSION = {"POINT": 0, "MULTIPOINT": 0, "LINESTRING": 1, "MULTILINESTRING": 1,
              "POLYGON": 2, "MULTIPOLYGON": 2}


class TileCache:
    """Tiles kept in memory, least recently used out first, bounded in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._items: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> bytes | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple[Any, ...], value: bytes) -> None:
        if len(value) > self.max_bytes // 4:
            return
        with self._lock:
            if key in self._items:
                return
            self._items[key] = value
            self.size += len(value) + 100
            while self.size > self.max_bytes and self._items:
                _, old = self._items.popitem(last=False)
                self.size -= len(old) + 100



# -- documents -----------------------------------------------------------------------------------
def tile_matrix_sets(base: str) -> dict[str, Any]:
    return {"tileMatrixSets": [
        {"id": s.id, "title": s.id, "uri": s.uri, "links": [
            {"rel": "self", "type": "application/json", "title": f"The {s.id} tile matrix set",
             "href": f"{base}/tileMatrixSets/{s.id}"}]} for s in SCHEMES.values()],
        "links": [{"rel": "self", "type": "application/json", "title": "Tile matrix sets",
                   "href": f"{base}/tileMatrixSets"}]}


def tile_matrix_set(tms: str) -> dict[str, Any]:
    """The OGC Two Dimensional Tile Matrix Set (2.0) definition, from morecantile."""
    import morecantile

    s = scheme(tms)
    return morecantile.tms.get(s.id).model_dump(mode="json", exclude_none=True)  # type: ignore[no-any-return]


def _links(base: str, cid: str, s: Scheme) -> list[dict[str, Any]]:
    return [
        {"rel": "self", "type": "application/json", "title": f"{cid}: {s.id} vector tileset",
         "href": f"{base}/collections/{cid}/tiles/{s.id}"},
        {"rel": "alternate", "type": "application/vnd.mapbox.tile+json",
         "title": f"{cid}: {s.id} vector tileset (TileJSON)",
         "href": f"{base}/collections/{cid}/tiles/{s.id}?f=tilejson"},
        {"rel": REL_SCHEME, "type": "application/json", "title": f"{s.id} definition",
         "href": f"{base}/tileMatrixSets/{s.id}"},
        {"rel": "item", "type": MVT, "templated": True, "title": f"{cid} vector tiles",
         "href": f"{base}/collections/{cid}/tiles/{s.id}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}"},
    ]


def tilesets(base: str, cid: str, title: str) -> dict[str, Any]:
    return {"links": [{"rel": "self", "type": "application/json",
                       "title": f"{title}: vector tilesets",
                       "href": f"{base}/collections/{cid}/tiles"},
                      {"rel": "collection", "type": "application/json", "title": title,
                       "href": f"{base}/collections/{cid}"}],
            "tilesets": [{"title": f"{title} ({s.id})", "dataType": "vector", "crs": s.crs,
                          "tileMatrixSetURI": s.uri, "links": _links(base, cid, s)}
                         for s in SCHEMES.values()]}


def _bbox(pub: Published) -> list[float]:
    box = list(pub.bbox or [-180.0, -90.0, 180.0, 90.0])
    return [round(float(v), 7) for v in box[:4]]


def tileset(base: str, cid: str, title: str, description: str, s: Scheme, pub: Published,
            t: Table, fields: list[str], full_zoom: int) -> dict[str, Any]:
    """OGC Tile Set Metadata (TMS 2.0, JSON)."""
    fields = [f for f in fields if f in t.columns]
    lon0, lat0, lon1, lat1 = _bbox(pub)
    layer: dict[str, Any] = {
        "id": cid, "title": title, "dataType": "vector", "minTileMatrix": "0",
        "maxTileMatrix": str(s.maxzoom),
        "propertiesSchema": {"type": "object", "properties": {
            f: t.json_type(f) for f in fields}},
    }
    dim = _DIMENSION.get(t.geometry_type.removesuffix("Z"))
    if dim is not None:
        layer["geometryDimension"] = dim
    return {
        "title": f"{title} ({s.id})", "description": description, "dataType": "vector",
        "crs": s.crs, "tileMatrixSetURI": s.uri,
        "boundingBox": {"lowerLeft": [lon0, lat0], "upperRight": [lon1, lat1],
                        "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"},
        "centerPoint": {"coordinates": [(lon0 + lon1) / 2, (lat0 + lat1) / 2],
                        "tileMatrix": str(min(full_zoom, s.maxzoom)),
                        "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"},
        "layers": [layer],
        "tileMatrixSetLimits": s.limits([lon0, lat0, lon1, lat1], range(s.maxzoom + 1)),
        "links": _links(base, cid, s),
        # every feature is in the tiles from here; a client may draw deeper zooms from these
        "gp:fullTileMatrix": str(full_zoom),
        "gp:version": pub.version,
    }


def tilejson(base: str, cid: str, title: str, description: str, s: Scheme, pub: Published,
             t: Table, fields: list[str], full_zoom: int, attribution: str = "") -> dict[str, Any]:
    """TileJSON 3.0.0 (XYZ in Web Mercator: WebMercatorQuad only)."""
    if not s.mercator:
        raise BadRequest("f=tilejson: TileJSON describes WebMercatorQuad tiles only")
    fields = [f for f in fields if f in t.columns]
    lon0, lat0, lon1, lat1 = _bbox(pub)
    doc = {
        "tilejson": "3.0.0", "name": title, "description": description,
        "version": f"{pub.version}.0.0", "scheme": "xyz",
        "tiles": [f"{base}/collections/{cid}/tiles/{s.id}/{{z}}/{{y}}/{{x}}"],
        "minzoom": 0, "maxzoom": min(full_zoom, s.maxzoom),
        "bounds": [lon0, max(lat0, -MAX_LAT), lon1, min(lat1, MAX_LAT)],
        "center": [(lon0 + lon1) / 2, (lat0 + lat1) / 2, min(8, full_zoom)],
        "vector_layers": [{"id": cid, "description": title, "minzoom": 0,
                           "maxzoom": min(full_zoom, s.maxzoom),
                           "fields": field_types(t, fields)}],
    }
    if attribution:
        doc["attribution"] = attribution
    return doc



def check_params(query: str, allowed: set[str], formats: tuple[str, ...]) -> dict[str, str]:
    """The query's parameters: only ``allowed`` ones, ``f`` one of ``formats`` (else 400)."""
    params = parse_qsl(query, keep_blank_values=True)
    problem = validate.unknown({k for k, _ in params}, allowed)
    if problem:
        raise BadRequest(problem)
    found = dict(params)
    if found.get("f", formats[0]) not in formats:
        raise BadRequest(f"f: offered here as {', '.join(formats)} (not {found['f']!r})")
    return found


class TileRoutes:
    """``/tileMatrixSets[/{id}]`` and ``/collections/{id}/tiles[/{tms}[/{z}/{row}/{col}]]``."""

    def __init__(self, settings: Settings, runtime: Any, reader: Reader, reader_key: str,
                 cache_control: bytes) -> None:
        self.settings = settings
        self.runtime = runtime
        self.reader = reader
        self.reader_key = reader_key
        self.cache_control = cache_control
        self.cache = TileCache(settings.vector_tiles.cache_mb * 1_048_576)

    def matrix_sets(self, m: re.Match[str], scope: dict[str, Any],
                    headers: dict[str, str]) -> tuple[int, Headers, bytes]:
        tms = m.group(1)
        check_params(scope.get("query_string", b"").decode("latin-1"), METADATA_PARAMS, ("json",))
        doc = tile_matrix_set(tms) if tms else tile_matrix_sets(self.runtime.base)
        status, hdrs, body = json_response(200, dumps(doc))
        return status, hdrs + [(b"cache-control", self.cache_control)] + cors() + [VARY], body

    def tiles(self, m: re.Match[str], scope: dict[str, Any],
              headers: dict[str, str]) -> tuple[int, Headers, bytes]:
        """The tilesets of a vector collection, one tileset's metadata, or one tile."""
        cid, tms, z, row, col = m.groups()
        query = scope.get("query_string", b"").decode("latin-1")
        params = check_params(query, TILE_PARAMS if z else METADATA_PARAMS,
                              ("mvt",) if z else ("json", "tilejson") if tms else ("json",))
        if cid not in self.runtime.feature_collections:
            raise NotFound(f"no vector collection {cid!r}: tiles are cut from vector collections")
        pub = self.reader.published(cid)
        if pub is None:
            raise NotFound(f"no published collection {cid!r}")
        s = scheme(tms) if tms else None
        at = address(s, z, row, col) if s and z is not None else None
        common = cors() + [VARY]
        etag = caching.etag(self.runtime.generation, scope["path"], query, headers, cid, pub)
        cache = [(b"etag", etag.encode()), (b"cache-control", self.cache_control)]
        tags = none_match(headers)
        if etag in tags or "*" in tags:
            return 304, common + cache, b""
        resource = self.runtime.config["resources"][cid]
        meta = resource.get("geo_publish") or {}
        fields = list(meta.get("tile_fields") or [])
        vt = self.settings.vector_tiles
        if at is not None and s is not None and s.mercator and at[0] <= vt.full_zoom \
                and pub.feature_count >= vt.site_threshold:
            stored = self._from_archive(cid, pub.version, fields, at, headers)
            if stored is not None:
                body, encoding = stored
                if not body:
                    return 204, common + cache, b""
                return 200, [(b"content-type", MVT.encode())] + encoding + common + cache, body
        if at is not None and s is not None:
            key = (self.reader_key, pub.table, s.id, *at, tuple(fields), vt.full_zoom)
            body = self.cache.get(key)
            if body is None:
                body = cut(self.reader, self.reader.table(pub.table), fields, cid, s, *at,
                           vt.full_zoom, vt.max_features) or b""
                self.cache.put(key, body)
            if not body:
                return 204, common + cache, b""
            return 200, [(b"content-type", MVT.encode())] + common + cache, body
        title = text_of(resource.get("title"), cid)
        description = text_of(resource.get("description"), "")
        if s is None:
            doc = tilesets(self.runtime.base, cid, title)
        elif params.get("f") == "tilejson":
            doc = tilejson(self.runtime.base, cid, title, description, s, pub,
                           self.reader.table(pub.table), fields, vt.full_zoom,
                           self.settings.server.tiles_attribution)
        else:
            doc = tileset(self.runtime.base, cid, title, description, s, pub,
                          self.reader.table(pub.table), fields, vt.full_zoom)
        status, hdrs, body = json_response(200, dumps(doc))
        return status, hdrs + common + cache, body

    def _from_archive(self, cid: str, version: int, fields: list[str], at: tuple[int, int, int],
                      headers: dict[str, str]) -> tuple[bytes, Headers] | None:
        """A tile from the version's PMTiles archive in the site (gzip as stored, or inflated
        for a client that does not take gzip); None when the site has no archive for it."""
        import gzip

        name = pmtiles.archive_name(cid, version, fields, self.settings.vector_tiles.full_zoom)
        found = pmtiles.archive(str(self.settings.path(self.settings.build_dir) / "site" / "data" / name))
        if found is None:
            return None
        z, row, col = at
        data = found.get(z, col, row)
        if data is None:
            return b"", []
        if "gzip" in headers.get("accept-encoding", ""):
            return data, [(b"content-encoding", b"gzip")]
        return gzip.decompress(data), []
