"""Vectorised geometry checks and repairs (shapely 2). Loops touch only the few bad features."""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from shapely import GeometryType as GT

POINT, LINE, POLYGON = "point", "line", "polygon"
_FAMILY_OF_TYPE = {
    GT.POINT: POINT, GT.MULTIPOINT: POINT,
    GT.LINESTRING: LINE, GT.LINEARRING: LINE, GT.MULTILINESTRING: LINE,
    GT.POLYGON: POLYGON, GT.MULTIPOLYGON: POLYGON,
}
_MULTI = {POINT: "MultiPoint", LINE: "MultiLineString", POLYGON: "MultiPolygon"}
_SINGLE = {POINT: "Point", LINE: "LineString", POLYGON: "Polygon"}
# WKB type codes (ISO and extended) of curve geometries shapely cannot parse.
_CURVE_CODES = {8, 9, 10, 11, 12, 13, 14}
# PolyhedralSurface, TIN, Triangle: GEOS reads none of them; their bodies are those of a
# MultiPolygon and a Polygon, so a new type code makes them readable (patches become parts)
_SURFACE_AS = {15: 6, 16: 6, 17: 3}


def family_of_name(geometry_type: str | None) -> str | None:
    """'MultiPolygon Z' -> 'polygon'; unknown or mixed -> None."""
    name = (geometry_type or "").lower().replace(" z", "").replace(" m", "").replace("25d", "")
    name = name.replace("3d ", "").replace("measured ", "").strip()
    for fam, keys in {POINT: ("point",), LINE: ("linestring", "curve", "line"),
                      POLYGON: ("polygon", "surface")}.items():
        if any(k in name for k in keys) and "collection" not in name:
            return fam
    return None


@dataclass
class Problems:
    """Problems found in one batch: positions in the batch, codes, actions, details."""

    index: list[int] = field(default_factory=list)
    code: list[str] = field(default_factory=list)
    action: list[str] = field(default_factory=list)
    detail: list[str] = field(default_factory=list)

    def add(self, idx: np.ndarray | list[int], code: str, action: str, details: list[str] | str) -> None:
        idx = [int(i) for i in np.asarray(idx).ravel()]
        if isinstance(details, str):
            details = [details] * len(idx)
        self.index += idx
        self.code += [code] * len(idx)
        self.action += [action] * len(idx)
        self.detail += list(details)


def wkb_type_code(wkb: bytes | None) -> int | None:
    if not wkb or len(wkb) < 5:
        return None
    order = "little" if wkb[0] == 1 else "big"
    code = int.from_bytes(wkb[1:5], order) & 0x0FFFFFFF
    return code % 1000


def surfaces_as_polygons(wkb: bytes) -> bytes:
    """ISO WKB of a PolyhedralSurface or TIN as a MultiPolygon, a Triangle as a Polygon (any
    dimension), recursively; other geometries unchanged."""
    out = bytearray()

    def walk(pos: int) -> int:
        order = "<" if wkb[pos] == 1 else ">"
        (raw,) = struct.unpack_from(order + "I", wkb, pos + 1)
        base, dims = raw % 1000, raw // 1000
        out.extend(wkb[pos:pos + 1])
        out.extend(struct.pack(order + "I", _SURFACE_AS.get(base, base) + dims * 1000))
        ncoord = 2 + (dims in (1, 2)) + 2 * (dims == 3)
        pos += 5
        if base == 1:  # point
            out.extend(wkb[pos:pos + 8 * ncoord])
            return pos + 8 * ncoord
        (n,) = struct.unpack_from(order + "I", wkb, pos)
        out.extend(wkb[pos:pos + 4])
        pos += 4
        if base in (2, 8):  # line, circular string: n points
            out.extend(wkb[pos:pos + 8 * ncoord * n])
            return pos + 8 * ncoord * n
        if base in (3, 17):  # polygon, triangle: n rings of points
            for _ in range(n):
                (m,) = struct.unpack_from(order + "I", wkb, pos)
                size = 4 + 8 * ncoord * m
                out.extend(wkb[pos:pos + size])
                pos += size
            return pos
        for _ in range(n):  # collections of full geometries
            pos = walk(pos)
        return pos

    walk(0)
    return bytes(out)


def parse_wkb(wkb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Geometries, a mask of curves (to re-read linearised) and a mask of unparseable ones."""
    try:
        geoms = shapely.from_wkb(wkb, on_invalid="fix")
        failed = np.zeros(len(wkb), bool)
    except Exception:  # noqa: BLE001 - shapely raises for the whole array; redo one by one
        geoms = np.empty(len(wkb), dtype=object)
        failed = np.zeros(len(wkb), bool)
        for i, w in enumerate(wkb):
            try:
                geoms[i] = None if w is None else shapely.from_wkb(w, on_invalid="fix")
            except Exception:  # noqa: BLE001
                geoms[i] = None
                failed[i] = True
    raw_present = np.array([w is not None for w in wkb], bool)
    failed |= raw_present & shapely.is_missing(geoms)
    for i in np.flatnonzero(failed):
        if wkb_type_code(wkb[i]) in _SURFACE_AS:
            try:
                geoms[i] = shapely.from_wkb(surfaces_as_polygons(bytes(wkb[i])), on_invalid="fix")
                failed[i] = geoms[i] is None
            except Exception:  # noqa: BLE001 - stays unparseable (quarantined)
                pass
    curves = np.zeros(len(wkb), bool)
    for i in np.flatnonzero(failed):
        if wkb_type_code(wkb[i]) in _CURVE_CODES:
            curves[i] = True
    return geoms, curves, failed & ~curves


def families(geoms: np.ndarray) -> np.ndarray:
    """Family name of each geometry ('' for null, empty or collection)."""
    out = np.full(len(geoms), "", dtype=object)
    ids = shapely.get_type_id(geoms)
    for tid in np.unique(ids):
        if tid >= 0 and GT(tid) in _FAMILY_OF_TYPE:
            out[ids == tid] = _FAMILY_OF_TYPE[GT(tid)]
    return out


def _slug(reason: str) -> str:
    head = re.split(r"[\[(]", reason, maxsplit=1)[0]
    return re.sub(r"[^a-z0-9]+", "_", head.lower()).strip("_") or "invalid"


def _drop_m(geoms: np.ndarray) -> np.ndarray:
    has_m = shapely.has_m(geoms)
    if not has_m.any():
        return geoms
    geoms = geoms.copy()
    with_z = has_m & shapely.has_z(geoms)
    if with_z.any():
        geoms[with_z] = shapely.from_wkb(shapely.to_wkb(geoms[with_z], output_dimension=3))
    only_m = has_m & ~with_z
    if only_m.any():
        geoms[only_m] = shapely.force_2d(geoms[only_m])
    return geoms


def _unpack_collections(geoms: np.ndarray, target: str | None) -> np.ndarray:
    """Geometry collections holding one family become that family's multi type."""
    is_gc = shapely.get_type_id(geoms) == GT.GEOMETRYCOLLECTION
    for i in np.flatnonzero(is_gc):
        parts = shapely.get_parts(geoms[i])
        fams = set(families(parts)) - {""}
        if len(fams) == 1 and (target is None or fams == {target}):
            fam = fams.pop()
            singles = shapely.get_parts(parts)  # flatten multis inside the collection
            ctor = {POINT: shapely.multipoints, LINE: shapely.multilinestrings,
                    POLYGON: shapely.multipolygons}[fam]
            geoms[i] = ctor(singles)
    return geoms


def _rings_to_lines(geoms: np.ndarray) -> np.ndarray:
    rings = shapely.get_type_id(geoms) == GT.LINEARRING
    if not rings.any():
        return geoms
    geoms = geoms.copy()
    coords, idx = shapely.get_coordinates(geoms[rings], include_z=True, return_index=True)
    if np.isnan(coords[:, 2]).all():
        coords = coords[:, :2]
    geoms[rings] = shapely.linestrings(coords, indices=idx)
    return geoms


_MULTI_CODE = {POINT: 4, LINE: 5, POLYGON: 6}
_SINGLE_ID = {POINT: GT.POINT, LINE: GT.LINESTRING, POLYGON: GT.POLYGON}


def wkb_array(geoms: np.ndarray, family: str, multi: bool) -> pa.BinaryArray:
    """ISO WKB, little-endian, as an Arrow array; in a multi layer (polygons and lines always)
    every single geometry becomes a one-part multi-geometry.

    The promotion is done on the bytes: a 9-byte multi header (byte order, type, 1 part) before
    the single's own WKB is a valid WKB multi-geometry, prepended by Arrow's compute kernels. Building
    GEOS multi-geometries instead, then reprojecting and orienting them, costs about 0.2 s more
    per 100,000 polygons (benchmarks/ingest_bench.py).
    """
    if not len(geoms):
        return pa.array([], pa.binary())
    wkb = pa.array(shapely.to_wkb(geoms, flavor="iso", byte_order=1), pa.binary())
    if not (multi or family != POINT):
        return wkb
    single = shapely.get_type_id(geoms) == _SINGLE_ID[family]
    if not single.any():
        return wkb
    has_z = shapely.has_z(geoms)
    out = wkb
    for z in (False, True):
        mask = single & (has_z == z)
        if mask.any():
            header = struct.pack("<BII", 1, _MULTI_CODE[family] + (1000 if z else 0), 1)
            joined = pc.binary_join_element_wise(pa.scalar(header, pa.binary()), wkb, b"")
            out = pc.if_else(pa.array(mask), joined, out)
    return out  # type: ignore[no-any-return]


def clean(geoms: np.ndarray, family: str, multi: bool, problems: Problems) -> tuple[np.ndarray, np.ndarray]:
    """Check and repair one batch for a layer of ``family``.

    Returns the cleaned geometries and a boolean mask of the features to keep. Every feature not
    kept has a row in ``problems`` with action 'quarantined'.
    """
    n = len(geoms)
    keep = np.ones(n, bool)
    geoms = np.asarray(geoms, dtype=object).copy()

    missing = shapely.is_missing(geoms)
    problems.add(np.flatnonzero(missing), "null_geometry", "quarantined", "feature has no geometry")
    keep &= ~missing
    empty = keep & shapely.is_empty(geoms)
    problems.add(np.flatnonzero(empty), "empty_geometry", "quarantined", "geometry is empty")
    keep &= ~empty

    geoms[keep] = _drop_m(geoms[keep])
    geoms[keep] = _unpack_collections(geoms[keep], family)

    fams = families(geoms)
    wrong = keep & (fams != family)
    if wrong.any():
        idx = np.flatnonzero(wrong)
        types = shapely.get_type_id(geoms[idx])
        problems.add(idx, "geometry_type_mismatch", "quarantined",
                     [f"{GT(t).name.title()} in a {family} layer" for t in types])
        keep &= ~wrong

    valid = np.ones(n, bool)
    valid[keep] = shapely.is_valid(geoms[keep])
    invalid = np.flatnonzero(keep & ~valid)
    if len(invalid):
        reasons = shapely.is_valid_reason(geoms[invalid])
        # GEOS finds NaN or infinite x/y in its validity check: no separate pass over coordinates
        nonfinite = np.array([r.startswith("Invalid Coordinate") for r in reasons], bool)
        if nonfinite.any():
            problems.add(invalid[nonfinite], "invalid_coordinates", "quarantined",
                         "coordinate is NaN or infinite")
            keep[invalid[nonfinite]] = False
            invalid, reasons = invalid[~nonfinite], reasons[~nonfinite]
        if family == POLYGON:
            fixed = shapely.make_valid(geoms[invalid], method="structure", keep_collapsed=False)
        else:
            fixed = shapely.make_valid(geoms[invalid], method="linework", keep_collapsed=False)
            fixed = _unpack_collections(np.asarray(fixed, dtype=object), family)
        fixed_fams = families(fixed)
        ok = (fixed_fams == family) & ~shapely.is_empty(fixed) & shapely.is_valid(fixed)
        for j, i in enumerate(invalid):
            code = _slug(reasons[j])
            if ok[j]:
                problems.add([i], code, "repaired", reasons[j])
                geoms[i] = fixed[j]
            else:
                problems.add([i], code, "quarantined", f"{reasons[j]}; cannot be repaired "
                             f"into a {family} geometry")
                keep[i] = False

    if family == LINE:
        geoms[keep] = _rings_to_lines(geoms[keep])
    # singles become multis in the WKB (wkb_array); rings are oriented after reprojection (a
    # projection can mirror them), not here
    return geoms, keep


def output_type(family: str, multi: bool, has_z: bool) -> str:
    name = _MULTI[family] if (multi or family != POINT) else _SINGLE[family]
    return f"{name} Z" if has_z else name
