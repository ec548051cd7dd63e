"""OGC API - Tiles on every vector collection, on both stores: Mapbox Vector Tiles in the
WebMercatorQuad and WorldCRS84Quad tile matrix sets, the tile matrix set definitions, tileset
metadata (OGC and TileJSON 3).

A tile is cut from the published version when asked (and kept in memory, bounded; the key names
the version's table, so a new version is never answered from an old tile):

- the store's spatial index gives the features whose box meets the tile and its buffer;
- below ``vector_tiles.full_zoom``, **thinning**: one feature per cell of 1/64 of a tile (the one
  with the smallest fid, so a feature kept at one zoom is kept at every zoom above: the grid
  cells nest); the densest areas stay readable and every tile is bounded (about 4,000
  features); from ``full_zoom`` every feature is in its tiles;
- lines and polygons are clipped to the tile and its buffer and simplified to the tile's grid
  (half a pixel of a 512-pixel tile below ``full_zoom``);
- the attributes are the style's popup and label fields and the id field: the rest is one
  request away (``/collections/{id}/items/{fid}``), and tiles stay small.

Empty tiles answer 204; a tile outside its matrix 404.
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import shapely

from geo_publish.errors import NotFound
from geo_publish.errors import BadRequest
from geo_publish.serve.gpkg_read import Published, Table
from geo_publish.store.base import quote

EXTENT = 4096  # tile units per side
BUFFER = 64  # tile units drawn beyond each edge (labels and strokes across tile edges)
CELLS = 64  # thinning cells per tile side
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
_MAX_LAT = 85.0511287798066
_DIMENSION = {"POINT": 0, "MULTIPOINT": 0, "LINESTRING": 1, "MULTILINESTRING": 1,
              "POLYGON": 2, "MULTIPOLYGON": 2}


@dataclass(frozen=True)
class Scheme:
    """A tile matrix set: the tiles of zoom z are (w0 << z) columns by (h0 << z) rows over the
    world, row 0 at the top."""

    id: str
    w0: int
    h0: int
    maxzoom: int
    crs: str
    mercator: bool

    @property
    def uri(self) -> str:
        return f"http://www.opengis.net/def/tilematrixset/OGC/1.0/{self.id}"

    def contains(self, z: int, row: int, col: int) -> bool:
        return 0 <= z <= self.maxzoom and 0 <= row < self.h0 << z and 0 <= col < self.w0 << z

    def unit(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Longitude and latitude to fractions of the world's width and height (from the top)."""
        u = (lon + 180.0) / 360.0
        if self.mercator:
            rad = np.radians(np.clip(lat, -_MAX_LAT, _MAX_LAT))
            return u, (1.0 - np.arcsinh(np.tan(rad)) / math.pi) / 2.0
        return u, (90.0 - lat) / 180.0

    def lonlat(self, u: float, v: float) -> tuple[float, float]:
        lon = u * 360.0 - 180.0
        if self.mercator:
            return lon, math.degrees(math.atan(math.sinh(math.pi * (1.0 - 2.0 * v))))
        return lon, 90.0 - v * 180.0

    def box(self, z: int, row: int, col: int, margin: float = 0.0) -> tuple[float, float, float, float]:
        """The tile's box in CRS84 (lon0, lat0, lon1, lat1), ``margin`` tiles wider each side."""
        w, h = self.w0 << z, self.h0 << z
        u0, u1 = max(0.0, (col - margin) / w), min(1.0, (col + 1 + margin) / w)
        v0, v1 = max(0.0, (row - margin) / h), min(1.0, (row + 1 + margin) / h)
        lon0, lat1 = self.lonlat(u0, v0)
        lon1, lat0 = self.lonlat(u1, v1)
        return lon0, lat0, lon1, lat1

    def limits(self, bbox: list[float], zooms: range) -> list[dict[str, Any]]:
        """tileMatrixSetLimits: the tiles of each zoom that meet ``bbox`` (CRS84), as clients
        such as GDAL and QGIS read them to know which tiles to ask for."""
        (u0, u1), (v1, v0) = (self.unit(np.array([bbox[0], bbox[2]]), np.array([bbox[1], bbox[3]])))
        out = []
        for z in zooms:
            w, h = self.w0 << z, self.h0 << z
            out.append({"tileMatrix": str(z),
                        "minTileRow": int(min(h - 1, max(0, math.floor(v0 * h)))),
                        "maxTileRow": int(min(h - 1, max(0, math.floor(v1 * h)))),
                        "minTileCol": int(min(w - 1, max(0, math.floor(u0 * w)))),
                        "maxTileCol": int(min(w - 1, max(0, math.floor(u1 * w))))})
        return out

    def to_tile(self, z: int, row: int, col: int) -> Any:
        """A function for ``shapely.transform``: CRS84 coordinates to the tile's units (y down)."""
        w, h = self.w0 << z, self.h0 << z

        def project(coords: np.ndarray) -> np.ndarray:
            u, v = self.unit(coords[:, 0], coords[:, 1])
            return np.column_stack(((u * w - col) * EXTENT, (v * h - row) * EXTENT))

        return project


SCHEMES = {s.id: s for s in (
    Scheme("WebMercatorQuad", 1, 1, 24, "http://www.opengis.net/def/crs/EPSG/0/3857", True),
    Scheme("WorldCRS84Quad", 2, 1, 23, "http://www.opengis.net/def/crs/OGC/1.3/CRS84", False))}


def scheme(tms: str) -> Scheme:
    found = SCHEMES.get(tms)
    if found is None:
        raise NotFound(f"no tile matrix set {tms!r} (offered: {', '.join(SCHEMES)})")
    return found


def address(s: Scheme, z: str, row: str, col: str) -> tuple[int, int, int]:
    """The tile's (z, row, col), or 404: not numbers, or outside the tile matrix set."""
    if not (z.isdigit() and row.isdigit() and col.isdigit()) or len(z + row + col) > 30:
        raise NotFound("a tile is addressed by {tileMatrix}/{tileRow}/{tileCol}, three whole numbers")
    zi, ri, ci = int(z), int(row), int(col)
    if not s.contains(zi, ri, ci):
        raise NotFound(f"tile {zi}/{ri}/{ci} is outside the {s.id} tile matrix set")
    return zi, ri, ci


# -- choosing and cutting ------------------------------------------------------------------------
def table_sql(reader: Any, t: Table) -> str:
    """The version table as SQL names it: a GeoPackage table by its quoted name, a PostGIS one
    as the reader gives it (schema-qualified and quoted already)."""
    from geo_publish.serve.readers import GeoPackageReader

    return quote(t.name) if isinstance(reader, GeoPackageReader) else t.name


def _select(reader: Any, t: Table, fields: list[str], box: tuple[float, float, float, float],
            cell: float | None, limit: int) -> list[tuple[Any, ...]]:
    """(fid, WKB or GeoPackage blob, *fields) of the features meeting ``box``; with ``cell``,
    one per cell of that size (degrees), the smallest fid."""
    from geo_publish.serve.readers import GeoPackageReader

    params: list[Any] = []
    if isinstance(reader, GeoPackageReader):
        if t.rtree is None:
            raise NotFound(f"{t.name} has no spatial index: no tiles")
        cols = ", ".join(f't."{f}"' for f in fields)
        inner = (f'SELECT {"min(r.id)" if cell else "r.id"} FROM {quote(t.rtree)} r '
                 "WHERE r.minx <= ? AND r.maxx >= ? AND r.miny <= ? AND r.maxy >= ?")
        params += [box[2], box[0], box[3], box[1]]
        if cell:
            inner += (" GROUP BY CAST(((r.minx + r.maxx) * 0.5 + 180.0) / ? AS INTEGER), "
                      "CAST(((r.miny + r.maxy) * 0.5 + 90.0) / ? AS INTEGER)")
            params += [cell, cell]
        sql = (f'SELECT t.fid, t.{reader.geometry_select(t)}{", " + cols if cols else ""} '
               f"FROM {table_sql(reader, t)} t WHERE t.fid IN ({inner}) LIMIT {int(limit)}")
        return reader.rows(sql, params)  # type: ignore[no-any-return]
    cols = ", ".join(f'"{f}"' for f in fields)
    envelope = "geom && ST_MakeEnvelope(?, ?, ?, ?, 4326)"
    params += list(box)
    if cell:
        where = (f"fid IN (SELECT min(fid) FROM {t.name} WHERE {envelope} GROUP BY "
                 "floor(((ST_XMin(geom) + ST_XMax(geom)) * 0.5 + 180.0) / ?), "
                 "floor(((ST_YMin(geom) + ST_YMax(geom)) * 0.5 + 90.0) / ?))")
        params += [cell, cell]
    else:
        where = envelope
    sql = (f"SELECT fid, {reader.geometry_select(t)}{', ' + cols if cols else ''} "
           f"FROM {table_sql(reader, t)} WHERE {where} LIMIT {int(limit)}")
    return reader.rows(sql, params)  # type: ignore[no-any-return]


def _value(v: Any) -> Any:
    """A value an MVT attribute can hold (string, number, boolean); None when there is none."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return None if math.isnan(v) or math.isinf(v) else v
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    if isinstance(v, (bytes, bytearray, memoryview)):
        return None
    return str(v)


def cut(reader: Any, t: Table, fields: list[str], layer: str, s: Scheme, z: int, row: int,
        col: int, full_zoom: int, max_features: int) -> bytes | None:
    """The tile as MVT bytes; None when no feature is in it."""
    fields = [f for f in fields if f in t.columns]
    thin = z < full_zoom
    cell = 360.0 / (s.w0 << z) / CELLS if thin else None
    rows = _select(reader, t, fields, s.box(z, row, col, BUFFER / EXTENT), cell, max_features)
    if not rows:
        return None
    geoms = reader.geometries([r[1] for r in rows])
    return encode(geoms, [r[0] for r in rows], [r[2:] for r in rows], fields, layer, s, z, row,
                  col, thin)


def encode(geoms: np.ndarray, ids: Any, values: Any, fields: list[str], layer: str, s: Scheme,
           z: int, row: int, col: int, thin: bool) -> bytes | None:
    """MVT bytes of features in CRS84 (``values[i]`` holds feature i's ``fields``), cut to the
    tile and its buffer; None when nothing is left."""
    geoms = shapely.transform(shapely.force_2d(geoms), s.to_tile(z, row, col))
    geoms, keep = shape(geoms, thin)
    if not keep.any():
        return None
    geoms, ids = geoms[keep], np.asarray(ids)[keep]
    rows = [v for v, k in zip(values, keep) if k]
    fam = families(geoms)
    if fam[0] >= 0 and (fam == fam[0]).all():
        from geo_publish.serve import mvt

        columns = {f: [_value(r[j]) for r in rows] for j, f in enumerate(fields)}
        return mvt.tile(layer, geoms, ids, columns, EXTENT)
    return encode_mixed(geoms, ids, rows, fields, layer)


def shape(geoms: np.ndarray, thin: bool) -> tuple[np.ndarray, np.ndarray]:
    """Geometries in tile units (of any number of tiles) cut to the tile and its buffer,
    simplified (more below full zoom), tiny polygons kept as small squares: (geometries,
    which are left)."""
    lo, hi = -BUFFER, EXTENT + BUFFER
    geoms = shapely.clip_by_rect(geoms, lo, lo, hi, hi)
    kinds = shapely.get_type_id(geoms)
    lines = kinds > 0  # points stay as they are
    if lines.any():
        geoms[lines] = shapely.simplify(geoms[lines], 4.0 if thin else 1.0)
    # a polygon smaller than the tile's grid would vanish when its corners are rounded: it is
    # kept as a square of two units (a quarter of a pixel), as tippecanoe keeps tiny polygons
    areal = np.isin(kinds, (3, 6))
    tiny = areal & ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
    tiny &= shapely.area(geoms) < 4.0
    if tiny.any():
        b = shapely.bounds(geoms[tiny])
        cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
        geoms[tiny] = shapely.box(cx - 1, cy - 1, cx + 1, cy + 1)
    return geoms, ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))


def families(geoms: np.ndarray) -> np.ndarray:
    """0 points, 1 lines, 2 polygons, -1 a collection (or nothing) per geometry."""
    return _FAMILIES[shapely.get_type_id(geoms) + 1]


_FAMILIES = np.array([-1, 0, 1, 1, 2, 0, 1, 2, -1])  # by shapely type id + 1 (missing: -1)


def encode_mixed(geoms: np.ndarray, ids: np.ndarray, rows: list[Any], fields: list[str],
                  layer: str) -> bytes | None:
    """A tile whose features mix points, lines and polygons (a GEOMETRY layer), or hold a
    collection: mapbox-vector-tile, a feature at a time."""
    import mapbox_vector_tile
    from mapbox_vector_tile.encoder import on_invalid_geometry_make_valid

    features = []
    for fid, vals, g in zip(ids, rows, geoms):
        props = {f: _value(v) for f, v in zip(fields, vals)}
        features.append({"geometry": g, "id": int(fid),
                         "properties": {k: v for k, v in props.items() if v is not None}})
    return mapbox_vector_tile.encode(  # type: ignore[no-any-return]
        [{"name": layer, "features": features}],
        default_options={"y_coord_down": True, "extents": EXTENT,
                         "on_invalid_geometry": on_invalid_geometry_make_valid})


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


_TILEJSON_TYPES = {"integer": "Number", "number": "Number", "boolean": "Boolean"}


def field_types(t: Table, fields: list[str]) -> dict[str, str]:
    """TileJSON's ``vector_layers[].fields``: each field's type (String, Number, Boolean)."""
    return {f: _TILEJSON_TYPES.get(t.json_type(f)["type"], "String") for f in fields}


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
        "bounds": [lon0, max(lat0, -_MAX_LAT), lon1, min(lat1, _MAX_LAT)],
        "center": [(lon0 + lon1) / 2, (lat0 + lat1) / 2, min(8, full_zoom)],
        "vector_layers": [{"id": cid, "description": title, "minzoom": 0,
                           "maxzoom": min(full_zoom, s.maxzoom),
                           "fields": field_types(t, fields)}],
    }
    if attribution:
        doc["attribution"] = attribution
    return doc


# -- PMTiles archives (publish/pyramid.py) ---------------------------------------------------------
def archive_name(cid: str, version: int, fields: list[str], full_zoom: int) -> str:
    """The site file of a version's archive: named by what its tiles hold, so a new version, a
    style with other fields or another full_zoom never reads an old archive."""
    import hashlib
    import json

    key = hashlib.sha1(json.dumps([fields, full_zoom]).encode()).hexdigest()[:10]
    return f"{cid}.v{version}.{key}.pmtiles"


class Archive:
    """A PMTiles archive read through mmap, its directories kept once read (pmtiles' Reader
    parses the root directory again for every tile)."""

    def __init__(self, path: str) -> None:
        import mmap

        from pmtiles.tile import deserialize_header

        with open(path, "rb") as fh:
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        self.header = deserialize_header(self._map[0:127])
        self._dirs: dict[tuple[int, int], Any] = {}
        self._lock = threading.Lock()

    def _directory(self, offset: int, length: int) -> Any:
        from pmtiles.tile import deserialize_directory

        found = self._dirs.get((offset, length))
        if found is None:
            found = deserialize_directory(self._map[offset:offset + length])
            with self._lock:
                if len(self._dirs) > 256:
                    self._dirs.clear()
                self._dirs[(offset, length)] = found
        return found

    def get(self, z: int, x: int, y: int) -> bytes | None:
        """The tile's stored bytes (gzip), None when the archive has no such tile."""
        from pmtiles.tile import find_tile, zxy_to_tileid

        h = self.header
        if not h["min_zoom"] <= z <= h["max_zoom"]:
            return None
        tile_id = zxy_to_tileid(z, x, y)
        offset, length = h["root_offset"], h["root_length"]
        for _ in range(4):
            entry = find_tile(self._directory(offset, length), tile_id)
            if entry is None:
                return None
            if entry.run_length == 0:
                offset, length = h["leaf_directory_offset"] + entry.offset, entry.length
                continue
            start = h["tile_data_offset"] + entry.offset
            return self._map[start:start + entry.length]
        return None


_archives: dict[str, Archive] = {}


def archive(path: str) -> Archive | None:
    """The archive at ``path`` (opened once per process), None when there is none."""
    found = _archives.get(path)
    if found is None:
        try:
            found = Archive(path)
        except (OSError, ValueError):
            return None
        if len(_archives) > 64:
            _archives.clear()
        _archives[path] = found
    return found
