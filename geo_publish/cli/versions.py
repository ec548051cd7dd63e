"""list, history, rollback, diff: the versions a store keeps."""

from __future__ import annotations

import click

from geo_publish.cli.common import config_option, settings_from


@click.command("list")
@config_option
def list_(config: str | None) -> None:
    """Collections with version, feature count, last update and status."""
    from geo_publish.publish.viewer.problems import map_problems
    from geo_publish.store import open_store

    settings = settings_from(config)
    rows = open_store(settings).collections()
    problems = map_problems(settings)
    if not rows:
        click.echo("no collections yet: run `geo-publish ingest SOURCE --collection ID`")
        return
    click.echo(f"{'collection':<24} {'version':>7} {'features':>10} {'quarantined':>11}  {'updated':<25} status")
    for v in rows:
        click.echo(f"{v.collection:<24} {v.version:>7} {v.feature_count:>10} {v.quarantined:>11}  "
                   f"{v.created:<25} published")
        problem = problems.get(v.collection)
        if problem and problem.get("version") == v.version:
            click.echo(f"  map of {v.collection}: {problem['error']}; {problem['shown']}")


@click.command()
@click.argument("collection")
@config_option
def history(collection: str, config: str | None) -> None:
    """Versions of COLLECTION kept in the store."""
    from geo_publish.store import open_store

    for v in open_store(settings_from(config)).history(collection):
        mark = "*" if v.published else " "
        click.echo(f"{mark} v{v.version:<4} {v.created}  {v.feature_count:>9} features  "
                   f"{v.quarantined:>6} quarantined  sha256 {str(v.sha256)[:12]}"
                   + ("  (pruned: features no longer kept)" if v.pruned else ""))


@click.command()
@click.argument("collection")
@click.option("--to", "to", type=int, required=True, help="version to publish again")
@config_option
def rollback(collection: str, to: int, config: str | None) -> None:
    """Publish an earlier version of COLLECTION again."""
    from geo_publish.store import open_store

    v = open_store(settings_from(config)).rollback(collection, to)
    click.echo(f"{collection}: version {v.version} is published ({v.feature_count} features)")


@click.command()
@click.argument("collection")
@click.option("--from", "old", type=int, help="older version (default: the one before --to)")
@click.option("--to", "new", type=int, help="newer version (default: the published one)")
@click.option("--limit", type=int, default=20, show_default=True, help="ids listed per kind")
@config_option
def diff(collection: str, old: int | None, new: int | None, limit: int, config: str | None) -> None:
    """Added, removed and changed features between two versions (by schema.id_field)."""
    from geo_publish.diff import diff_versions
    from geo_publish.errors import UsageError
    from geo_publish.manifest import load_manifest
    from geo_publish.store import open_store

    settings = settings_from(config)
    store = open_store(settings)
    new = new or store.version(collection).version
    old = old or new - 1
    if old < 1:
        raise UsageError(f"{collection}: version {new} has no earlier version to compare with")
    manifest = load_manifest(settings.path(settings.collections_dir), collection)
    d = diff_versions(store, collection, manifest.schema_.id_field if manifest else None, old, new)
    click.echo(f"{collection} v{d.old} -> v{d.new} (by {d.id_field}): {len(d.added)} added, "
               f"{len(d.removed)} removed, {len(d.changed)} changed")
    for label, ids in (("added", d.added), ("removed", d.removed), ("changed", d.changed)):
        if ids:
            more = f" (+{len(ids) - limit} more)" if len(ids) > limit else ""
            click.echo(f"  {label}: {', '.join(ids[:limit])}{more}")


@click.command()
@click.argument("collection", required=False)
@click.option("--keep", type=click.IntRange(min=2), default=None,
              help="versions that keep their features (default: store.keep_versions, 50)")
@config_option
def prune(collection: str | None, keep: int | None, config: str | None) -> None:
    """Drop the features of old versions of COLLECTION (default: every collection).

    The newest versions and the published one keep theirs; a pruned version keeps its passport,
    report and quarantine in `history`, and cannot be rolled back to. `serve` does this every
    minute when store.keep_versions is set (the default)."""
    from geo_publish.errors import UsageError
    from geo_publish.store import open_store

    settings = settings_from(config)
    keep = keep or settings.store.keep_versions
    if not keep:
        raise UsageError("store.keep_versions is 0 (keep every version): pass --keep N to prune")
    store = open_store(settings)
    if collection:
        store.history(collection)  # a one-line error for an unknown collection
    gone = store.prune(keep, collection)
    for c, v in gone:
        click.echo(f"{c} v{v}: features dropped")
    click.echo(f"{len(gone)} version(s) pruned; the newest {keep} of each collection and the "
               "published one keep their features")


COMMANDS = [list_, history, rollback, diff, prune]
