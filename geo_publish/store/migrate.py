"""Copy a GeoPackage store into PostGIS: every version (same numbers, same dates), passport,
report and quarantine, and the same published pointers; then verify counts and content
checksums version by version."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import geopandas as gpd
import pyarrow as pa
import shapely

from geo_publish.errors import StoreError
from geo_publish.store.gpkg import GeoPackageStore
from geo_publish.store.postgis import GEOMETRY, PostGISStore


@dataclass(frozen=True)
class Copied:
    collection: str
    version: int
    features: int
    quarantined: int
    checksum: str


def content_checksum(frame: gpd.GeoDataFrame) -> str:
    """SHA-256 of a version's features in order: attribute values as text, geometry as WKB."""
    h = hashlib.sha256()
    attrs = [c for c in frame.columns if c != frame.geometry.name]
    h.update("\x1f".join(attrs).encode())
    wkb = shapely.to_wkb(frame.geometry.values, output_dimension=3)
    for values, g in zip(frame[attrs].astype(object).itertuples(index=False, name=None), wkb,
                         strict=True):
        h.update("\x1f".join("" if v is None or v != v else str(v) for v in values).encode())
        h.update(g if g is not None else b"")
    return h.hexdigest()


def _stream(frame: gpd.GeoDataFrame) -> pa.RecordBatchReader:
    attrs = frame.drop(columns=frame.geometry.name)
    table = pa.Table.from_pandas(attrs, preserve_index=False)
    wkb = shapely.to_wkb(frame.geometry.values)
    table = table.append_column(GEOMETRY, pa.array(list(wkb), pa.binary()))
    return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=100_000))


def migrate(source: GeoPackageStore, target: PostGISStore,
            progress: Callable[[str], None] = lambda _: None) -> list[Copied]:
    infos = source.collections()
    if not infos:
        raise StoreError(f"{source.path}: nothing to migrate (the store is empty)")
    existing = {v.collection for v in target.collections()}
    clash = sorted(existing & {v.collection for v in infos})
    if clash:
        raise StoreError(f"{target.where}: already holds {', '.join(clash)}",
                         hint="migrate into an empty schema (store.schema in config.yml)")
    copied = []
    for info in infos:
        for v in source.history(info.collection):
            if v.pruned:  # its features are gone: nothing to carry
                progress(f"{v.collection} v{v.version}: pruned, not carried")
                continue
            frame = source.read(v.collection, v.version)
            staging = target.begin(v.collection)
            staging.write_features(_stream(frame), v.geometry_type or "Geometry")
            staging.write_quarantine(source.quarantine(v.collection, v.version))
            staging.commit(passport=source.passport(v.collection, v.version),
                           report=source.report(v.collection, v.version),
                           feature_count=v.feature_count, quarantined=v.quarantined, bbox=v.bbox,
                           sha256=v.sha256, geometry_type=v.geometry_type or "Geometry",
                           version=v.version, created=v.created, publish=v.published)
            copied.append(Copied(v.collection, v.version, len(frame), v.quarantined,
                                 content_checksum(frame)))
            progress(f"{v.collection} v{v.version}: {len(frame)} features")
    verify(copied, target)
    return copied


def verify(copied: list[Copied], target: PostGISStore) -> None:
    for c in copied:
        back = target.read(c.collection, c.version)
        info = target.version(c.collection, c.version)
        if len(back) != c.features or info.feature_count != c.features:
            raise StoreError(f"{target.where}: {c.collection} v{c.version} has {len(back)} "
                             f"features after migration, {c.features} before")
        if len(target.quarantine(c.collection, c.version)) != c.quarantined:
            raise StoreError(f"{target.where}: {c.collection} v{c.version}: quarantine differs")
        if content_checksum(back) != c.checksum:
            raise StoreError(f"{target.where}: {c.collection} v{c.version}: content checksum "
                             "differs after migration")
