"""A PMTiles archive of a published vector layer: every WebMercatorQuad tile from zoom 0 to
``vector_tiles.full_zoom``, cut by the same rule as the server's tiles (``tiles/cut.py``), so a
static site can draw a large layer from any web server or object store that answers range
requests, with no tile server.

The layer is read once, in fid order and in batches (points keep only their coordinates,
other geometries their WKB); each feature's first zoom is worked out for every zoom at once
(the smallest fid of each thinning cell; cells nest, so a feature shown at one zoom is shown at
every deeper one); then zoom by zoom, the (feature, tile) pairs are sorted in the archive's
Hilbert order and encoded ``CHUNK`` pairs at a time, many tiles in one pass of numpy
(``tiles/mvt.py``: a tile is a slice of the chunk's bytes, not a Python loop over its features),
then written, gzipped, as they come: memory holds the layer's coordinates and fields and one
chunk, never the tiles.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from geo_publish.tiles import cut, mvt
from geo_publish.tiles.grid import BUFFER, CELLS, EXTENT, SCHEMES, Scheme
from geo_publish.tiles.pmtiles import Writer, tile_ids
from geo_publish.store.gpkg_read import Table

BATCH = 50_000  # rows read at a time
CHUNK = 25_000  # (feature, tile) pairs encoded at a time
SLICE = 250_000  # features whose tiles are worked out at a time


@dataclass
class Layer:
    """A published layer in memory, in fid order."""

    fids: np.ndarray
    bounds: np.ndarray | None  # n x 4 (CRS84); None for a layer of single points (coords)
    coords: np.ndarray | None  # n x 2 for a layer of single points; else None
    wkb: np.ndarray | None  # the geometries of any other layer (WKB, an object array)
    columns: list[Any]  # per field, an Arrow array (compact: 1,000,000 names take ~15 MB)

    def box(self, sub: Any = slice(None)) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(west, south, east, north) of the features at ``sub``."""
        if self.bounds is None:
            c = self.coords[sub]  # type: ignore[index]
            return c[:, 0], c[:, 1], c[:, 0], c[:, 1]
        b = self.bounds[sub]
        return b[:, 0], b[:, 1], b[:, 2], b[:, 3]

    def values(self, sub: np.ndarray) -> list[tuple[Any, ...]]:
        """The fields of the features at ``sub``, a tuple per feature."""
        if not self.columns:
            return [()] * len(sub)
        import pyarrow as pa

        take = pa.array(sub)
        return list(zip(*(c.take(take).to_pylist() for c in self.columns)))


@dataclass(frozen=True)
class Built:
    path: Path
    tiles: int
    features: int
    bytes: int


def batches(reader: Any, t: Table, fields: list[str]) -> Any:
    """The rows (fid, geometry, *fields) of a version table in fid order, ``BATCH`` at a time,
    each with its geometries decoded (shapely; None where there is none)."""
    cols = "".join(f', "{f}"' for f in fields)
    sql = (f"SELECT fid, {reader.geometry_select(t)}{cols} FROM {reader.table_sql(t)} "
           f"WHERE fid > ? ORDER BY fid LIMIT {BATCH}")
    last = -(2**62)
    while True:
        rows = reader.rows(sql, [last], t)
        if not rows:
            return
        last = rows[-1][0]
        yield rows, reader.geometries([r[1] for r in rows])


def read(reader: Any, t: Table, fields: list[str]) -> Layer:
    """The layer's fids, boxes, geometries and ``fields``, read in fid order and in batches."""
    fids: list[np.ndarray] = []
    bounds: list[np.ndarray] = []
    coords: list[np.ndarray] = []
    wkb: list[bytes] = []
    columns: list[list[Any]] = [[] for _ in fields]  # Arrow arrays, a batch each
    points = True
    for rows, geoms in batches(reader, t, fields):
        ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        geoms = geoms[ok]
        kept = [r for r, k in zip(rows, ok) if k]
        fids.append(np.array([r[0] for r in kept], dtype=np.int64))
        if points and not (shapely.get_type_id(geoms) == 0).all():
            # the first geometry that is not a single point: the points so far as WKB too
            points = False
            bounds.extend(np.hstack((c, c)) for c in coords)
            wkb.extend(shapely.to_wkb(shapely.points(np.vstack(coords))).tolist() if coords else [])
            coords.clear()
        if points:
            coords.append(shapely.get_coordinates(geoms))
        else:
            bounds.append(shapely.bounds(geoms))
            wkb.extend(shapely.to_wkb(geoms).tolist())
        for j, chunks in enumerate(columns):
            chunks.append(mvt.arrow_column([r[2 + j] for r in kept]))
        del geoms, rows, kept
    box = None if points else np.vstack(bounds)
    del bounds
    return Layer(np.concatenate(fids) if fids else np.zeros(0, dtype=np.int64), box,
                 (np.vstack(coords) if coords else np.zeros((0, 2))) if points else None,
                 None if points else _objects(wkb), [_concat(c) for c in columns])


def _objects(items: list[bytes]) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def _concat(chunks: list[Any]) -> Any:
    import pyarrow as pa

    if not chunks:
        return pa.array([], type=pa.null())
    types = {c.type for c in chunks if c.type != pa.null()}
    if len(types) > 1 and all(pa.types.is_integer(t) or pa.types.is_floating(t) for t in types):
        chunks = [c.cast(pa.float64()) for c in chunks]  # ints in some batches, reals in others
    elif len(types) > 1:  # numbers in some batches, text in others
        chunks = [pa.array([None if v is None else str(v) for v in c.to_pylist()], type=pa.string())
                  for c in chunks]
    elif types:
        kind = types.pop()
        chunks = [c.cast(kind) if c.type == pa.null() else c for c in chunks]
    return pa.concat_arrays(chunks)


def first_zooms(layer: Layer, full_zoom: int) -> np.ndarray:
    """Each feature's first zoom: the smallest at which it has the smallest fid of its
    thinning cell (by the centre of its box), ``full_zoom`` at the latest."""
    first = np.full(len(layer.fids), full_zoom, dtype=np.int16)
    if not full_zoom or not len(first):
        return first
    west, south, east, north = layer.box()
    # the cells of the deepest thinned zoom; a zoom above halves them (the grids nest)
    cell = 360.0 / (1 << (full_zoom - 1)) / CELLS
    ix = np.floor(((west + east) / 2 + 180.0) / cell).astype(np.int64)
    iy = np.floor(((south + north) / 2 + 90.0) / cell).astype(np.int64)
    del west, south, east, north
    for z in range(full_zoom - 1, -1, -1):
        shift = full_zoom - 1 - z
        _, head = np.unique(((ix >> shift) << 32) | (iy >> shift), return_index=True)
        first[head] = z  # fid order: the first of a cell is its smallest fid
    return first


def _pairs(layer: Layer, idx: np.ndarray, s: Scheme, z: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(feature, column, row) of every tile each feature of ``idx`` meets with its buffer."""
    n = 1 << z
    west, south, east, north = layer.box(idx)
    u0, v1 = s.unit(west, south)
    u1, v0 = s.unit(east, north)
    pad = BUFFER / EXTENT
    c0 = np.clip(np.floor(u0 * n - pad), 0, n - 1).astype(np.int32)
    c1 = np.clip(np.floor(u1 * n + pad), 0, n - 1).astype(np.int32)
    r0 = np.clip(np.floor(v0 * n - pad), 0, n - 1).astype(np.int32)
    r1 = np.clip(np.floor(v1 * n + pad), 0, n - 1).astype(np.int32)
    del west, south, east, north, u0, u1, v0, v1
    if ((c1 == c0) & (r1 == r0)).all():  # points, mostly: a tile each
        return idx.astype(np.int32), c0, r0
    at, col, row = tile_ranges(c0, c1, r0, r1)
    return idx.astype(np.int32)[at], col.astype(np.int32), row.astype(np.int32)


def tile_ranges(c0: np.ndarray, c1: np.ndarray, r0: np.ndarray, r1: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (item, column, row) of the tile ranges [c0, c1] x [r0, r1] (inclusive), one range
    an item, item by item and row by row within it."""
    width = (c1 - c0 + 1).astype(np.int64)
    count = width * (r1 - r0 + 1)
    at = np.repeat(np.arange(len(count)), count)
    k = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    w = np.repeat(width, count)
    return at, np.repeat(c0, count) + k % w, np.repeat(r0, count) + k // w


def _zoom(layer: Layer, idx: np.ndarray, s: Scheme, z: int) -> tuple[np.ndarray, ...]:
    """(tile id, feature, column, row) of every tile the features ``idx`` (in fid order) meet
    at zoom ``z``, in tile id order and, within a tile, in fid order; worked out ``SLICE``
    features at a time, so a zoom of millions of pairs holds 20 bytes a pair."""
    parts = []
    for a in range(0, len(idx), SLICE):
        feature, col, row = _pairs(layer, idx[a:a + SLICE], s, z)
        parts.append((tile_ids(z, col, row), feature, col, row))
    ids, feature, col, row = (np.concatenate(p) for p in zip(*parts))
    del parts
    order = np.argsort(ids, kind="stable")
    return ids[order], feature[order], col[order], row[order]


def build(reader: Any, t: Table, fields: list[str], name: str, out: Path, full_zoom: int,
          max_features: int, metadata: dict[str, Any]) -> Built:
    """Write ``out`` (atomically: a temporary file renamed into place)."""
    from pmtiles.tile import Compression, TileType

    fields = [f for f in fields if f in t.columns]
    s = SCHEMES["WebMercatorQuad"]
    lean_memory()
    layer = read(reader, t, fields)
    first = first_zooms(layer, full_zoom)
    values = mvt.Values.from_arrow(fields, layer.columns, cut.mvt_value)
    trim()
    uv = np.column_stack(s.unit(layer.coords[:, 0], layer.coords[:, 1])) if layer.coords is not None else None
    tmp = out.with_name(f".{out.name}.{os.getpid()}")
    count = 0
    with open(tmp, "wb") as fh, Writer(fh) as writer:
        for z in range(full_zoom + 1):
            idx = np.flatnonzero(first <= z)
            if not len(idx):
                continue
            ids, feature, col, row = _zoom(layer, idx, s, z)
            del idx
            # at most max_features a tile: the smallest fids
            starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
            within = np.arange(len(ids)) - np.repeat(starts, np.diff(np.r_[starts, len(ids)]))
            if (within >= max_features).any():
                keep = within < max_features
                feature, ids, col, row = feature[keep], ids[keep], col[keep], row[keep]
                starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
            del within
            # pairs encoded CHUNK at a time, cut between tiles
            cuts = np.unique(starts[np.searchsorted(starts, np.arange(0, len(ids), CHUNK), "right") - 1])
            for a, e in zip(cuts, np.r_[cuts[1:], len(ids)]):
                part = slice(int(a), int(e))
                for tid, data in _encode(layer, uv, values, fields, name, s, z, z < full_zoom,
                                         feature[part], col[part], row[part], ids[part]):
                    writer.write_tile(tid, gzip.compress(data, compresslevel=6, mtime=0))
                    count += 1
            del ids, feature, col, row
            trim()
        west, south, east, north = layer.box()
        lon0, lat0, lon1, lat1 = (west.min(), south.min(), east.max(), north.max()) \
            if len(layer.fids) else (-180.0, -85.0, 180.0, 85.0)
        n_features = len(layer.fids)
        del layer, values, uv, first, west, south, east, north  # before the directories
        header = {"tile_type": TileType.MVT, "tile_compression": Compression.GZIP,
                  "min_zoom": 0, "max_zoom": full_zoom,
                  "min_lon_e7": int(lon0 * 1e7), "min_lat_e7": int(max(lat0, -85) * 1e7),
                  "max_lon_e7": int(lon1 * 1e7), "max_lat_e7": int(min(lat1, 85) * 1e7),
                  "center_zoom": min(8, full_zoom),
                  "center_lon_e7": int((lon0 + lon1) / 2 * 1e7),
                  "center_lat_e7": int((lat0 + lat1) / 2 * 1e7)}
        layers = [{"id": name, "minzoom": 0, "maxzoom": full_zoom,
                   "fields": cut.field_types(t, fields)}]
        if count:
            writer.finalize(header, {"name": name, "format": "pbf", "vector_layers": layers,
                                     **metadata})
    if not count:
        tmp.unlink(missing_ok=True)
        raise ValueError(f"{name}: no feature to tile")
    os.replace(tmp, out)
    trim()
    return Built(out, count, n_features, out.stat().st_size)


def lean_memory() -> None:
    """Arrow's allocations through malloc: its default pool here (mimalloc) keeps what is
    freed, 80-100 MB after reading a layer of 1,000,000 named points."""
    import pyarrow as pa

    if pa.default_memory_pool().backend_name != "system":
        pa.set_memory_pool(pa.system_memory_pool())


def trim() -> None:
    """Give the memory freed by the last step back to the system (glibc keeps it otherwise:
    the small blocks of millions of geometries and rows leave the heap fragmented)."""
    import ctypes

    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (AttributeError, OSError):  # not glibc
        pass


def _encode(layer: Layer, uv: np.ndarray | None, values: mvt.Values, fields: list[str], name: str,
            s: Scheme, z: int, thin: bool, feature: np.ndarray, col: np.ndarray,
            row: np.ndarray, tid: np.ndarray) -> list[tuple[int, bytes]]:
    """The tiles of (feature, tile) pairs sorted by tile: (tile id, MVT bytes), in tile order."""
    n = 1 << z
    if uv is not None:
        geoms = shapely.points((uv[feature, 0] * n - col) * EXTENT,
                               (uv[feature, 1] * n - row) * EXTENT)
    else:
        geoms = shapely.force_2d(shapely.from_wkb(layer.wkb[feature]))  # type: ignore[index]
        per = shapely.get_num_coordinates(geoms)
        cols, rows = np.repeat(col, per), np.repeat(row, per)

        def project(c: np.ndarray) -> np.ndarray:
            u, v = s.unit(c[:, 0], c[:, 1])
            return np.column_stack(((u * n - cols) * EXTENT, (v * n - rows) * EXTENT))

        geoms = shapely.transform(geoms, project)
    geoms, keep = cut.shape(geoms, thin)
    return cut.encode_by_family(
        name, geoms, layer.fids[feature], tid, keep, lambda idx: values.take(feature[idx]),
        lambda idx: [tuple(cut.mvt_value(v) for v in r) for r in layer.values(feature[idx])], fields)
