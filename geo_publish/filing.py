"""What follows a published version, for vector and raster ingests alike: the report filed in
``data/reports/<id>/v<n>.*`` (and at ``--report``), and the manifest template on a collection's
first ingest."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from geo_publish.ingest.report import Report
from geo_publish.manifest import Manifest, manifest_path, write_template
from geo_publish.settings import Settings


@dataclass
class Outcome:
    report: Report
    report_paths: tuple[Path, Path] | None
    manifest_written: Path | None


def file_version(settings: Settings, report: Report, version: int, report_path: Path | None,
                 manifest: Manifest | None, effective: Manifest) -> tuple[tuple[Path, Path], Path | None]:
    """After a commit: the report in data/reports/ID/vN.* (and at --report), and the manifest
    template on a collection's first ingest. Returns the report's paths and the template's."""
    report.version = version
    paths = report.write(settings.path(settings.reports_dir) / report.collection / f"v{version}.json")
    if report_path is not None:
        paths = report.write(report_path)
    written = None
    collections_dir = settings.path(settings.collections_dir)
    if manifest is None and not manifest_path(collections_dir, report.collection).exists():
        written = write_template(collections_dir, effective)
    return paths, written
