"""`geo-publish migrate --to postgis`: copy the GeoPackage store into PostGIS."""

from __future__ import annotations

import os

import click

from geo_publish.cli.common import config_option, settings_from
from geo_publish.errors import ConfigError


@click.command()
@click.option("--to", "to", type=click.Choice(["postgis"]), required=True, help="target backend")
@click.option("--dsn-env", default="GEO_PUBLISH_DSN", show_default=True,
              help="environment variable holding the target's connection string")
@click.option("--schema", default="geo_publish", show_default=True, help="target schema (empty)")
@config_option
def migrate(to: str, dsn_env: str, schema: str, config: str | None) -> None:
    """Copy every version, passport and quarantine of the GeoPackage store into PostGIS,
    then verify counts and content checksums. Afterwards point config.yml at PostGIS."""
    from geo_publish.store.gpkg import GeoPackageStore
    from geo_publish.store.migrate import migrate as run
    from geo_publish.store.postgis import PostGISStore

    settings = settings_from(config)
    if settings.store.backend != "geopackage":
        raise ConfigError("migrate copies a GeoPackage store: config.yml's store is not one")
    dsn = os.environ.get(dsn_env)
    if not dsn:
        raise ConfigError(f"{dsn_env} is not set", hint=f"export {dsn_env}=postgresql://...")
    source = GeoPackageStore.from_settings(settings)
    target = PostGISStore(dsn, schema)
    copied = run(source, target, progress=lambda line: click.echo(line, err=True))
    click.echo(f"migrated {len(copied)} versions of {len({c.collection for c in copied})} "
               f"collections to {target.where} schema {schema}; counts and checksums verified")
    click.echo("now set in config.yml:  store: {backend: postgis, dsn: ${" + dsn_env + "}, "
               f"schema: {schema}}}")
