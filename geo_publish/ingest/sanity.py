"""Coordinates that reprojected cleanly but cannot be right: out of range or far from the CRS's area."""

from __future__ import annotations

import numpy as np
import shapely
from pyproj import CRS, Transformer

from geo_publish.ingest.crs import crs_label

EPS = 1e-6  # degrees; Natural Earth writes 180.00000000000006


def snap_to_range(geoms: np.ndarray) -> np.ndarray:
    """Pull coordinates within EPS of +-180/+-90 back onto the limit (world datasets)."""
    b = shapely.bounds(geoms)
    with np.errstate(invalid="ignore"):
        over = (b[:, 0] < -180) | (b[:, 2] > 180) | (b[:, 1] < -90) | (b[:, 3] > 90)
    if not over.any():
        return geoms

    def fn(c: np.ndarray) -> np.ndarray:
        c = c.copy()
        x, y = c[:, 0], c[:, 1]
        c[:, 0] = np.where((np.abs(x) > 180) & (np.abs(x) <= 180 + EPS), np.sign(x) * 180, x)
        c[:, 1] = np.where((np.abs(y) > 90) & (np.abs(y) <= 90 + EPS), np.sign(y) * 90, y)
        return c

    geoms = geoms.copy()
    geoms[over] = shapely.transform(geoms[over], fn, include_z=None)
    return geoms


def out_of_range(b: np.ndarray) -> np.ndarray:
    """Features, given their bounds, with a longitude outside +-180 or a latitude outside +-90
    (after snapping)."""
    return (b[:, 0] < -180) | (b[:, 2] > 180) | (b[:, 1] < -90) | (b[:, 3] > 90) | ~np.isfinite(b).all(axis=1)


def outside_area(
    b: np.ndarray, area: tuple[float, float, float, float] | None, margin: float
) -> np.ndarray:
    """Features, given their bounds, lying entirely outside ``area`` (w, s, e, n; may cross 180)
    grown by ``margin``."""
    if area is None:
        return np.zeros(len(b), bool)
    w, s, e, n = area
    if w <= -180 + margin and e >= 180 - margin and s <= -90 + margin and n >= 90 - margin:
        return np.zeros(len(b), bool)
    lat_out = (b[:, 3] < s - margin) | (b[:, 1] > n + margin)
    if w <= e:
        lon_out = (b[:, 2] < w - margin) | (b[:, 0] > e + margin)
    else:  # area crosses the antimeridian
        lon_out = (b[:, 0] > e + margin) & (b[:, 2] < w - margin)
    return lat_out | lon_out


def _share_inside(
    xs: np.ndarray, ys: np.ndarray, src: CRS, area: tuple[float, float, float, float] | None
) -> float:
    try:
        lon, lat = Transformer.from_crs(src, "OGC:CRS84", always_xy=True).transform(xs, ys)
    except Exception:  # noqa: BLE001 - any failure means "not inside"
        return 0.0
    b = np.column_stack([lon, lat, lon, lat])  # a point's bounds
    ok = ~out_of_range(b) & ~outside_area(b, area, 1.0)
    return float(ok.mean()) if len(ok) else 0.0


def guess_cause(
    src: CRS, sample: np.ndarray, area: tuple[float, float, float, float] | None
) -> str:
    """A likely reason why most of a layer lands in the wrong place, for the error message."""
    label = crs_label(src)
    coords = shapely.get_coordinates(sample[~shapely.is_missing(sample)])[:2000]
    if not len(coords):
        return f"the coordinates do not fit {label}"
    xs, ys = coords[:, 0], coords[:, 1]
    med_x, med_y = float(np.median(xs)), float(np.median(ys))
    if src.is_geographic:
        if np.abs(xs).max() > 360 or np.abs(ys).max() > 360:
            return (f"coordinates like ({med_x:.0f}, {med_y:.0f}) look like metres, but {label} "
                    "is in degrees: the file names the wrong CRS, pass the real one with "
                    "--source-crs (e.g. EPSG:32642 for UTM zone 42N)")
        if _share_inside(ys, xs, src, area) > 0.5:
            return (f"longitude and latitude look swapped (median {med_x:.2f}, {med_y:.2f}): "
                    "write the file with x = longitude, y = latitude")
        return f"coordinates (median {med_x:.2f}, {med_y:.2f}) fall outside {label}'s area of use"
    where = f"{label}'s area of use ({src.area_of_use.name})" if src.area_of_use else label
    if _share_inside(ys, xs, src, area) > 0.5:
        return f"x and y look swapped (median x {med_x:.0f}, y {med_y:.0f}) for {label}"
    if np.abs(xs).max() <= 180 and np.abs(ys).max() <= 90:
        return (f"coordinates like ({med_x:.4f}, {med_y:.4f}) look like degrees, but {label} is "
                "projected: pass --source-crs EPSG:4326")
    zone = int(med_x // 1_000_000)
    if 1 <= zone <= 60 and src.is_projected:
        return (f"eastings around {med_x:.0f} carry a zone prefix ({zone}) that {label} does not "
                "expect: use the Gauss-Kruger CRS with the zone prefix (e.g. EPSG:284NN) via "
                "--source-crs")
    return (f"coordinates (median x {med_x:.0f}, y {med_y:.0f}) fall outside {where}: wrong zone "
            "or false easting? pass the right CRS with --source-crs")
