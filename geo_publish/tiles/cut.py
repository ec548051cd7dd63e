"""Cutting a vector tile from a published version, the same rule for the server's tiles and
the site's archives (``tiles/pyramid.py``):

- the store's spatial index gives the features whose box meets the tile and its buffer (the
  SQL is the reader's: ``Reader.tile_rows``);
- below ``vector_tiles.full_zoom``, **thinning**: one feature per cell of 1/64 of a tile (the one
  with the smallest fid, so a feature kept at one zoom is kept at every zoom above: the grid
  cells nest); the densest areas stay readable and every tile is bounded (about 4,000
  features); from ``full_zoom`` every feature is in its tiles;
- lines and polygons are clipped to the tile and its buffer and simplified to the tile's grid
  (half a pixel of a 512-pixel tile below ``full_zoom``);
- the attributes are the style's popup and label fields and the id field: the rest is one
  request away (``/collections/{id}/items/{fid}``), and tiles stay small.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import shapely

from geo_publish.read.readers import Reader
from geo_publish.store.gpkg_read import Table
from geo_publish.tiles import mvt
from geo_publish.tiles.grid import BUFFER, CELLS, EXTENT, Scheme


def mvt_value(v: Any) -> Any:
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


def cut(reader: Reader, t: Table, fields: list[str], layer: str, s: Scheme, z: int, row: int,
        col: int, full_zoom: int, max_features: int) -> bytes | None:
    """The tile as MVT bytes; None when no feature is in it."""
    fields = [f for f in fields if f in t.columns]
    thin = z < full_zoom
    cell = 360.0 / (s.w0 << z) / CELLS if thin else None
    rows = reader.tile_rows(t, fields, s.box(z, row, col, BUFFER / EXTENT), cell, max_features)
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
        columns = {f: [mvt_value(r[j]) for r in rows] for j, f in enumerate(fields)}
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


def encode_by_family(name: str, geoms: np.ndarray, ids: np.ndarray, tid: np.ndarray, keep: np.ndarray,
                     values_of: Callable[[np.ndarray], mvt.Values],
                     rows_of: Callable[[np.ndarray], list[Any]], fields: list[str]) -> list[tuple[int, bytes]]:
    """A layer's tiles from (feature piece, tile) pairs sorted by tile, ``keep`` the pieces left
    after cutting: (tile id, MVT bytes) in tile order. Most tiles at once (``mvt.tiles``, one
    geometry family); a tile holding another family too, or a collection, feature by feature
    (``encode_mixed``). ``values_of(idx)``: the pieces' values for mvt.tiles; ``rows_of(idx)``:
    their value tuples in ``fields`` order."""
    fam = families(geoms)
    main = np.bincount(fam[keep] + 1, minlength=4)[1:].argmax() if keep.any() else 0
    odd = np.unique(tid[keep & (fam != main)])
    whole = np.flatnonzero(keep & ~np.isin(tid, odd))
    done = mvt.tiles(name, geoms[whole], ids[whole], tid[whole], values_of(whole), EXTENT)
    for t in odd.tolist():
        sub = np.flatnonzero(keep & (tid == t))
        data = encode_mixed(geoms[sub], ids[sub], rows_of(sub), fields, name)
        if data:
            done.append((t, data))
    if len(odd):
        done.sort(key=lambda p: p[0])
    return done


def encode_mixed(geoms: np.ndarray, ids: np.ndarray, rows: list[Any], fields: list[str],
                  layer: str) -> bytes | None:
    """A tile whose features mix points, lines and polygons (a GEOMETRY layer), or hold a
    collection: mapbox-vector-tile, a feature at a time."""
    import mapbox_vector_tile
    from mapbox_vector_tile.encoder import on_invalid_geometry_make_valid

    features = []
    for fid, vals, g in zip(ids, rows, geoms):
        props = {f: mvt_value(v) for f, v in zip(fields, vals)}
        features.append({"geometry": g, "id": int(fid),
                         "properties": {k: v for k, v in props.items() if v is not None}})
    return mapbox_vector_tile.encode(  # type: ignore[no-any-return]
        [{"name": layer, "features": features}],
        default_options={"y_coord_down": True, "extents": EXTENT,
                         "on_invalid_geometry": on_invalid_geometry_make_valid})



_TILEJSON_TYPES = {"integer": "Number", "number": "Number", "boolean": "Boolean"}


def field_types(t: Table, fields: list[str]) -> dict[str, str]:
    """TileJSON's ``vector_layers[].fields``: each field's type (String, Number, Boolean)."""
    return {f: _TILEJSON_TYPES.get(t.json_type(f)["type"], "String") for f in fields}
