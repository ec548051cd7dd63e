"""Stream a planned layer through repair, reprojection, sanity and schema checks.

``Run.batches()`` yields Arrow record batches ready for the store (CRS84, safe field names) and
keeps, on the side, every problem and every quarantined feature, so that afterwards
``read == published + quarantined`` holds and the report can be written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from geo_publish.errors import CRSError
from geo_publish.ingest import geometry as geo
from geo_publish.ingest import sanity
from geo_publish.ingest.attributes import SchemaState, apply_schema
from geo_publish.ingest.crs import TARGET_NAME
from geo_publish.ingest.formats import get_reader
from geo_publish.ingest.plan import Plan, describe_crs
from geo_publish.ingest.report import Counts, Problem, Report, SourceReport
from geo_publish.settings import IngestSettings

GEOMETRY = "geometry"
_KIND_TYPES = {"integer": pa.int64(), "number": pa.float64(), "boolean": pa.bool_(),
               "date": pa.string(), "datetime": pa.timestamp("ms"), "string": pa.string()}


@dataclass
class QuarantineRow:
    feature: int
    source_fid: str
    code: str
    detail: str
    source_geometry: str | None
    properties: str


@dataclass
class Tally:
    read: int = 0
    published: int = 0
    with_geometry: int = 0
    out_of_place: int = 0
    beyond_area: int = 0
    repaired: set[int] = field(default_factory=set)
    problems: list[Problem] = field(default_factory=list)
    quarantine: list[QuarantineRow] = field(default_factory=list)
    bounds: list[float] | None = None
    dates: list[str | None] = field(default_factory=lambda: [None, None])
    text_sample: dict[str, list[str]] = field(default_factory=dict)


class Run:
    def __init__(self, plan: Plan, settings: IngestSettings, collection: str) -> None:
        self.plan = plan
        self.settings = settings
        self.collection = collection
        self.tally = Tally()
        self.schema_state = SchemaState()
        self.schema: pa.Schema | None = None
        self._pool: ThreadPoolExecutor | None = None
        self.started = datetime.now(UTC).replace(microsecond=0).isoformat()

    # -- streaming ---------------------------------------------------------------------------
    def batches(self, progress: object | None = None) -> Iterator[pa.RecordBatch]:
        reader = get_reader(self.plan.insp.reader)
        offset = 0
        # a polygon or line costs tens of times a point's memory: smaller batches keep the peak flat
        chunk = self.settings.chunk_size
        if self.plan.family != geo.POINT:
            chunk = max(1000, chunk // 10)
        # reprojection of a large batch is split over threads (PROJ releases the GIL); the pool
        # lives as long as the stream, so no thread outlives an ingest
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1),
                                thread_name_prefix="geo-publish-proj") as pool:
            self._pool = pool
            self.plan.hash_in(pool)
            for batch in reader.batches(self.plan.insp, chunk):
                out = self._process(batch, offset)
                offset += len(batch.fids)
                if progress is not None:
                    progress(len(batch.fids))  # type: ignore[operator]
                if out is not None and out.num_rows:
                    yield out
            self._pool = None
        self._final_checks()

    def output_schema(self, first: pa.Table) -> pa.Schema:
        fields = []
        for f in first.schema:
            if f.name == GEOMETRY:
                fields.append(pa.field(GEOMETRY, pa.binary()))
            elif f.name in self.plan.types:
                fields.append(pa.field(f.name, _KIND_TYPES[self.plan.types[f.name]]))
            elif pa.types.is_null(f.type) or pa.types.is_large_string(f.type):
                fields.append(pa.field(f.name, pa.string()))
            else:
                fields.append(pa.field(f.name, f.type))
        return pa.schema(fields)

    def _process(self, batch, offset: int) -> pa.RecordBatch | None:  # type: ignore[no-untyped-def]
        plan, t = self.plan, self.tally
        n = len(batch.fids)
        t.read += n
        problems = geo.Problems()
        keep = np.ones(n, bool)
        if batch.unparseable.any():
            idx = np.flatnonzero(batch.unparseable)
            problems.add(idx, "unparseable_geometry", "quarantined", "geometry cannot be decoded")
            keep[idx] = False
        geoms = batch.geoms.copy()
        geoms[~keep] = None
        cleaned, ok = geo.clean(geoms, plan.family, plan.multi, problems)
        # features already quarantined as unparseable were reported as null: drop that duplicate
        dup = ~keep
        if dup.any():
            rows = [(i, c) for i, c in zip(problems.index, problems.code, strict=True)]
            drop = {j for j, (i, c) in enumerate(rows) if dup[i] and c == "null_geometry"}
            for name in ("index", "code", "action", "detail"):
                setattr(problems, name, [v for j, v in enumerate(getattr(problems, name)) if j not in drop])
        keep &= ok
        source_geoms = batch.geoms
        out = np.full(n, None, dtype=object)
        if keep.any():
            moved = plan.pinned.apply(cleaned[keep], self._pool)
            moved = sanity.snap_to_range(moved)
            out[keep] = moved
            t.with_geometry += int(keep.sum())
            kidx = np.flatnonzero(keep)
            bounds = shapely.bounds(moved)
            bad_range = sanity.out_of_range(bounds)
            bad_area = ~bad_range & sanity.outside_area(bounds, plan.area, self.settings.area_margin_degrees)
            if bad_range.any():
                problems.add(kidx[bad_range], "coordinates_out_of_range", "quarantined",
                             f"outside longitude +-180 / latitude +-90 after reprojection from "
                             f"{describe_crs(plan)}")
            if bad_area.any():
                problems.add(kidx[bad_area], "outside_area_of_use", "quarantined",
                             f"outside the area of use of {describe_crs(plan)}")
            bad = bad_range | bad_area
            near = ~bad & sanity.outside_area(bounds, plan.area, 0.0)
            t.beyond_area += int(near.sum())
            t.out_of_place += int(bad.sum())
            keep[kidx[bad]] = False
            if t.read == n and self._too_many(int(bad.sum()), int(len(kidx))):
                raise CRSError(self._misplaced_message(source_geoms))
        if plan.family == geo.POLYGON and keep.any():
            out[keep] = shapely.orient_polygons(out[keep], exterior_cw=False)

        attrs = batch.attrs
        # plain layers stay in Arrow from reader to store; pandas only when a manifest schema
        # (types, required fields, id, date field) asks for its checks
        schema_work = bool(plan.types or plan.required or plan.id_field or plan.date_field)
        if isinstance(attrs, pa.Table):
            attrs = attrs.rename_columns([plan.field_map.get(c, c) for c in attrs.column_names])
            if schema_work:
                attrs = attrs.to_pandas()
        else:
            attrs = attrs.rename(columns=plan.field_map)
        if t.read <= SAMPLE_ROWS_READ:
            _sample_text(attrs, t.text_sample)
        if schema_work:
            attrs, keep = apply_schema(attrs, keep, plan.id_field, plan.required, plan.types,
                                       self.schema_state, problems)
        self._record(problems, batch, offset, keep, source_geoms, out)
        geoms_out = out[keep]
        if isinstance(attrs, pa.Table):
            return self._arrow_out(attrs, keep, geoms_out)
        kept = attrs.iloc[np.flatnonzero(keep)].reset_index(drop=True)
        if plan.date_field and plan.date_field in kept.columns:
            self._dates(kept[plan.date_field])
        self._count(geoms_out)
        if self.schema is None:
            self.schema = self.output_schema(pa.Table.from_pandas(kept, preserve_index=False)).append(
                pa.field(GEOMETRY, pa.binary()))
        attr_schema = self.schema.remove(self.schema.get_field_index(GEOMETRY))
        table = pa.Table.from_pandas(kept, schema=attr_schema, preserve_index=False, safe=False)
        table = table.append_column(self.schema.field(GEOMETRY), geo.wkb_array(geoms_out, plan.family, plan.multi))
        return table.combine_chunks().to_batches()[0] if table.num_rows else None

    def _count(self, geoms_out: np.ndarray) -> None:
        t = self.tally
        if len(geoms_out):
            b = shapely.total_bounds(geoms_out)
            t.bounds = list(b) if t.bounds is None else [
                min(t.bounds[0], b[0]), min(t.bounds[1], b[1]), max(t.bounds[2], b[2]), max(t.bounds[3], b[3])
            ]
        t.published += len(geoms_out)

    def _arrow_out(self, attrs: pa.Table, keep: np.ndarray, geoms_out: np.ndarray) -> pa.RecordBatch | None:
        self._count(geoms_out)
        wkb = geo.wkb_array(geoms_out, self.plan.family, self.plan.multi)
        if attrs.num_columns:
            kept = attrs.take(pa.array(np.flatnonzero(keep), pa.int64())).append_column(GEOMETRY, wkb)
        else:  # a geometry-only layer (Arrow's take on a table without columns loses its rows)
            kept = pa.table({GEOMETRY: wkb})
        if self.schema is None:
            self.schema = self.output_schema(kept)
        table = kept.cast(self.schema, safe=False)
        return table.combine_chunks().to_batches()[0] if table.num_rows else None

    def empty_schema(self) -> pa.Schema:
        """Schema for a layer whose every feature was quarantined."""
        fields = [pa.field(name, _KIND_TYPES.get(self.plan.types.get(name, "string"), pa.string()))
                  for name in self.plan.field_map.values()]
        return pa.schema(fields + [pa.field(GEOMETRY, pa.binary())])

    # -- bookkeeping ---------------------------------------------------------------------------
    def _too_many(self, bad: int, total: int) -> bool:
        return total >= 1 and bad / total > self.settings.reject_outside_share and (
            total >= 10 or total == self.tally.read
        )

    def _misplaced_message(self, sample: np.ndarray) -> str:
        cause = sanity.guess_cause(self.plan.crs, sample, self.plan.area)
        return f"{self.plan.insp.display}: most features land in the wrong place: {cause}"

    def _final_checks(self) -> None:
        t = self.tally
        if self._too_many(t.out_of_place, t.with_geometry) and t.read > 0:
            raise CRSError(
                f"{self.plan.insp.display}: {t.out_of_place} of {t.with_geometry} features land "
                f"outside {describe_crs(self.plan)}'s area of use or the valid range",
                hint="check the CRS; pass the right one with --source-crs",
            )

    def _record(self, problems: geo.Problems, batch, offset: int, keep: np.ndarray,  # type: ignore[no-untyped-def]
                source_geoms: np.ndarray, moved: np.ndarray) -> None:
        t = self.tally
        fids = batch.fids
        quarantined: dict[int, tuple[str, str]] = {}
        points = shapely.point_on_surface(moved[[i for i in problems.index]]) if problems.index else []
        for k, (i, code, action, detail) in enumerate(
            zip(problems.index, problems.code, problems.action, problems.detail, strict=True)
        ):
            lon = lat = None
            p = points[k] if len(points) else None
            if p is not None and not shapely.is_empty(p):
                lon, lat = float(shapely.get_x(p)), float(shapely.get_y(p))
                if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                    lon = lat = None
            t.problems.append(Problem(feature=offset + i, fid=str(fids[i]), code=code, action=action,
                                      detail=detail, lon=lon, lat=lat))
            if action == "repaired" and keep[i]:
                t.repaired.add(offset + i)
            if action == "quarantined" and i not in quarantined:
                quarantined[i] = (code, detail)
        if quarantined:
            props = _rows_json(batch.attrs, list(quarantined))
            for (i, (code, detail)), prop in zip(quarantined.items(), props, strict=True):
                t.quarantine.append(QuarantineRow(
                    feature=offset + i, source_fid=str(fids[i]), code=code, detail=detail,
                    source_geometry=_geometry_text(source_geoms[i], batch.raw[i] if batch.raw is not None else None),
                    properties=prop,
                ))

    def _dates(self, col) -> None:  # type: ignore[no-untyped-def]
        import pandas as pd

        values = pd.to_datetime(col, errors="coerce").dropna()
        if values.empty:
            return
        lo, hi = values.min().isoformat(), values.max().isoformat()
        d = self.tally.dates
        d[0] = lo if d[0] is None or lo < d[0] else d[0]
        d[1] = hi if d[1] is None or hi > d[1] else d[1]

    def _reader_warnings(self) -> list[str]:
        return [f"while reading, GDAL said: {text}" + (f" ({n} times)" if n > 1 else "")
                for text, n in self.plan.insp.messages.items()]

    def _area_warning(self) -> list[str]:
        n = self.tally.beyond_area
        if not n:
            return []
        return [f"{n} features lie outside the area of use of {describe_crs(self.plan)} (within "
                f"the {self.settings.area_margin_degrees:g} degree tolerance): positions there "
                "may be less accurate"]

    # -- results ------------------------------------------------------------------------------
    def report(self, status: str, version: int | None = None, error: str | None = None) -> Report:
        plan, t = self.plan, self.tally
        insp = plan.insp
        return Report(
            collection=self.collection, status=status, version=version, error=error,  # type: ignore[arg-type]
            source=SourceReport(
                path=plan.source.name, sha256=plan.sha256, format=insp.format,
                layer=insp.layer, encoding=insp.encoding.encoding,
                encoding_from=insp.encoding.source, crs=describe_crs(plan), crs_from=plan.crs_from,
            ),
            target_crs=TARGET_NAME, transformation=plan.pinned.describe(),
            extent=[round(v, 7) for v in t.bounds] if t.bounds else None,
            counts=Counts(read=t.read, published=t.published, repaired=len(t.repaired),
                          quarantined=len(t.quarantine)),
            problems=sorted(t.problems, key=lambda p: p.feature), warnings=plan.warnings + self._reader_warnings() + self._area_warning(),
            fields=plan.field_map, text_sample=t.text_sample,
            geometry_type=plan.geometry_type, created=self.started,
        )


SAMPLE_VALUES = 5  # non-ASCII values shown per text field, so a wrong encoding shows before publishing
SAMPLE_ROWS_READ = 200_000  # rows looked through for them (the first batches only)


def _sample_text(attrs, sample: dict[str, list[str]]) -> None:  # type: ignore[no-untyped-def]
    """Add the first distinct non-ASCII values of each text column of ``attrs`` to ``sample``."""
    if isinstance(attrs, pa.Table):
        columns = {name: attrs.column(name) for name in attrs.column_names
                   if pa.types.is_string(attrs.column(name).type) or pa.types.is_large_string(attrs.column(name).type)}
        for name, col in columns.items():
            have = sample.setdefault(name, [])
            if len(have) >= SAMPLE_VALUES:
                continue
            wide = pc.not_equal(pc.binary_length(col), pc.utf8_length(col))
            for value in pc.unique(pc.filter(col, wide)).to_pylist():
                if len(have) >= SAMPLE_VALUES:
                    break
                if value not in have:
                    have.append(value)
    else:
        for name in attrs.columns:
            values = attrs[name]
            if values.dtype != object:
                continue
            have = sample.setdefault(str(name), [])
            for value in values.iloc[:10_000]:
                if len(have) >= SAMPLE_VALUES:
                    break
                if isinstance(value, str) and not value.isascii() and value not in have:
                    have.append(value)
    for name in [n for n, v in sample.items() if not v]:
        del sample[name]  # a text field with nothing but ASCII so far (checked again next batch)


def _geometry_text(geom: object, raw: object) -> str | None:
    if geom is not None:
        try:
            return shapely.to_wkt(geom)  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - fall back to the raw bytes
            pass
    if isinstance(raw, bytes | bytearray):
        return raw.hex()
    if raw is not None and str(raw).strip():
        return str(raw)
    return None


def quarantine_json(row: QuarantineRow) -> str:
    return json.dumps(row.__dict__, ensure_ascii=False)


def _iso(value: object) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)  # type: ignore[no-any-return]


def _rows_json(attrs, idx: list[int]) -> list[str]:  # type: ignore[no-untyped-def]
    """Quarantined rows' properties as JSON, as read from the source."""
    if isinstance(attrs, pa.Table):
        if not attrs.num_columns:
            return ["{}"] * len(idx)
        return [json.dumps(r, ensure_ascii=False, default=_iso)
                for r in attrs.take(pa.array(idx, pa.int64())).to_pylist()]
    rows = attrs.iloc[idx]
    return rows.to_json(orient="records", force_ascii=False, date_format="iso", lines=True).splitlines()

