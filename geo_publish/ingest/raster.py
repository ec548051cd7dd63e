"""Raster ingest: a GeoTIFF (or any raster rasterio reads) becomes a Cloud-Optimized GeoTIFF in
EPSG:4326 with overviews, nodata kept, band descriptions and units kept, measured for the
passport (extent, resolution, bands, nodata share, checksum).

Memory stays flat whatever the size: the source is reprojected through a WarpedVRT and written
window by window by rio-cogeo; statistics are read from an overview level, not the full grid.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from geo_publish.errors import CRSError, IngestError, SourceNotFound
from geo_publish.ingest.source import sha256

RASTER_SUFFIXES = {".tif", ".tiff", ".gtiff", ".img", ".jp2", ".vrt", ".asc", ".bil", ".dem",
                   ".nc", ".hgt", ".rst", ".sdat"}
MAX_CELLS = 4 * 10**10  # width x height x bands beyond which a file is taken for a broken header
TARGET_CRS = "EPSG:4326"


def is_raster(path: Path) -> bool:
    return path.suffix.lower() in RASTER_SUFFIXES


@dataclass
class RasterResult:
    path: Path  # the COG written
    crs: str
    crs_from: str
    transformation: str
    extent: list[float]
    width: int
    height: int
    resolution: list[float]
    source_resolution: list[float]
    bands: list[dict[str, Any]]
    dtype: str
    nodata: float | None
    nodata_share: float
    sha256: str
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"width": self.width, "height": self.height, "resolution": self.resolution,
                "source_resolution": self.source_resolution, "bands": self.bands,
                "dtype": self.dtype, "nodata": self.nodata, "nodata_share": self.nodata_share,
                "format": "COG (GeoTIFF, deflate, internal overviews)"}


def _open(path: Path) -> Any:
    import rasterio
    from rasterio.errors import RasterioIOError

    if not path.exists():
        raise SourceNotFound(f"{path}: file not found")
    if path.is_dir():
        raise IngestError(f"{path}: is a folder, not a raster file")
    if path.stat().st_size == 0:
        raise IngestError(f"{path}: empty file (0 bytes)")
    try:
        ds = rasterio.open(path)
    except RasterioIOError as err:
        raise IngestError(f"{path}: not a readable raster ({str(err).splitlines()[0]})") from err
    except PermissionError as err:
        raise IngestError(f"{path}: permission denied") from err
    return ds


def _check_readable(ds: Any, path: Path) -> None:
    """Read a corner of each end of the file: a truncated TIFF fails here, not halfway through."""
    from rasterio.errors import RasterioError
    from rasterio.windows import Window

    try:
        for row in (0, ds.height - 1):
            ds.read(1, window=Window(0, row, min(ds.width, 256), 1))
    except (RasterioError, ValueError) as err:
        raise IngestError(f"{path}: damaged or truncated raster ({str(err).splitlines()[0]})") from err


def _nodata_for(dtype: str) -> float:
    if np.issubdtype(np.dtype(dtype), np.floating):
        return float("nan")
    info = np.iinfo(np.dtype(dtype))
    return float(info.min if info.min < 0 else info.max)


GDAL_CACHE_MB = 96  # GDAL's block cache defaults to 5% of RAM: bounded, memory stays flat


def ingest_raster(source: Path, out: Path, source_crs: str | None = None) -> RasterResult:
    """Reproject ``source`` to EPSG:4326 and write it as a COG at ``out``."""
    import rasterio

    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
        return _ingest_raster(source, out, source_crs)


def _ingest_raster(source: Path, out: Path, source_crs: str | None) -> RasterResult:
    import rasterio
    from rasterio.crs import CRS
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    notes: list[str] = []
    with _open(source) as ds:
        cells = ds.width * ds.height * ds.count
        if ds.width <= 0 or ds.height <= 0 or ds.count <= 0 or cells > MAX_CELLS:
            raise IngestError(f"{source}: absurd raster size {ds.width} x {ds.height} x {ds.count} "
                              f"bands (limit {MAX_CELLS:.0e} cells): a damaged header?")
        if source_crs:
            try:
                crs, crs_from = CRS.from_user_input(source_crs), "option"
            except Exception as err:  # noqa: BLE001 - rasterio raises several kinds
                raise CRSError(f"--source-crs {source_crs!r}: not a CRS rasterio knows ({err})") from err
        elif ds.crs:
            crs, crs_from = ds.crs, "file"
        else:
            raise CRSError(f"{source}: the raster has no CRS",
                           hint="pass --source-crs, e.g. --source-crs EPSG:32642")
        if ds.transform.is_identity and not ds.gcps[0]:
            raise IngestError(f"{source}: no georeference (no geotransform and no ground control "
                              "points): pixel positions are unknown")
        _check_readable(ds, source)
        dtype = ds.dtypes[0]
        nodata = ds.nodata
        if nodata is None:
            nodata = _nodata_for(dtype)
            notes.append(f"the raster declares no nodata value: {nodata} marks cells outside it "
                         "after reprojection")
        bands = [{"band": i, "description": ds.descriptions[i - 1] or f"band {i}",
                  "unit": (ds.units[i - 1] if ds.units else None) or None, "dtype": ds.dtypes[i - 1]}
                 for i in ds.indexes]
        src_res = [abs(ds.transform.a), abs(ds.transform.e)]
        categorical = not np.issubdtype(np.dtype(dtype), np.floating)
        resampling = Resampling.nearest if categorical else Resampling.bilinear
        with WarpedVRT(ds, crs=TARGET_CRS, src_crs=crs, src_nodata=ds.nodata if ds.nodata is not None else None,
                       nodata=nodata, resampling=resampling, warp_mem_limit=64) as vrt:
            profile = cog_profiles.get("deflate")
            profile.update(blockxsize=512, blockysize=512, predictor=2 if categorical else 3)
            tmp = out.with_name(out.name + ".part")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cog_translate(vrt, str(tmp), profile, nodata=nodata, overview_resampling=(
                    "nearest" if categorical else "average"), in_memory=False, quiet=True,
                    config={"GDAL_NUM_THREADS": "ALL_CPUS", "GDAL_TIFF_INTERNAL_MASK": "TRUE",
                            "GDAL_CACHEMAX": GDAL_CACHE_MB},
                    use_cog_driver=False, web_optimized=False, forward_band_tags=True,
                    additional_cog_metadata={f"GP_BAND_{b['band']}_UNIT": b["unit"]
                                             for b in bands if b["unit"]})
            tmp.replace(out)
        transformation = (f"{crs.to_string()} -> {TARGET_CRS} "
                          f"({'nearest' if categorical else 'bilinear'} resampling)")
    with rasterio.open(out) as dst:
        share = _nodata_share(dst)
        west, south, east, north = dst.bounds
        result = RasterResult(
            path=out, crs=crs.to_string(), crs_from=crs_from, transformation=transformation,
            extent=[round(v, 7) for v in (west, south, east, north)], width=dst.width,
            height=dst.height, resolution=[abs(dst.transform.a), abs(dst.transform.e)],
            source_resolution=src_res, bands=bands, dtype=dtype,
            nodata=None if nodata is None or (isinstance(nodata, float) and math.isnan(nodata)) else nodata,
            nodata_share=share, sha256=sha256(source), warnings=notes)
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        out.unlink(missing_ok=True)
        raise CRSError(f"{source}: after reprojection the raster lies outside the valid range "
                       f"({west:.1f}, {south:.1f}, {east:.1f}, {north:.1f})",
                       hint="check the CRS; pass --source-crs if the file's is wrong")
    return result


def _nodata_share(ds: Any) -> float:
    """Share of nodata cells, from the smallest overview of at least 256 cells a side."""
    factor = 1
    for f in ds.overviews(1):
        if ds.width // f >= 256 and ds.height // f >= 256:
            factor = f
    shape = (max(1, ds.height // factor), max(1, ds.width // factor))
    mask = ds.read_masks(1, out_shape=shape)
    return round(float((mask == 0).mean()), 6)
