"""The work the CLI and the portal share: ingest one source into the store (plan, stream, write,
passport, publish, or leave no trace), and publish a version already in the store (a draft
made by the portal's ingest, or an older one: rollback). Neither touches store tables."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from geo_publish.errors import GeoPublishError
from geo_publish.filing import Outcome, file_version
from geo_publish.ingest.pipeline import Run
from geo_publish.ingest.plan import make_plan
from geo_publish.ingest.prefetch import prefetched
from geo_publish.ingest.report import Report
from geo_publish.manifest import (
    Manifest, SchemaSpec, SourceSpec, check_collection_id, load_manifest, template, write_manifest,
)
from geo_publish.passport.build import build_passport
from geo_publish.settings import Settings
from geo_publish.store import VersionInfo, open_store


def _progress(total: int | None, enabled: bool | Callable[[int, int | None], None]
              ) -> tuple[Callable[[int], None] | None, Callable[[], None]]:
    if callable(enabled):
        report = enabled
        done = [0]

        def advance(n: int) -> None:
            done[0] += n
            report(done[0], total)

        return advance, lambda: report(done[0], total)
    if not enabled:
        return None, lambda: None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("ingest"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   transient=True)
    task = bar.add_task("ingest", total=total)
    bar.start()
    return (lambda n: bar.advance(task, n)), bar.stop


def _peeked(run: Run, batches: Iterator[pa.RecordBatch]) -> pa.RecordBatchReader:
    first = next(batches, None)
    if first is None:
        return pa.RecordBatchReader.from_batches(run.empty_schema(), iter(()))
    schema = first.schema

    def chain() -> Iterator[pa.RecordBatch]:
        yield first
        yield from batches

    return pa.RecordBatchReader.from_batches(schema, chain())


def ingest(
    settings: Settings,
    source: Path,
    collection: str,
    *,
    layer: str | None = None,
    source_crs: str | None = None,
    encoding: str | None = None,
    report_path: Path | None = None,
    dry_run: bool = False,
    progress: bool | Callable[[int, int | None], None] | None = None,
    publish: bool = True,
) -> Outcome:
    """Ingest ``source`` as a new version of ``collection``. ``publish=False`` makes a draft:
    a version in the store that the API does not serve until ``publish_version``. ``progress``
    is True/False for a bar on the terminal, or a callable given (features done, total)."""
    check_collection_id(collection)
    collections_dir = settings.path(settings.collections_dir)
    manifest = load_manifest(collections_dir, collection)
    spec = manifest.source if manifest else SourceSpec()
    if spec.path and Path(spec.path).name != source.name:
        spec = SourceSpec()  # the manifest's layer/CRS/encoding describe another file
    from geo_publish.ingest.raster import is_raster

    if is_raster(source):
        from geo_publish.raster_workflow import ingest_raster_source

        try:
            report, paths, written = ingest_raster_source(
                settings, source, collection, manifest, source_crs=source_crs or spec.crs,
                report_path=report_path, dry_run=dry_run, publish=publish)
        except GeoPublishError as err:
            if report_path is not None:
                Report(collection=collection, status="rejected", error=err.one_line(),
                       source={"path": str(source)}).write(report_path)  # type: ignore[arg-type]
            raise
        return Outcome(report, paths, written)
    show = sys.stderr.isatty() if progress is None else progress
    run: Run | None = None
    with tempfile.TemporaryDirectory(prefix="geo-publish-") as tmp:
        try:
            plan = make_plan(
                source, Path(tmp), settings.ingest, layer=layer or spec.layer,
                source_crs=source_crs or spec.crs, encoding=encoding or spec.encoding,
                schema=manifest.schema_ if manifest else SchemaSpec(),
            )
            run = Run(plan, settings.ingest, collection)
            if not dry_run:
                return _publish(settings, run, manifest, collection, source, report_path,
                                lambda: _progress(plan.insp.count, show), publish)
            advance, stop = _progress(plan.insp.count, show)
            try:
                for _ in run.batches(advance):
                    pass
            finally:
                stop()
            report = run.report("dry-run")
            paths = report.write(report_path) if report_path else None
            return Outcome(report, paths, None)
        except GeoPublishError as err:
            if report_path is not None:
                rejected = (run.report("rejected", error=err.one_line()) if run else
                            Report(collection=collection, status="rejected", error=err.one_line(),
                                   source={"path": str(source)}))  # type: ignore[arg-type]
                rejected.write(report_path)
            raise


def _publish(settings: Settings, run: Run, manifest: Manifest | None, collection: str,
             source: Path, report_path: Path | None,
             start_progress: Callable[[], tuple[Callable[[int], None] | None, Callable[[], None]]],
             publish: bool = True) -> Outcome:
    store = open_store(settings)
    first_published = store.first_published(collection)
    staging = store.begin(collection)
    if manifest and manifest.schema_.id_field:  # items are fetched by it: index it
        staging.index_fields = [manifest.schema_.id_field]
    failures: list[BaseException] = []
    try:
        staging.prepare(run.plan.geometry_type)  # before any thread: the progress bar's, the stream's
    except BaseException:
        staging.abort()
        raise
    advance, stop_progress = start_progress()

    def guarded() -> Iterator[pa.RecordBatch]:
        # An error raised inside the stream reaches us through Arrow's C interface as a generic
        # one: keep the original to re-raise it with its message.
        try:
            yield from run.batches(advance)
        except BaseException as err:
            failures.append(err)
            raise

    try:
        try:
            staging.write_features(_peeked(run, prefetched(guarded())), run.plan.geometry_type)
        except Exception:
            if failures:
                raise failures[0] from None
            raise
        finally:
            stop_progress()
        staging.write_quarantine(row.__dict__ for row in run.tally.quarantine)
        report = run.report("published")
        effective = manifest or _template(collection, run, source)
        passport = build_passport(
            effective, report, version=None, first_published=first_published,
            temporal_extent=run.tally.dates if run.plan.date_field else None,
        )
        version = staging.commit(
            passport=passport.model_dump(mode="json"), report=report.model_dump(mode="json"),
            feature_count=report.counts.published, quarantined=report.counts.quarantined,
            bbox=report.extent, sha256=run.plan.sha256, geometry_type=run.plan.geometry_type,
            publish=publish,
        )
    except BaseException:
        staging.abort()
        raise
    try:
        paths, written = file_version(settings, report, version, report_path, manifest, effective)
    except (OSError, GeoPublishError) as err:
        # the version is published: the report must not say otherwise, nor the exit status
        text = err.one_line() if isinstance(err, GeoPublishError) else f"{err.strerror}: {err.filename}"
        report.warnings.append(f"version {version} is published, but not every file beside it was "
                               f"written ({text})")
        return Outcome(report, None, None)
    return Outcome(report, paths, written)


def _template(collection: str, run: Run, source: Path) -> Manifest:
    plan = run.plan
    return template(collection, SourceSpec(
        path=str(source), layer=plan.insp.layer,
        crs=None if plan.crs_from != "option" else str(plan.crs.to_string()),
        encoding=plan.insp.encoding.encoding if plan.insp.encoding.source == "option" else None))


def passport_from(stored: dict[str, Any], manifest: Manifest) -> dict[str, Any]:
    """A version's passport with the manifest's current text, contact and licence."""
    p = manifest.passport
    return {**stored, "title": manifest.title or {"en": manifest.id},
            "description": manifest.description, "keywords": manifest.keywords,
            "organization": p.organization, "responsible": p.responsible.model_dump(mode="json"),
            "license": p.license, "update_frequency": p.update_frequency, "lineage": p.lineage,
            "complete": p.complete}


def publish_version(settings: Settings, collection: str, version: int,
                    manifest: Manifest | None = None) -> VersionInfo:
    """Make ``version`` the published one, first writing ``manifest`` (the passport form) and
    refreshing the version's passport from it. Live in the API and the viewer within seconds
    (workers watch the store; the site builder rebuilds the layer)."""
    store = open_store(settings)
    store.version(collection, version)  # NotFound before anything is written
    if manifest is not None:
        write_manifest(settings.path(settings.collections_dir), manifest,
                       " (edited in the publishing portal)")
    current = manifest or load_manifest(settings.path(settings.collections_dir), collection)
    if current is not None:
        store.set_passport(collection, version, passport_from(store.passport(collection, version),
                                                              current))
    return store.rollback(collection, version)
