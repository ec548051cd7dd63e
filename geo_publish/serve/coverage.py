"""OGC API - Coverages for raster versions (COGs): pygeoapi's rasterio provider, made cheap per
request and true to the passport.

pygeoapi builds a provider per request; its rasterio provider opens the file twice and clips
with a polygon mask. Versions are immutable files, so the open dataset and its description are
kept per thread and path, and a bbox becomes a window read (COG tiles and overviews do the
rest). Band names and units come from the band descriptions and the units geo-publish stored.
"""

from __future__ import annotations

import threading
from typing import Any

import rasterio
from pygeoapi.provider.base import ProviderInvalidQueryError
from pygeoapi.provider.rasterio_ import RasterioProvider
from rasterio.io import MemoryFile
from rasterio.windows import Window, from_bounds

from geo_publish.http import errors as http_errors  # noqa: F401 - the read errors get their HTTP status
from geo_publish.read.errors import QueryTooLarge

DEFAULT_MAX_CELLS = 500_000  # CoverageJSON holds a Python float per cell: ~80 bytes with its text
_local = threading.local()
_props: dict[str, Any] = {}


def _dataset(path: str) -> Any:
    cache: dict[str, Any] = getattr(_local, "datasets", None) or {}
    _local.datasets = cache
    ds = cache.get(path)
    if ds is None or ds.closed:
        ds = cache[path] = rasterio.open(path)
    return ds


class COGProvider(RasterioProvider):  # type: ignore[misc]
    def __init__(self, provider_def: dict[str, Any]) -> None:
        # BaseProvider.__init__ without RasterioProvider's per-request opening
        super(RasterioProvider, self).__init__(provider_def)
        self._data = _dataset(self.data)
        props = _props.get(self.data)
        if props is None:
            props = _props[self.data] = self._get_coverage_properties()
        self._coverage_properties = props
        self.axes = props["axes"]
        self.crs = props["bbox_crs"]
        self.num_bands = props["num_bands"]
        self.native_format = provider_def["format"]["name"]
        self.max_cells = int(provider_def.get("max_cells", DEFAULT_MAX_CELLS))
        self.get_fields()

    def get_fields(self) -> dict[str, Any]:
        if not self._fields:
            tags = self._data.tags()
            for i, dtype in zip(self._data.indexes, self._data.dtypes):
                kind = "number" if dtype.startswith("float") else "integer"
                field: dict[str, Any] = {"title": self._data.descriptions[i - 1] or f"band {i}",
                                         "type": kind}
                unit = tags.get(f"GP_BAND_{i}_UNIT")
                if unit:
                    field["x-ogc-unit"] = unit
                self._fields[str(i)] = field
        return self._fields

    def query(self, properties: list[str] | None = None, subsets: dict[str, Any] | None = None,
              bbox: list[float] | None = None, bbox_crs: int = 4326, datetime_: str | None = None,
              format_: str = "json", **kwargs: Any) -> Any:
        subsets = subsets or {}
        ds = self._data
        try:
            bands = [int(b) for b in properties] if properties else list(ds.indexes)
        except ValueError as err:
            raise ProviderInvalidQueryError(user_msg=f"unknown band in properties: {properties}") from err
        if any(b not in ds.indexes for b in bands):
            raise ProviderInvalidQueryError(user_msg=f"bands are 1..{ds.count}; asked for {bands}")
        x, y = self._coverage_properties["x_axis_label"], self._coverage_properties["y_axis_label"]
        if bbox and (x in subsets or y in subsets):
            raise ProviderInvalidQueryError(user_msg="bbox and subsetting by coordinates are exclusive")
        if not bbox and (x in subsets or y in subsets):
            left, right = subsets.get(x, [ds.bounds.left, ds.bounds.right])
            bottom, top = subsets.get(y, [ds.bounds.bottom, ds.bounds.top])
            bbox = [left, bottom, right, top]
        if bbox:
            if bbox_crs != 4326:
                raise ProviderInvalidQueryError(user_msg="bbox-crs: only EPSG:4326 (CRS84) for coverages")
            w, s, e, n = (bbox[0], bbox[1], bbox[3], bbox[4]) if len(bbox) == 6 else bbox[:4]
            w, s = max(w, ds.bounds.left), max(s, ds.bounds.bottom)
            e, n = min(e, ds.bounds.right), min(n, ds.bounds.top)
            if w >= e or s >= n:
                raise ProviderInvalidQueryError(user_msg="the bbox does not overlap the coverage")
            window = from_bounds(w, s, e, n, ds.transform).round_offsets().round_lengths()
            window = window.intersection(Window(0, 0, ds.width, ds.height))
        else:
            window = Window(0, 0, ds.width, ds.height)
        cells = int(window.width) * int(window.height) * len(bands)
        if cells > self.max_cells:
            raise QueryTooLarge(
                user_msg=f"the request covers {cells:,} cells (width x height x bands); this server "
                         f"answers at most {self.max_cells:,} per request: ask for a smaller bbox "
                         "or fewer bands (properties=1)")
        data = ds.read(bands, window=window, masked=False)
        transform = ds.window_transform(window)
        bounds = rasterio.windows.bounds(window, ds.transform)
        meta = {**ds.meta, "count": len(bands), "height": data.shape[1], "width": data.shape[2],
                "transform": transform, "driver": "GTiff"}
        if format_ == "json":
            return self._covjson(bands, data, bounds)
        with MemoryFile() as mem:
            with mem.open(**meta, compress="deflate") as out:
                out.write(data)
                for k, b in enumerate(bands, 1):
                    if ds.descriptions[b - 1]:
                        out.set_band_description(k, ds.descriptions[b - 1])
            return mem.read()

    def _covjson(self, bands: list[int], data: Any, bounds: tuple[float, ...]) -> dict[str, Any]:
        """CoverageJSON with one parameter per band, named and with units; nodata as null."""
        import numpy as np

        ds = self._data
        fields = self.get_fields()
        height, width = data.shape[1], data.shape[2]
        cj: dict[str, Any] = {
            "type": "Coverage",
            "domain": {"type": "Domain", "domainType": "Grid", "axes": {
                "x": {"start": bounds[0] + ds.res[0] / 2, "stop": bounds[2] - ds.res[0] / 2, "num": width},
                "y": {"start": bounds[3] - ds.res[1] / 2, "stop": bounds[1] + ds.res[1] / 2, "num": height}},
                "referencing": [{"coordinates": ["x", "y"], "system": {
                    "type": "GeographicCRS", "id": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}}]},
            "parameters": {}, "ranges": {},
        }
        for k, b in enumerate(bands):
            f = fields[str(b)]
            key = f"band{b}"
            cj["parameters"][key] = {
                "type": "Parameter", "description": {"en": f["title"]},
                "observedProperty": {"id": key, "label": {"en": f["title"]}},
                **({"unit": {"symbol": f["x-ogc-unit"]}} if f.get("x-ogc-unit") else {})}
            values = data[k].astype("float64")
            if ds.nodata is not None:
                values[values == ds.nodata] = np.nan
            cj["ranges"][key] = {
                "type": "NdArray", "dataType": "float" if f["type"] == "number" else "integer",
                "axisNames": ["y", "x"], "shape": [height, width],
                "values": [None if v != v else (v if f["type"] == "number" else int(v))
                           for v in values.ravel().tolist()]}
        return cj

