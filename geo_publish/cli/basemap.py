"""`geo-publish basemap build EXTRACT.osm.pbf`: the offline base map of the citizen map."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def basemap() -> None:
    """The citizen map's base map (streets, water, parks, buildings, places) from OpenStreetMap."""


@basemap.command("build")
@click.argument("extract", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("basemap.pmtiles"), show_default=True, help="the PMTiles archive to write")
@click.option("--maxzoom", type=int, default=14, show_default=True,
              help="the deepest zoom of the tiles (the map zooms further, drawing them larger)")
@click.option("--quiet", is_flag=True, help="no progress lines")
def build(extract: Path, output: Path, maxzoom: int, quiet: bool) -> None:
    """Turn an OSM extract (a country's .osm.pbf from any OSM extract service) into a vector
    PMTiles archive in the Protomaps basemap schema's layers. Data (c) OpenStreetMap
    contributors, ODbL: the map shows the attribution."""
    from geo_publish.basemap.build import build as run

    done = run(extract, output.absolute(), maxzoom,
               progress=None if quiet else (lambda line: click.echo(line, err=True)))
    click.echo(f"wrote {done.path}: {done.features:,} features in {done.tiles:,} tiles "
               f"({done.bytes / 1e6:.1f} MB), zooms 0-{maxzoom}; peak memory {done.peak_rss_mb:.0f} MB")
    if done.crowded:
        from geo_publish.basemap.tiles import MAX_TILE_FEATURES

        click.echo(f"{done.crowded:,} tiles over a dense city hold their {MAX_TILE_FEATURES:,} most prominent "
                   f"features (those shown from the earliest zoom, then the largest); the others "
                   f"show from a deeper zoom")
