"""Ingest one raster into the store: COG in EPSG:4326, passport and report, a new version."""

from __future__ import annotations

import secrets
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from geo_publish.ingest.raster import ingest_raster
from geo_publish.ingest.report import Report, SourceReport
from geo_publish.manifest import Manifest, SourceSpec, template
from geo_publish.passport.build import build_passport
from geo_publish.settings import Settings
from geo_publish.store import open_store
from geo_publish.filing import file_version


def rasters_dir(settings: Settings) -> Path:
    return settings.path(settings.rasters_dir)


def ingest_raster_source(settings: Settings, source: Path, collection: str, manifest: Manifest | None,
                         *, source_crs: str | None, report_path: Path | None,
                         dry_run: bool, publish: bool = True) -> tuple[Report, tuple[Path, Path] | None, Path | None]:
    folder = rasters_dir(settings) / collection
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="geo-publish-raster-", dir=folder) as tmp:
        result = ingest_raster(source, Path(tmp) / "cog.tif", source_crs=source_crs)
        report = Report(
            collection=collection, status="dry-run" if dry_run else "published",
            source=SourceReport(path=Path(source).name, sha256=result.sha256, format="raster",
                                crs=result.crs, crs_from=result.crs_from),
            target_crs="EPSG:4326", transformation=result.transformation, extent=result.extent,
            warnings=result.warnings, geometry_type="Raster", raster=result.summary(),
            created=datetime.now(UTC).replace(microsecond=0).isoformat())
        if dry_run:
            return report, report.write(report_path) if report_path else None, None
        store = open_store(settings)
        first = store.first_published(collection)
        staging = store.begin(collection)
        try:
            final = folder / f"v-{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}.tif"
            result.path.replace(final)
            staging.write_raster(final)
            effective = manifest or template(collection, SourceSpec(path=str(source)))
            passport = build_passport(effective, report, version=None, first_published=first)
            data = passport.model_dump(mode="json")
            data["raster"] = result.summary()
            version = staging.commit(passport=data, report=report.model_dump(mode="json"),
                                     feature_count=0, quarantined=0, bbox=result.extent,
                                     sha256=result.sha256, geometry_type="Raster", publish=publish)
        except BaseException:
            staging.abort()
            raise
    return (report, *file_version(settings, report, version, report_path, manifest, effective))
