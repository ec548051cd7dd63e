"""CRS: normalise once to pyproj.CRS, pin one transformation per layer, record it."""

from __future__ import annotations

import math
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.aoi import AreaOfInterest
from pyproj.exceptions import CRSError as ProjCRSError
from pyproj.transformer import TransformerGroup

from geo_publish.errors import BallparkTransformation, CRSError

TARGET = CRS.from_user_input("OGC:CRS84")
TARGET_NAME = "OGC:CRS84"


def parse_crs(value: object, where: str) -> CRS:
    try:
        return CRS.from_user_input(value)
    except (ProjCRSError, TypeError) as err:
        raise CRSError(
            f"{where}: unknown CRS {str(value)[:80]!r}",
            hint="pass e.g. --source-crs EPSG:32642",
        ) from err


def crs_label(crs: CRS) -> str:
    """EPSG:xxxx where the CRS has one, else its name."""
    auth = crs.to_authority(min_confidence=90)
    return f"{auth[0]}:{auth[1]}" if auth else crs.name


def horizontal(crs: CRS) -> CRS:
    if crs.is_compound and crs.sub_crs_list:
        return crs.sub_crs_list[0]
    return crs


# Coordinates per thread below which splitting a transformation is not worth the hand-off.
_PARALLEL_MIN = 50_000


@dataclass
class Pinned:
    """The one coordinate operation applied to every feature of a layer.

    PROJ objects must not be shared between threads: each thread that transforms gets its own
    copy of the same operation (the first of the same group, checked by name).
    """

    transformer: Transformer
    name: str
    accuracy: float | None
    ballpark: bool
    note: str | None
    source: CRS | None = None
    aoi: AreaOfInterest | None = None
    _local: threading.local = field(default_factory=threading.local, repr=False)

    def describe(self) -> str:
        acc = f", accuracy {self.accuracy:g} m" if self.accuracy is not None else ", accuracy unknown"
        return f"{self.name}{acc}"

    def _mine(self) -> Transformer:
        if threading.current_thread() is threading.main_thread() or self.source is None:
            return self.transformer
        t = getattr(self._local, "t", None)
        if t is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                group = TransformerGroup(self.source, TARGET, always_xy=True, area_of_interest=self.aoi)
            t = group.transformers[0]  # as pin_transformation chose
            if (t.description or t.name) != (self.transformer.description or self.transformer.name):
                raise RuntimeError(f"the pinned operation {self.name!r} could not be re-created")
            self._local.t = t
        return t

    def _xy_inplace(self, x: np.ndarray, y: np.ndarray) -> None:
        self._mine().transform(x, y, inplace=True)

    def transform_xy(self, x: np.ndarray, y: np.ndarray, pool: ThreadPoolExecutor | None = None) -> None:
        """Transform contiguous float64 arrays in place; large ones in parts on ``pool``'s threads
        (PROJ releases the GIL)."""
        n = len(x)
        parts = 1
        if pool is not None and self.source is not None:
            parts = min(pool._max_workers, n // _PARALLEL_MIN)
        if parts <= 1:
            self._xy_inplace(x, y)
            return
        edges = np.linspace(0, n, parts + 1).astype(int)
        jobs = [pool.submit(self._xy_inplace, x[a:b], y[a:b])  # type: ignore[union-attr]
                for a, b in zip(edges[:-1], edges[1:], strict=True)]
        for job in jobs:
            job.result()

    def apply(self, geoms: np.ndarray, pool: ThreadPoolExecutor | None = None) -> np.ndarray:
        def fn(coords: np.ndarray) -> np.ndarray:
            x, y = np.ascontiguousarray(coords[:, 0]), np.ascontiguousarray(coords[:, 1])
            self.transform_xy(x, y, pool)
            coords[:, 0], coords[:, 1] = x, y
            return coords

        return shapely.transform(geoms, fn, include_z=None)


def _lonlat_bounds(src: CRS, bounds: tuple[float, float, float, float] | None) -> AreaOfInterest | None:
    if bounds is None or not all(math.isfinite(b) for b in bounds):
        return None
    try:
        t = Transformer.from_crs(src, TARGET, always_xy=True)
        w, s, e, n = t.transform_bounds(*bounds, errcheck=True)
    except Exception:  # noqa: BLE001 - garbage bounds simply give no area of interest
        return None
    if not all(math.isfinite(v) for v in (w, s, e, n)):
        return None
    if not (-180 <= w <= 180 and -180 <= e <= 180 and -90 <= s <= 90 and -90 <= n <= 90):
        return None
    if w > e or s > n:
        return None
    return AreaOfInterest(w, s, e, n)


def pin_transformation(src: CRS, bounds: tuple[float, float, float, float] | None) -> Pinned:
    """Choose the best operation for the layer's whole extent, once."""
    src = horizontal(src)
    aoi = _lonlat_bounds(src, bounds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        group = TransformerGroup(src, TARGET, always_xy=True, area_of_interest=aoi)
    if not group.transformers:
        raise CRSError(f"no coordinate operation from {crs_label(src)} to WGS 84 is available")
    chosen = group.transformers[0]
    name = chosen.description or chosen.name or "unnamed operation"
    accuracy = chosen.accuracy if chosen.accuracy is not None and chosen.accuracy >= 0 else None
    ballpark = "ballpark" in name.lower()
    note = None
    if ballpark and not _same_datum(src):
        note = (
            f"the transformation from {crs_label(src)} is a ballpark one (no datum shift): "
            "positions may be tens of metres off; give a CRS with TOWGS84 or an EPSG code "
            "(e.g. EPSG:28412 for Pulkovo 1942 / Gauss-Kruger zone 12)"
        )
        warnings.warn(note, BallparkTransformation, stacklevel=2)
    elif not group.best_available and group.unavailable_operations:
        missing = group.unavailable_operations[0].name
        note = f"a more accurate operation ({missing}) needs a grid that is not installed"
    return Pinned(chosen, name, accuracy, ballpark, note, source=src, aoi=aoi)


def _same_datum(src: CRS) -> bool:
    """True when src is WGS 84 or a realisation of it: no datum shift needed."""
    datum = (src.datum.name if src.datum else "").lower()
    return "wgs 84" in datum or "wgs84" in datum or "world geodetic system 1984" in datum


def area_of_use(src: CRS) -> tuple[float, float, float, float] | None:
    aou = horizontal(src).area_of_use
    return None if aou is None else (aou.west, aou.south, aou.east, aou.north)
