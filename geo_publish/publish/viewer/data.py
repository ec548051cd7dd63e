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


def png_bytes(rgba: np.ndarray) -> bytes:
    """A (4, height, width) uint8 array as a PNG image (no georeference: none is wanted)."""
    from rasterio.errors import NotGeoreferencedWarning
    from rasterio.io import MemoryFile

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with MemoryFile() as mem:
            with mem.open(driver="PNG", width=rgba.shape[2], height=rgba.shape[1], count=4,
                          dtype="uint8") as out:
                out.write(rgba)
            return mem.read()


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


def checksum(path: Path) -> None:
    """``<file>.sha256`` beside a download (sha256sum's format), which the DCAT catalogue quotes."""
    import hashlib

    side = path.with_name(path.name + ".sha256")
    if side.exists():
        return
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    _write(side, f"{digest.hexdigest()}  {path.name}\n".encode())


def _downloads(collection: str, version: int, site: Path, points: bool,
               write: Any) -> dict[str, tuple[str, int]]:
    """Each download format of a version, written by ``write(tmp_path, driver, options)`` unless
    there already, with its checksum; format -> (url, bytes)."""
    out = site / "downloads"
    out.mkdir(parents=True, exist_ok=True)
    result = {}
    for fmt, (ext, driver, options) in FORMATS.items():
        path = out / f"{collection}.v{version}.{ext}"
        if not path.exists():
            tmp = path.with_name(f".{os.getpid()}.{path.name}")
            tmp.unlink(missing_ok=True)
            opts = dict(options)
            if fmt == "CSV" and points:
                opts["GEOMETRY"] = "AS_XY"
            if fmt == "GeoJSON" and points:  # a point's box is the point: it doubled the time
                opts.pop("WRITE_BBOX")      # and added 45 % to the file (1,000,000 points: 12 s)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                write(tmp, driver, opts)
            os.replace(tmp, path)
        checksum(path)
        result[fmt] = (f"downloads/{path.name}", path.stat().st_size)
    return result


def write_downloads(frame: gpd.GeoDataFrame, collection: str, version: int,
                    site: Path) -> dict[str, tuple[str, int]]:
    import pyogrio

    def write(tmp: Path, driver: str, opts: dict[str, str]) -> None:
        pyogrio.write_dataframe(frame, tmp, driver=driver, layer=collection, layer_options=opts)

    return _downloads(collection, version, site, bool((frame.geom_type == "Point").all()), write)


def _arrow_type(table: Any, column: str) -> Any:
    import pyarrow as pa

    kind = table.json_type(column)
    if kind.get("format") == "date":
        return pa.date32()
    return {"integer": pa.int64(), "number": pa.float64(), "boolean": pa.bool_()}.get(
        kind["type"], pa.string())


def _column(values: list[Any], kind: Any, name: str) -> Any:
    import pyarrow as pa

    try:
        return pa.array(values, type=kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        try:  # dates stored as text
            return pa.array([None if v is None else str(v) for v in values]).cast(kind)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as err:
            from geo_publish.errors import ServeError

            raise ServeError(f"field {name!r}: a value does not fit its type {kind} ({err})") from err


def stream_downloads(reader: Any, table: Any, collection: str, version: int,
                     site: Path) -> dict[str, tuple[str, int]]:
    """The downloads of a large layer, written batch by batch from the store (a layer of
    millions of features is never held in memory whole, as ``write_downloads`` holds it)."""
    import pyarrow as pa
    import pyogrio

    from geo_publish.tiles.pyramid import batches, lean_memory, trim

    lean_memory()
    fields = list(table.columns)
    schema = pa.schema([(f, _arrow_type(table, f)) for f in fields]
                       + [pa.field("geometry", pa.binary(), metadata={
                           "ARROW:extension:name": "geoarrow.wkb"})])
    kind = {n.upper(): n for n in ("Point", "LineString", "Polygon", "MultiPoint",
                                    "MultiLineString", "MultiPolygon")}.get(table.geometry_type,
                                                                            "Unknown")

    def stream() -> Any:
        for rows, geoms in batches(reader, table, fields):
            cols = [_column([r[2 + j] for r in rows], schema.field(j).type, f)
                    for j, f in enumerate(fields)]
            wkb = shapely.to_wkb(geoms, flavor="iso")
            yield pa.record_batch(cols + [pa.array(wkb.tolist(), type=pa.binary())], schema=schema)

    def write(tmp: Path, driver: str, opts: dict[str, str]) -> None:
        pyogrio.write_arrow(pa.RecordBatchReader.from_batches(schema, stream()), tmp,
                            driver=driver, layer=collection, layer_options=opts,
                            geometry_name="geometry", geometry_type=kind, crs="EPSG:4326",
                            encoding="UTF-8")

    try:
        return _downloads(collection, version, site, kind == "Point", write)
    finally:
        trim()


def prune(site: Path, keep: set[str]) -> dict[str, list[str]]:
    """Remove data and download files of versions no page refers to any more (keeping ``keep``,
    the stems ``<collection>.v<version>`` still in use or just replaced). Each folder is listed
    once (os.scandir: a site of 10,000 layers holds some 60,000 files). Returns the files kept
    (site paths), by stem."""
    kept: dict[str, list[str]] = {}
    for folder in (site / "data", site / "downloads"):
        try:
            entries = list(os.scandir(folder))
        except OSError:  # no such folder
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            stem = ".".join(entry.name.split(".", 2)[:2])
            if stem in keep:
                kept.setdefault(stem, []).append(f"{folder.name}/{entry.name}")
                continue
            try:
                os.unlink(entry.path)
            except OSError:  # gone meanwhile, or a folder: not ours to remove
                pass
    return kept


RASTER_PX = 1024  # the overlay's longest side
VALUES_PX = 256  # the value-under-cursor grid's longest side
DEFAULT_RAMP = [(0.0, "#440154"), (0.25, "#3b528b"), (0.5, "#21918c"), (0.75, "#5ec962"),
                (1.0, "#fde725")]


@dataclass(frozen=True)
class RasterFiles:
    image: str
    values: str
    bounds: list[float]  # south, west, north, east (what L.imageOverlay takes)
    ramp: list[tuple[float, str]]
    unit: str | None
    name: str
    downloads: dict[str, tuple[str, int]]


def _colourise(values: np.ndarray, mask: np.ndarray, ramp: list[tuple[float, str]]) -> np.ndarray:
    """Values -> RGBA uint8 (4, h, w): linear between the ramp's stops, clamped, nodata clear."""
    stops = np.array([v for v, _ in ramp], dtype="float64")
    rgb = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for _, c in ramp], dtype="float64")
    flat = np.clip(values.astype("float64").ravel(), stops[0], stops[-1])
    out = np.zeros((4, flat.size), dtype="uint8")
    for ch in range(3):
        out[ch] = np.interp(flat, stops, rgb[:, ch]).round().astype("uint8")
    out[3] = np.where(mask.ravel(), 0, 255)
    return out.reshape(4, *values.shape)


def write_raster_layer(cog: str, collection: str, version: int, style: Style, site: Path) -> RasterFiles:
    """A PNG overlay in Web Mercator (so L.imageOverlay places it exactly), a coarse grid of the
    values for the value under the cursor, and the COG itself as the download."""
    import rasterio
    from rasterio.crs import CRS
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT
    from rasterio.warp import transform_bounds

    data = site / "data"
    data.mkdir(parents=True, exist_ok=True)
    stem = f"{collection}.v{version}"
    png, grid = data / f"{stem}.raster.png", data / f"{stem}.values.json"
    with rasterio.open(cog) as src, WarpedVRT(src, crs=CRS.from_epsg(3857),
                                              resampling=Resampling.bilinear) as vrt:
        band = min(style.band, src.count)
        scale = max(vrt.width, vrt.height) / RASTER_PX
        shape = (max(1, round(vrt.height / max(scale, 1))), max(1, round(vrt.width / max(scale, 1))))
        arr = vrt.read(band, out_shape=shape, masked=True)
        values = np.ma.filled(arr.astype("float64"), np.nan)
        mask = np.ma.getmaskarray(arr) | ~np.isfinite(values)
        ramp = style.ramp
        if ramp is None:  # the 2nd..98th percentile of the data, in five stops
            ok = values[~mask]
            lo, hi = (np.percentile(ok, [2, 98]) if ok.size else (0.0, 1.0))
            hi = hi if hi > lo else lo + 1
            ramp = [(float(lo + (hi - lo) * f), c) for f, c in DEFAULT_RAMP]
        w, s, e, n = transform_bounds(vrt.crs, "EPSG:4326", *vrt.bounds)
        if not png.exists():
            rgba = _colourise(np.where(mask, ramp[0][0], values), mask, ramp)
            _write(png, png_bytes(rgba))
        if not grid.exists():
            step = max(1, int(np.ceil(max(shape) / VALUES_PX)))
            small = values[::step, ::step]
            small_mask = mask[::step, ::step]
            cells = [None if m else float(f"{v:.4g}") for v, m in zip(small.ravel(), small_mask.ravel())]
            body = {"width": small.shape[1], "height": small.shape[0],
                    "bounds3857": list(vrt.bounds), "values": cells}
            _write(grid, json.dumps(body, separators=(",", ":"), allow_nan=False).encode())
        unit = src.tags().get(f"GP_BAND_{band}_UNIT")
        name = src.descriptions[band - 1] or f"band {band}"
    downloads = site / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    tif = downloads / f"{stem}.tif"
    if not tif.exists():
        tmp = tif.with_name(f".{os.getpid()}.{tif.name}")
        try:
            os.link(cog, tmp)  # same file system: no copy of a possibly large file
        except OSError:
            import shutil

            shutil.copyfile(cog, tmp)
        os.replace(tmp, tif)
    checksum(tif)
    return RasterFiles(f"data/{png.name}", f"data/{grid.name}", [s, w, n, e],
                       [(float(v), c) for v, c in ramp], unit, name,
                       {"GeoTIFF (COG)": (f"downloads/{tif.name}", tif.stat().st_size)})
