"""Passport = manifest's passport part + what the pipeline measured."""

from __future__ import annotations

from pathlib import Path

from geo_publish.ingest.report import Report
from geo_publish.manifest import Manifest
from geo_publish.passport.model import Passport, Quality, SourcePassport


def build_passport(
    manifest: Manifest,
    report: Report,
    *,
    version: int | None,
    first_published: str | None,
    temporal_extent: list[str | None] | None = None,
    report_link: str | None = None,
) -> Passport:
    p = manifest.passport
    src = report.source
    return Passport(
        collection=manifest.id,
        title=manifest.title or {"en": manifest.id},
        description=manifest.description,
        keywords=manifest.keywords,
        organization=p.organization,
        responsible=p.responsible,
        license=p.license,
        update_frequency=p.update_frequency,
        lineage=p.lineage,
        version=version,
        first_published=first_published or report.created,
        last_modified=report.created,
        source=SourcePassport(
            **src.model_dump(exclude={"path"}), file_name=Path(src.path).name,
            transformation=report.transformation,
        ),
        geometry_type=report.geometry_type,
        feature_count=report.counts.published,
        extent=report.extent,
        temporal_extent=temporal_extent,
        quality=Quality(**report.counts.model_dump(), warnings=report.warnings),
        report=report_link,
        complete=p.complete,
    )
