"""The data files of the viewer site, one set per published version (names carry the version, so a
page never mixes versions and files can be cached for good): geometry for drawing, the popup
fields, and the downloads (GeoJSON, CSV, GeoPackage)."""

from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from geo_publish.publish.viewer.style import Style

DIGITS = 6  # ~0.1 m: more than a map shows, half the bytes of full precision
MARKERS_MAX = 1000  # above this many points a layer is drawn on a canvas (or clustered)


@dataclass(frozen=True)
class LayerFiles:
    mode: str  # markers | canvas | cluster | shapes
    geom: str  # site-relative URLs
    props: str
    fields: list[str]
    downloads: dict[str, tuple[str, int]]  # format -> (url, bytes)


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _jsonable(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return _jsonable(float(value))
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (str, int, bool)):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _flat(coords: np.ndarray) -> str:
    """[[x, y], ...] -> "x,y,x,y" with at most DIGITS decimals and no trailing zeros."""
    rounded = np.round(coords, DIGITS).ravel()
    return ",".join(np.char.rstrip(np.char.rstrip(
        np.char.mod(f"%.{DIGITS}f", rounded), "0"), ".").tolist())


def mode_for(style: Style, geometry_type: str | None, count: int) -> str:
    pointish = (geometry_type or "").endswith("Point") or style.marker == "centroid"
    if not pointish or style.background:
        return "shapes"
    if style.cluster:
        return "cluster"
    return "markers" if count <= MARKERS_MAX else "canvas"


def write_layer(frame: gpd.GeoDataFrame, collection: str, version: int, style: Style,
                geometry_type: str | None, site: Path) -> LayerFiles:
    """Write the drawing and popup files of one version (skipped when already there)."""
    data = site / "data"
    data.mkdir(parents=True, exist_ok=True)
    stem = f"{collection}.v{version}"
    mode = mode_for(style, geometry_type, len(frame))
    geom_path, props_path = data / f"{stem}.{mode}.json", data / f"{stem}.props.json"
    fields = [c for c in frame.columns if c != frame.geometry.name]
    shown = list(dict.fromkeys(([style.label_field] if style.label_field else [])
                               + [p.field for p in style.popup]))
    if not geom_path.exists():
        geoms = frame.geometry.values
        if mode == "shapes":
            rounded = shapely.transform(np.asarray(geoms), lambda c: np.round(c, DIGITS))
            parts = [g if g is not None else "null" for g in shapely.to_geojson(rounded)]
            centres = shapely.get_coordinates(shapely.point_on_surface(np.asarray(geoms)))
            body = (f'{{"type":"shapes","geometries":[{",".join(parts)}],'
                    f'"centres":[{_flat(centres)}]}}')
        else:
            kinds = shapely.get_type_id(np.asarray(geoms))
            pts = np.where(kinds == 0, np.asarray(geoms), shapely.point_on_surface(np.asarray(geoms)))
            body = f'{{"type":"points","coords":[{_flat(shapely.get_coordinates(pts))}]}}'
        _write(geom_path, body.encode())
    if not props_path.exists():
        rows = frame[shown].astype(object).to_numpy().tolist() if shown else [[] for _ in range(len(frame))]
        body = json.dumps({"fields": shown, "rows": [[_jsonable(v) for v in r] for r in rows]},
                          ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        _write(props_path, body.encode("utf-8"))
    return LayerFiles(mode, f"data/{geom_path.name}", f"data/{props_path.name}", fields,
                      write_downloads(frame, collection, version, site))


FORMATS = {  # format -> (extension, GDAL driver, layer creation options)
    "GeoJSON": ("geojson", "GeoJSON", {"RFC7946": "YES", "WRITE_BBOX": "YES"}),
    "CSV": ("csv", "CSV", {"GEOMETRY": "AS_WKT", "SEPARATOR": "COMMA"}),
    "GeoPackage": ("gpkg", "GPKG", {}),
}


def write_downloads(frame: gpd.GeoDataFrame, collection: str, version: int,
                    site: Path) -> dict[str, tuple[str, int]]:
    import pyogrio

    out = site / "downloads"
    out.mkdir(parents=True, exist_ok=True)
    result = {}
    for fmt, (ext, driver, options) in FORMATS.items():
        path = out / f"{collection}.v{version}.{ext}"
        if not path.exists():
            tmp = path.with_name(f".{os.getpid()}.{path.name}")
            tmp.unlink(missing_ok=True)
            opts = dict(options)
            if fmt == "CSV" and (frame.geom_type == "Point").all():
                opts["GEOMETRY"] = "AS_XY"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pyogrio.write_dataframe(frame, tmp, driver=driver, layer=collection,
                                        layer_options=opts)
            os.replace(tmp, path)
        result[fmt] = (f"downloads/{path.name}", path.stat().st_size)
    return result


def prune(site: Path, keep: set[str]) -> None:
    """Remove data and download files of versions no page refers to any more (keeping ``keep``,
    the stems ``<collection>.v<version>`` still in use or just replaced)."""
    for folder in (site / "data", site / "downloads"):
        if not folder.is_dir():
            continue
        for f in folder.iterdir():
            stem = ".".join(f.name.split(".")[:2])
            if not f.name.startswith(".") and stem not in keep:
                f.unlink(missing_ok=True)
