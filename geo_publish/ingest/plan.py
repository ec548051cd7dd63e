"""The metadata pass: decide layer, encoding, CRS, transformation, geometry family, field names."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import shapely
from pyproj import CRS

from geo_publish.errors import CRSError, IngestError
from geo_publish.ingest import geometry as geo
from geo_publish.ingest.attributes import safe_names
from geo_publish.ingest.crs import Pinned, area_of_use, crs_label, parse_crs, pin_transformation
from geo_publish.ingest.formats import Inspection, get_reader
from geo_publish.ingest.source import check_readable, choices, pick, sha256
from geo_publish.manifest import SchemaSpec
from geo_publish.settings import IngestSettings


@dataclass
class Plan:
    source: Path
    insp: Inspection
    crs: CRS
    crs_from: str
    pinned: Pinned
    area: tuple[float, float, float, float] | None
    family: str
    multi: bool
    has_z: bool
    field_map: dict[str, str]
    types: dict[str, str]
    id_field: str | None
    required: list[str]
    date_field: str | None
    warnings: list[str] = field(default_factory=list)
    _digest: Future[str] | None = None

    def hash_in(self, pool: ThreadPoolExecutor) -> None:
        """Checksum the source on ``pool`` while the features stream (hashlib lets go of the GIL)."""
        if self._digest is None:
            self._digest = pool.submit(sha256, self.source)

    @cached_property
    def sha256(self) -> str:
        return self._digest.result() if self._digest is not None else sha256(self.source)

    @property
    def geometry_type(self) -> str:
        return geo.output_type(self.family, self.multi, self.has_z)


def _scan_geometry(insp: Inspection, chunk: int) -> tuple[str | None, bool, bool]:
    """Dominant family, multi and Z of a layer that does not declare one geometry type."""
    reader = get_reader(insp.reader)
    fams: Counter[str] = Counter()
    multi = has_z = False
    multi_types = {shapely.GeometryType.MULTIPOINT, shapely.GeometryType.MULTILINESTRING,
                   shapely.GeometryType.MULTIPOLYGON, shapely.GeometryType.GEOMETRYCOLLECTION}
    for batch in reader.batches(insp, chunk, geometry_only=True):
        g = batch.geoms[~shapely.is_missing(batch.geoms)]
        f = geo.families(g)
        fams.update(x for x in f if x)
        fams.update(geo.families(shapely.get_parts(g[f == ""])) if (f == "").any() else [])
        multi |= bool(np.isin(shapely.get_type_id(g), [int(t) for t in multi_types]).any())
        has_z |= bool(shapely.has_z(g).any())
    fams.pop("", None)
    if not fams:
        return None, multi, has_z
    return fams.most_common(1)[0][0], multi, has_z


def _resolve_crs(insp: Inspection, option: str | None, source: Path) -> tuple[CRS, str]:
    if option:
        return parse_crs(option, "--source-crs"), "option"
    if insp.crs is not None:
        return insp.crs, insp.crs_from or "file"
    if insp.format == "CSV" and insp.options.get("xy") and _looks_geographic(insp):
        return CRS.from_user_input("EPSG:4326"), "default"
    raise CRSError(
        f"{source}: has no CRS ({'no .prj file' if insp.format == 'ESRI Shapefile' else 'none declared'})",
        hint="pass it with --source-crs, e.g. --source-crs EPSG:32642",
    )


def _looks_geographic(insp: Inspection) -> bool:
    """CSV lon/lat columns whose names or first values say degrees."""
    x = str(insp.options.get("x", "")).lower()
    return x in ("lon", "lng", "long", "longitude", "долгота", "uzunlik")


def make_plan(
    source: Path,
    workdir: Path,
    settings: IngestSettings,
    *,
    layer: str | None = None,
    source_crs: str | None = None,
    encoding: str | None = None,
    schema: SchemaSpec | None = None,
) -> Plan:
    check_readable(source)
    options = choices(source, workdir, settings.max_unzipped_bytes, settings.max_zip_ratio)
    chosen = pick(options, layer, source)
    display = f"{source}" if chosen.dataset == source else f"{source}!{chosen.name}"
    insp = chosen.reader.inspect(chosen.dataset, chosen.layer, display, encoding)
    if insp.count == 0:
        raise IngestError(f"{display}: the layer has no features")
    crs, crs_from = _resolve_crs(insp, source_crs, source)
    if insp.format == "CSV" and crs_from == "default":
        insp.notes.append("no CRS given for lon/lat columns: assumed WGS 84 (EPSG:4326)")
    family = geo.family_of_name(insp.geometry_type)
    declared = (insp.geometry_type or "").lower()
    multi = declared.startswith("multi")
    has_z = declared.endswith(" z") or "25d" in declared or "3d" in declared
    if family is None:
        family, multi, has_z = _scan_geometry(insp, settings.chunk_size)
        if family is None:
            raise IngestError(f"{display}: no feature has a usable geometry")
    pinned = pin_transformation(crs, insp.bounds)
    field_map = safe_names(insp.fields)
    schema = schema or SchemaSpec()

    def published(name: str) -> str:
        return field_map.get(name, name)

    types = {published(k): v for k, v in insp.inferred_types.items()}
    types.update({published(k): v for k, v in schema.types.items()})
    required = [published(r) for r in schema.required]
    missing = [r for r in required if r not in field_map.values()]
    if missing:
        raise IngestError(
            f"{display}: required field(s) {', '.join(missing)} not in the source "
            f"(fields: {', '.join(field_map.values())})",
            hint="fix schema.required in the collection manifest",
        )
    id_field = published(schema.id_field) if schema.id_field else None
    if id_field and id_field not in field_map.values():
        raise IngestError(f"{display}: id field {schema.id_field!r} not in the source "
                          f"(fields: {', '.join(field_map.values())})",
                          hint="fix schema.id_field in the collection manifest")
    warnings = list(insp.notes)
    if insp.encoding.note:
        warnings.append(insp.encoding.note)
    if pinned.note:
        warnings.append(pinned.note)
    return Plan(
        source=source, insp=insp, crs=crs, crs_from=crs_from,
        pinned=pinned, area=area_of_use(crs), family=family, multi=multi, has_z=has_z,
        field_map=field_map, types=types, id_field=id_field, required=required,
        date_field=published(schema.date_field) if schema.date_field else None,
        warnings=warnings,
    )


def describe_crs(plan: Plan) -> str:
    return crs_label(plan.crs)
