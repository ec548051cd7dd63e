"""geo-publish demo: the whole chain on the shipped sample layers, in a fresh embedded store."""

from __future__ import annotations

import click

from geo_publish.cli.common import config_option, settings_from


@click.command()
@click.option("--keep", is_flag=True, help="keep an existing demo store instead of starting fresh")
@config_option
def demo(keep: bool, config: str | None) -> None:
    """Build the sample layers, ingest them into data/demo/store.gpkg and show the result."""
    from geo_publish import samples
    from geo_publish.settings import GeoPackageStoreSettings
    from geo_publish.store import open_store
    from geo_publish.workflow import ingest

    settings = settings_from(config)
    demo_dir = settings.path(settings.build_dir).parent / "data" / "demo"
    store_path = demo_dir / "store.gpkg"
    if store_path.exists() and not keep:
        store_path.unlink()
    settings = settings.model_copy(update={
        "store": GeoPackageStoreSettings(path=store_path),
        "reports_dir": demo_dir / "reports",
    })
    sources = samples.build(demo_dir / "sources")
    for collection, path in sources.items():
        outcome = ingest(settings, path, collection)
        r = outcome.report
        click.echo(f"{collection:<10} v{r.version}: {r.counts.published} published, "
                   f"{r.counts.repaired} repaired, {r.counts.quarantined} quarantined "
                   f"({r.source.format}, {r.source.encoding} {r.source.encoding_from}, "
                   f"{r.source.crs} -> {r.target_crs})")
        click.echo(f"{'':<10} {r.transformation}; report {outcome.report_paths[1] if outcome.report_paths else '-'}")
    store = open_store(settings)
    click.echo(f"\nstore: {store_path} (open it in QGIS)")
    for v in store.collections():
        p = store.passport(v.collection)
        click.echo(f"  {v.collection}: {p['title'].get('en')}, {p['organization'] or '(no organisation)'}, "
                   f"licence {p['license'] or '-'}, extent {p['extent']}")
