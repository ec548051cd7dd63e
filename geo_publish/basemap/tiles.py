"""Pass 2: the spool cut into vector tiles and written to a PMTiles archive.

Zoom by zoom, the tiles are made a block at a time: the tiles of zoom ``z`` inside one tile of
zoom ``z - BLOCK`` (up to 8 x 8), or, where that holds more than ``MAX_BLOCK_FEATURES``, inside
its quarters, and theirs, down to a single tile. Blocks are visited in the archive's (Hilbert)
order, and the tiles of a block are contiguous in it (the curve is hierarchical), so tiles are
written in order as they are made. A block's features come from the spool's R-tree: memory
holds one block, whatever the size of the extract.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from geo_publish.basemap.osm import LAYERS, Spool
from geo_publish.tiles import cut, mvt
from geo_publish.tiles.grid import BUFFER, EXTENT, SCHEMES
from geo_publish.tiles.pmtiles import Writer, tile_ids
from geo_publish.tiles.pyramid import tile_ranges

BLOCK = 3  # a block is the tiles of zoom z within one tile of zoom z - BLOCK
# a block holding more features is made as its four quarters (a dense city at zoom 14: some
# 300,000 buildings and streets within one block took 600 MB)
MAX_BLOCK_FEATURES = 30_000
# a single tile holding more keeps this many, the most prominent (see _split): the 400 copies of
# Helsinki's centre side by side (the benchmark's 245 MB extract) put 85,566 road pieces in one
# zoom-9 tile, 2.3 MB of it, whose making alone took 190 MB
MAX_TILE_FEATURES = 30_000
MERGE_BELOW = 12  # roads and boundaries are joined into lines (_merged) in the tiles below this zoom
ATTRIBUTION = "© OpenStreetMap contributors (ODbL)"


@dataclass(frozen=True)
class Written:
    tiles: int
    bytes: int
    crowded: int = 0  # tiles that kept only their MAX_TILE_FEATURES most prominent features


def _blocks(bounds: list[float], r: int) -> list[tuple[int, int]]:
    """(column, row) of the zoom-``r`` tiles over ``bounds``, in the archive's order."""
    s = SCHEMES["WebMercatorQuad"]
    n = 1 << r
    u0, v_south = s.unit(np.array([bounds[0]]), np.array([bounds[1]]))
    u1, v_north = s.unit(np.array([bounds[2]]), np.array([bounds[3]]))
    c0, c1 = (int(np.clip(np.floor(u[0] * n), 0, n - 1)) for u in (u0, u1))
    r0, r1 = (int(np.clip(np.floor(v[0] * n), 0, n - 1)) for v in (v_north, v_south))
    cols, rows = np.meshgrid(np.arange(c0, c1 + 1), np.arange(r0, r1 + 1))
    cols, rows = cols.ravel(), rows.ravel()
    order = np.argsort(tile_ids(r, cols, rows))
    return list(zip(cols[order].tolist(), rows[order].tolist()))


def _split(spool: Spool, z: int, r: int, bcol: int, brow: int, maxzoom: int, crowded: list[int]) -> Any:
    """The tiles of a block, made whole or, when it holds too many features, by quarters (in
    the archive's order: the quarters' tile ids sort as their tiles do). A single tile holding
    too many keeps the ``MAX_TILE_FEATURES`` most prominent (``Spool.block``): that bounds the
    memory of its making and the bytes a phone loads, whatever the density of the city (the
    others show from a deeper zoom, where the tiles are smaller). ``crowded`` counts such tiles."""
    s = SCHEMES["WebMercatorQuad"]
    many = spool.how_many(s.box(r, brow, bcol, BUFFER / EXTENT / (1 << (z - r))), z)
    if r < z and many > min(MAX_BLOCK_FEATURES, MAX_TILE_FEATURES):
        cols = np.array([2 * bcol, 2 * bcol + 1, 2 * bcol, 2 * bcol + 1])
        rows = np.array([2 * brow, 2 * brow, 2 * brow + 1, 2 * brow + 1])
        for k in np.argsort(tile_ids(r + 1, cols, rows)).tolist():
            yield from _split(spool, z, r + 1, int(cols[k]), int(rows[k]), maxzoom, crowded)
        return
    limit = MAX_TILE_FEATURES if r == z and many > MAX_TILE_FEATURES else None
    crowded[0] += limit is not None
    yield from _block_tiles(spool, z, r, bcol, brow, maxzoom, limit)


def _block_tiles(spool: Spool, z: int, r: int, bcol: int, brow: int, maxzoom: int,
                 limit: int | None = None) -> list[tuple[int, bytes]]:
    """(tile id, MVT bytes) of the tiles of zoom ``z`` in block (``r``, ``bcol``, ``brow``), in order."""
    s = SCHEMES["WebMercatorQuad"]
    span = 1 << (z - r)  # tiles of the block per side
    margin = BUFFER / EXTENT / span  # the buffer of the block's edge tiles, in block tiles
    rows = spool.block(s.box(r, brow, bcol, margin), z, limit)
    if not rows:
        return []
    n = 1 << z
    ids = np.array([row[0] for row in rows], dtype=np.int64)
    layer = np.array([row[1] for row in rows], dtype=np.int8)
    props = [row[2] for row in rows]
    geoms = shapely.force_2d(shapely.from_wkb([row[3] for row in rows]))
    del rows

    def world(c: np.ndarray) -> np.ndarray:  # CRS84 -> tile units of zoom z over the world
        u, v = s.unit(c[:, 0], c[:, 1])
        return np.column_stack((u * n * EXTENT, v * n * EXTENT))

    geoms = shapely.transform(geoms, world)
    b = shapely.bounds(geoms)
    lo_c, lo_r = bcol * span, brow * span
    c0 = np.clip(np.floor((b[:, 0] - BUFFER) / EXTENT), lo_c, lo_c + span - 1).astype(np.int64)
    c1 = np.clip(np.floor((b[:, 2] + BUFFER) / EXTENT), lo_c, lo_c + span - 1).astype(np.int64)
    r0 = np.clip(np.floor((b[:, 1] - BUFFER) / EXTENT), lo_r, lo_r + span - 1).astype(np.int64)
    r1 = np.clip(np.floor((b[:, 3] + BUFFER) / EXTENT), lo_r, lo_r + span - 1).astype(np.int64)
    feature, col, row = tile_ranges(c0, c1, r0, r1)
    tid = tile_ids(z, col, row)
    # each (feature, tile) in the tile's units, cut to it and its buffer
    per = shapely.get_num_coordinates(geoms[feature])
    dx, dy = np.repeat(col * EXTENT, per), np.repeat(row * EXTENT, per)
    pieces = shapely.transform(geoms[feature], lambda c: np.column_stack((c[:, 0] - dx, c[:, 1] - dy)))
    pieces, keep = cut.shape(pieces, z < maxzoom)
    out: dict[int, list[bytes]] = {}
    for code in np.unique(layer).tolist():
        sel = np.flatnonzero(keep & (layer[feature] == code))
        if not len(sel):
            continue
        sel = sel[np.lexsort((ids[feature[sel]], tid[sel]))]  # by tile, then by id
        part = (pieces[sel], ids[feature[sel]], tid[sel], [props[i] for i in feature[sel].tolist()])
        if LAYERS[code] in ("roads", "boundaries") and z < MERGE_BELOW:
            part = _merged(*part)
        for t, data in _encode_layer(LAYERS[code], *part):
            out.setdefault(t, []).append(data)
    return [(t, b"".join(out[t])) for t in sorted(out)]


def _merged(geoms: np.ndarray, ids: np.ndarray, tid: np.ndarray,
            props: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """The line pieces (roads, borders) of each tile with the same properties (kind, names,
    ref) joined where they meet, one feature each, with the smallest id of its pieces; in tile,
    then id order. An OSM way ends at every junction and change of tag, so a street is dozens
    of pieces: at low zooms one line each draws the same, labels it once along its length, and
    costs a fraction of the bytes."""
    keys: dict[tuple[int, str], int] = {}
    group = np.array([keys.setdefault(k, len(keys)) for k in zip(tid.tolist(), props)], dtype=np.int64)
    parts, of = shapely.get_parts(geoms, return_index=True)
    order = np.argsort(group[of], kind="stable")
    merged = shapely.line_merge(shapely.multilinestrings(parts[order], indices=group[of][order]))
    first = np.full(len(keys), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, group, ids)
    tiles_of = np.empty(len(keys), dtype=np.int64)
    tiles_of[group] = tid
    props_of = [p for (_, p) in keys]
    by = np.lexsort((first, tiles_of))
    return merged[by], first[by], tiles_of[by], [props_of[k] for k in by.tolist()]


def _encode_layer(name: str, geoms: np.ndarray, ids: np.ndarray, tid: np.ndarray,
                  props_json: list[str]) -> list[tuple[int, bytes]]:
    """One layer's part of each tile (a Tile message of that layer alone: the parts of a tile
    joined are the tile)."""
    props = [json.loads(p) for p in props_json]
    fields = sorted({k for p in props for k in p})
    return cut.encode_by_family(
        name, geoms, ids, tid, np.ones(len(geoms), dtype=bool),
        lambda idx: mvt.Values.from_lists({f: [props[i].get(f) for i in idx.tolist()] for f in fields}),
        lambda idx: [tuple(props[i].get(f) for f in fields) for i in idx.tolist()], fields)


def write(spool: Spool, out: Path, maxzoom: int, name: str,
          progress: Callable[[int, int], None] | None = None) -> Written:
    """Write the archive ``out`` (a temporary file renamed into place)."""
    from pmtiles.tile import Compression, TileType

    tmp = out.with_name(f".{out.name}.{os.getpid()}")
    count = 0
    crowded = [0]
    bounds = spool.bounds
    try:
        with open(tmp, "wb") as fh, Writer(fh) as writer:
            for z in range(maxzoom + 1):
                r = max(0, z - BLOCK)
                for bcol, brow in _blocks(bounds, r):
                    for t, data in _split(spool, z, r, bcol, brow, maxzoom, crowded):
                        writer.write_tile(t, gzip.compress(data, compresslevel=6, mtime=0))
                        count += 1
                if progress:
                    progress(z, count)
            if not count:
                raise ValueError("no feature to draw")
            lon0, lat0, lon1, lat1 = bounds
            header = {"tile_type": TileType.MVT, "tile_compression": Compression.GZIP,
                      "min_zoom": 0, "max_zoom": maxzoom,
                      "min_lon_e7": int(lon0 * 1e7), "min_lat_e7": int(max(lat0, -85) * 1e7),
                      "max_lon_e7": int(lon1 * 1e7), "max_lat_e7": int(min(lat1, 85) * 1e7),
                      "center_zoom": min(12, maxzoom),
                      "center_lon_e7": int((lon0 + lon1) / 2 * 1e7),
                      "center_lat_e7": int((lat0 + lat1) / 2 * 1e7)}
            metadata: dict[str, Any] = {
                "name": name, "format": "pbf", "type": "baselayer", "attribution": ATTRIBUTION,
                "description": "geo-publish base map: the Protomaps basemap schema's layers (v4), in part",
                "vector_layers": [{"id": lyr, "minzoom": 0, "maxzoom": maxzoom, "fields": {}} for lyr in LAYERS],
            }
            writer.finalize(header, metadata)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return Written(count, out.stat().st_size, crowded[0])
