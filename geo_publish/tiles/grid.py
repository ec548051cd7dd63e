"""Tile matrix sets as grid arithmetic: the tiles of a zoom, a tile's box in CRS84, CRS84
coordinates in a tile's units. WebMercatorQuad and WorldCRS84Quad, as OGC names them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from geo_publish.errors import NotFound

EXTENT = 4096  # tile units per side
BUFFER = 64  # tile units drawn beyond each edge (labels and strokes across tile edges)
CELLS = 64  # thinning cells per tile side
MAX_LAT = 85.0511287798066


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
            rad = np.radians(np.clip(lat, -MAX_LAT, MAX_LAT))
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

