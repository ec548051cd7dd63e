"""Pass 1: an OSM extract streamed into a spool of the features a base map draws.

Each object is classified by its tags into a layer of the Protomaps basemap schema (version 4,
the part a citizen map needs), with its ``kind``, ``kind_detail``, names and first zoom. The
rules are tables below, not code paths, so that a class of road or a kind of park is one line.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely

LAYERS = ("landuse", "water", "boundaries", "buildings", "roads", "pois", "places")  # drawn in this order
NAME_KEYS = ("name", "name:uz", "name:uz-Cyrl", "name:ru", "name:en")
BATCH = 5_000  # features written to the spool at a time

# highway=* -> (kind, first zoom); a *_link takes its road's kind, two zooms later
ROADS = {
    "motorway": ("highway", 5), "trunk": ("major_road", 6), "primary": ("major_road", 7),
    "secondary": ("major_road", 9), "tertiary": ("major_road", 11),
    "residential": ("minor_road", 12), "unclassified": ("minor_road", 12),
    "living_street": ("minor_road", 12), "road": ("minor_road", 12),
    "service": ("minor_road", 13), "track": ("minor_road", 13),
    "pedestrian": ("path", 13), "footway": ("path", 14), "path": ("path", 13),
    "cycleway": ("path", 13), "steps": ("path", 14), "bridleway": ("path", 14),
}
RAIL = {"rail": 10, "light_rail": 12, "subway": 12, "tram": 13, "narrow_gauge": 12}
# boundary=administrative relations, by admin_level -> (kind, first zoom): their member ways are drawn
BOUNDARIES = {"2": ("country", 0), "4": ("region", 4)}
# waterway=* lines -> first zoom
WATERWAYS = {"river": 9, "canal": 11, "stream": 13, "ditch": 14, "drain": 14}
# areas: (key, value) -> (layer, kind); the first zoom comes from the area's size
AREAS: dict[tuple[str, str], tuple[str, str]] = {
    **{("natural", v): ("water", "water") for v in ("water", "bay", "strait")},
    ("waterway", "riverbank"): ("water", "water"), ("landuse", "reservoir"): ("water", "water"),
    ("landuse", "basin"): ("water", "water"),
    **{("leisure", v): ("landuse", v) for v in ("park", "garden", "playground", "pitch", "stadium",
                                                "nature_reserve")},
    **{("landuse", v): ("landuse", v) for v in ("forest", "grass", "meadow", "cemetery", "industrial",
                                                "commercial", "retail", "farmland", "orchard",
                                                "vineyard", "military", "railway", "recreation_ground")},
    **{("natural", v): ("landuse", v) for v in ("wood", "scrub", "grassland", "heath", "beach", "sand",
                                                "wetland", "glacier", "bare_rock")},
    **{("amenity", v): ("landuse", v) for v in ("hospital", "school", "university", "college",
                                                "kindergarten", "clinic")},
    ("aeroway", "aerodrome"): ("landuse", "aerodrome"),
}
AREA_KEYS = tuple(sorted({k for k, _ in AREAS}))
# place=* nodes -> (kind, first zoom)
PLACES = {
    "city": ("locality", 4), "town": ("locality", 7), "village": ("locality", 10),
    "hamlet": ("locality", 12), "isolated_dwelling": ("locality", 14), "locality": ("locality", 13),
    "suburb": ("neighbourhood", 11), "quarter": ("neighbourhood", 13),
    "neighbourhood": ("neighbourhood", 13),
}
# points of interest a person in an emergency looks for: (key, value) -> first zoom
POIS = {
    ("amenity", "hospital"): 12, ("amenity", "clinic"): 14, ("amenity", "doctors"): 15,
    ("amenity", "pharmacy"): 14, ("amenity", "police"): 13, ("amenity", "fire_station"): 13,
    ("amenity", "shelter"): 14, ("emergency", "assembly_point"): 14,
    ("social_facility", "shelter"): 14, ("amenity", "school"): 14, ("amenity", "drinking_water"): 15,
    ("amenity", "place_of_worship"): 15, ("railway", "station"): 12,
}
MIN_PIXELS = 6.0  # an area is drawn from the zoom at which its size reaches this many pixels


@dataclass
class Found:
    layer: str
    kind: str
    minzoom: int
    props: dict[str, Any]
    wkb: bytes
    area: bool = False  # minzoom is then the earliest: the area's size may put it later


def names(tags: Any) -> dict[str, str]:
    out = {}
    for key in NAME_KEYS:
        value = tags.get(key)
        if value:
            out[key] = value
    return out


def classify_way(tags: Any) -> tuple[str, str, int, dict[str, Any]] | None:
    """A way drawn as a line: (layer, kind, first zoom, properties), or None."""
    hw = tags.get("highway")
    if hw:
        base, link = (hw[:-5], True) if hw.endswith("_link") else (hw, False)
        if base in ROADS:
            kind, z = ROADS[base]
            props: dict[str, Any] = {"kind_detail": base}
            if link:
                props["link"] = True
            ref = tags.get("ref")
            if ref:
                props["ref"] = ref
            return "roads", kind, min(z + 2, 14) if link else z, props
        return None
    rail = tags.get("railway")
    if rail in RAIL and tags.get("service") is None:
        return "roads", "rail", RAIL[rail], {"kind_detail": rail}
    ww = tags.get("waterway")
    if ww in WATERWAYS:
        return "water", ww, WATERWAYS[ww], {}
    return None


def classify_area(tags: Any) -> tuple[str, str, int] | None:
    """A closed way or multipolygon drawn as an area: (layer, kind, earliest first zoom)."""
    building = tags.get("building")
    if building and building != "no":
        return "buildings", "building", 13
    for key in AREA_KEYS:
        value = tags.get(key)
        if value and (key, value) in AREAS:
            layer, kind = AREAS[(key, value)]
            return layer, kind, 4 if layer == "water" else 8
    return None


def classify_poi(tags: Any) -> tuple[str, int] | None:
    for (key, value), z in POIS.items():
        if tags.get(key) == value:
            return value, z
    return None


def _line_wkb(way: Any, factory: Any) -> bytes | None:
    """The way's line; an extract cut at its border leaves ways with nodes outside it: the
    part inside is kept."""
    try:
        return bytes.fromhex(factory.create_linestring(way))
    except Exception:  # osmium's InvalidLocationError or a way of one node
        pts = [(n.lon, n.lat) for n in way.nodes if n.location.valid()]
        return shapely.to_wkb(shapely.linestrings(pts)) if len(pts) >= 2 else None


def boundary_ways(path: Path) -> dict[int, tuple[str, int, int]]:
    """The ways of the extract's country and region boundaries: way id -> (kind, first zoom,
    admin_level), the lowest level where a way borders both (a pass over the relations only)."""
    import osmium

    drawn = {level: (kind, z, int(level)) for level, (kind, z) in BOUNDARIES.items()}  # (shared)
    out: dict[int, tuple[str, int, int]] = {}
    for rel in osmium.FileProcessor(str(path), osmium.osm.RELATION):
        tags = rel.tags
        level = tags.get("admin_level")
        if level not in drawn or tags.get("boundary") != "administrative":
            continue
        value = drawn[level]
        for m in rel.members:
            if m.type == "w" and (m.ref not in out or out[m.ref][2] > value[2]):
                out[m.ref] = value
    return out


def features(path: Path, nodes_index: Path) -> Iterator[Found]:
    """Every feature of the extract a base map draws (pyosmium, streaming; node locations in
    ``nodes_index``, a file on disk, so a country's nodes are not held in memory)."""
    import os

    import osmium

    # libosmium's reader decodes ahead of its consumer into queues of whole buffers (a block of
    # ways with their node locations is tens of MB), and its thread pool decodes more blocks
    # beside them. This loop, in Python, is the slow end, so blocks decoded ahead only wait in
    # memory: one in each queue and the decoding in the reader's own thread keep pass 1 as fast
    # (memray on a 61 MB extract: 22 s either way) and its peak at 121 MB anonymous, against
    # 203 MB with four and the pool (334 MB with libosmium's default of 20)
    for name, value in (("OSMIUM_MAX_INPUT_QUEUE_SIZE", "1"), ("OSMIUM_MAX_OSMDATA_QUEUE_SIZE", "1"),
                        ("OSMIUM_USE_POOL_THREADS_FOR_PBF_PARSING", "no")):
        os.environ.setdefault(name, value)
    factory = osmium.geom.WKBFactory()
    # only the relations a base map draws are assembled into areas: osmium keeps every member
    # way of a candidate until its area is built, and a country's boundaries, routes' areas and
    # the like are members it would hold for nothing
    drawn = sorted({"building", *AREA_KEYS, *(key for key, _ in POIS)})
    processor = osmium.FileProcessor(str(path)).with_locations(
        f"sparse_file_array,{nodes_index}").with_areas(osmium.filter.KeyFilter(*drawn))
    edges = boundary_ways(path)
    for obj in processor:
        # (before the tags: a boundary's ways are mostly untagged, their relation says what they are)
        if edges and obj.id in edges and obj.is_way():
            wkb = _line_wkb(obj, factory)
            if wkb:
                kind, z, level = edges[obj.id]
                yield Found("boundaries", kind, z, {"kind_detail": level}, wkb)
        tags = obj.tags
        if not tags:
            continue
        if obj.is_node():
            place = tags.get("place")
            if place in PLACES and tags.get("name"):
                kind, z = PLACES[place]
                props: dict[str, Any] = names(tags)
                pop = tags.get("population", "")
                if pop.isdigit():
                    props["population"] = int(pop)
                    if kind == "locality" and int(pop) >= 1_000_000:
                        z = min(z, 3)
                yield Found("places", kind, z, props, _point(obj))
            poi = classify_poi(tags)
            if poi:
                yield Found("pois", poi[0], poi[1], {**names(tags), **_phone(tags)}, _point(obj))
        elif obj.is_way():
            found = classify_way(tags)
            if found:
                wkb = _line_wkb(obj, factory)
                if wkb:
                    layer, kind, z, props = found
                    yield Found(layer, kind, z, {**props, **names(tags)}, wkb)
        elif obj.is_area():
            area = classify_area(tags)
            poi = classify_poi(tags)
            if not area and not poi:
                continue
            try:
                wkb = bytes.fromhex(factory.create_multipolygon(obj))
            except Exception:  # an area osmium could not close: left out
                continue
            if area:
                layer, kind, floor = area
                yield Found(layer, kind, floor, names(tags), wkb, area=True)
            if poi:  # a hospital drawn as an area is also a point of interest, at its centre
                centre = shapely.point_on_surface(shapely.from_wkb(wkb))
                yield Found("pois", poi[0], poi[1], {**names(tags), **_phone(tags)},
                            shapely.to_wkb(centre))


def _point(node: Any) -> bytes:
    return shapely.to_wkb(shapely.Point(node.lon, node.lat))


def _phone(tags: Any) -> dict[str, str]:
    phone = tags.get("phone") or tags.get("contact:phone")
    return {"phone": phone} if phone else {}


class Spool:
    """The features on disk: a row each (layer, first zoom, properties as JSON, WKB in CRS84)
    and an R-tree of (box, first zoom), so a block of tiles reads only its own."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path)
        self.db.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-20000;"
            "CREATE TABLE f (id INTEGER PRIMARY KEY, layer INTEGER, props TEXT, geom BLOB);"
            "CREATE VIRTUAL TABLE f_box USING rtree(id, x0, x1, y0, y1, z0, z1);")
        self.count = 0
        self.bounds = [math.inf, math.inf, -math.inf, -math.inf]

    def write(self, batch: list[Found], maxzoom: int) -> None:
        geoms = shapely.from_wkb([f.wkb for f in batch])
        box = shapely.bounds(geoms)
        first = np.array([f.minzoom for f in batch], dtype=np.int64)
        areal = np.array([f.area for f in batch])
        if areal.any():
            # a small area waits for the zoom where it shows, and is in the deepest tiles at
            # the latest (the map draws them larger beyond it)
            first[areal] = np.minimum(np.maximum(first[areal], size_zoom(geoms[areal], box[areal])), maxzoom)
        keep = first <= maxzoom
        rows, boxes = [], []
        for f, b, z, k in zip(batch, box.tolist(), first.tolist(), keep.tolist()):
            if not k:
                continue
            self.count += 1
            props = {"kind": f.kind, "min_zoom": z, **f.props}
            rows.append((self.count, LAYERS.index(f.layer), json.dumps(props, ensure_ascii=False), f.wkb))
            boxes.append((self.count, b[0], b[2], b[1], b[3], z, maxzoom))
        self.db.executemany("INSERT INTO f VALUES (?, ?, ?, ?)", rows)
        self.db.executemany("INSERT INTO f_box VALUES (?, ?, ?, ?, ?, ?, ?)", boxes)
        if boxes:
            b = np.array([r[1:5] for r in boxes])
            self.bounds = [min(self.bounds[0], b[:, 0].min()), min(self.bounds[1], b[:, 2].min()),
                           max(self.bounds[2], b[:, 1].max()), max(self.bounds[3], b[:, 3].max())]

    # the features drawn at a zoom whose box meets a box (lon0, lat0, lon1, lat1): _meets()
    _MEETS = "f_box.x1 >= ? AND f_box.x0 <= ? AND f_box.y1 >= ? AND f_box.y0 <= ? AND f_box.z0 <= ?"

    @staticmethod
    def _meets(box: tuple[float, float, float, float], z: int) -> tuple[float, ...]:
        return (box[0], box[2], box[1], box[3], z)

    def block(self, box: tuple[float, float, float, float], z: int,
              limit: int | None = None) -> list[tuple[int, int, str, bytes]]:
        """(id, layer, properties, WKB) of the features drawn at zoom ``z`` whose box meets
        ``box`` (lon0, lat0, lon1, lat1), in id order; with ``limit``, only that many of the
        most prominent: those drawn from the earliest zoom, then the largest."""
        most = "" if limit is None else f"ORDER BY z0, (x1 - x0) + (y1 - y0) DESC, id LIMIT {int(limit)}"
        return self.db.execute(f"SELECT f.id, f.layer, f.props, f.geom FROM f JOIN "
                               f"(SELECT id FROM f_box WHERE {self._MEETS} {most}) USING (id) ORDER BY f.id",
                               self._meets(box, z)).fetchall()

    def how_many(self, box: tuple[float, float, float, float], z: int) -> int:
        """How many features ``block`` would give (the R-tree alone)."""
        return int(self.db.execute(f"SELECT count(*) FROM f_box WHERE {self._MEETS}",
                                   self._meets(box, z)).fetchone()[0])

    def close(self) -> None:
        self.db.close()


def size_zoom(geoms: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The zoom from which an area is at least ``MIN_PIXELS`` across on a 512-pixel tile (its
    size: the square root of its area, in fractions of the Web Mercator world)."""
    lat = np.clip((box[:, 1] + box[:, 3]) / 2, -85, 85)
    deg2 = shapely.area(geoms)  # square degrees; a degree of longitude is 1/360 of the world
    frac = np.sqrt(np.maximum(deg2, 1e-18) / np.cos(np.radians(lat))) / 360.0
    return np.ceil(np.log2(MIN_PIXELS / (512.0 * frac))).clip(0, 99).astype(np.int64)


def read(path: Path, spool: Spool, nodes_index: Path, maxzoom: int,
         progress: Callable[[int], None] | None = None) -> int:
    """Stream the extract into ``spool``; the number of features kept."""
    batch: list[Found] = []
    for found in features(path, nodes_index):
        batch.append(found)
        if len(batch) >= BATCH:
            spool.write(batch, maxzoom)
            batch.clear()
            if progress:
                progress(spool.count)
    if batch:
        spool.write(batch, maxzoom)
    spool.db.commit()
    return spool.count
