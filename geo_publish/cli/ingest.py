"""geo-publish ingest SOURCE --collection ID"""

from __future__ import annotations

from pathlib import Path

import click

from geo_publish.cli.common import config_option, settings_from


@click.command()
@click.argument("source", type=click.Path(path_type=Path, readable=False))
@click.option("--collection", "-c", required=True, help="collection id ([a-z0-9_-]+)")
@click.option("--layer", help="layer to take from a GeoPackage, KML or zip with several")
@click.option("--source-crs", help="CRS of the source when it has none or a wrong one, e.g. EPSG:32642")
@click.option("--encoding", help="attribute encoding when it is not detected right, e.g. cp1251")
@click.option("--report", "report", type=click.Path(path_type=Path), help="also write the report here (.json and .html)")
@click.option("--dry-run", is_flag=True, help="validate and report; change nothing")
@config_option
def ingest(source: Path, collection: str, layer: str | None, source_crs: str | None,
           encoding: str | None, report: Path | None, dry_run: bool, config: str | None) -> None:
    """Ingest SOURCE as a new version of collection ID."""
    from geo_publish.workflow import ingest as run_ingest

    settings = settings_from(config)
    if settings.ingest.nice:
        import os

        os.nice(settings.ingest.nice)  # below a server's workers (an ingest is not interactive)
    outcome = run_ingest(settings, source, collection, layer=layer, source_crs=source_crs,
                         encoding=encoding, report_path=report, dry_run=dry_run)
    r = outcome.report
    c = r.counts
    head = "dry run" if dry_run else f"published {collection} v{r.version}"
    if r.raster:
        g = r.raster
        click.echo(f"{head}: raster {g['width']} x {g['height']}, {len(g['bands'])} band(s) "
                   f"{g['dtype']}, resolution {g['resolution'][0]:.6g} deg, nodata "
                   f"{g['nodata_share']:.1%} ({g['format']})")
        click.echo(f"  source: CRS {r.source.crs} ({r.source.crs_from}), resolution "
                   f"{g['source_resolution'][0]:.6g}")
    else:
        click.echo(f"{head}: read {c.read}, published {c.published}, repaired {c.repaired}, "
                   f"quarantined {c.quarantined}")
        click.echo(f"  source: {r.source.format}, encoding {r.source.encoding} "
                   f"({r.source.encoding_from}), CRS {r.source.crs} ({r.source.crs_from})")
    click.echo(f"  transformation: {r.transformation}")
    for w in r.warnings:
        click.echo(f"  warning: {w}")
    if outcome.report_paths:
        click.echo(f"  report: {outcome.report_paths[0]} and {outcome.report_paths[1].name}")
    if outcome.manifest_written:
        click.echo(f"  wrote {outcome.manifest_written}: complete its passport (organisation, "
                   "responsible, licence)")
