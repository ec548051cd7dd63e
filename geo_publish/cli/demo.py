"""geo-publish demo: the whole chain on the shipped sample layers, in a fresh embedded store."""

from __future__ import annotations

from pathlib import Path

import click
import yaml

from geo_publish.cli.common import config_option, settings_from
from geo_publish.settings import Settings


def _manifests(settings: Settings, demo_dir: Path) -> tuple[Path, Path]:
    """The sample layers' manifests and styles: the project's (collections/, styles/), or, where
    it has none (geo-publish installed from a wheel, run in an empty folder), the copies the
    wheel carries, written into the demo folder."""
    from geo_publish import samples

    collections, styles = settings.path(settings.collections_dir), settings.path(settings.styles_dir)
    packaged = samples.packaged()
    if all((collections / f"{cid}.yml").exists() for cid in samples.SOURCES) or packaged is None:
        return collections, styles
    out = (demo_dir / "collections", demo_dir / "styles")
    for src, dst in zip(packaged, out, strict=True):
        dst.mkdir(parents=True, exist_ok=True)
        for f in src.glob("*.yml"):
            if not (dst / f.name).exists():
                (dst / f.name).write_bytes(f.read_bytes())
    return out


def _demo_config(settings: Settings, demo_dir: Path) -> Path:
    """A config file for the demo store, so that every server worker reads the same settings."""
    data = settings.model_dump(mode="json", exclude={"root"})
    data["store"] = {"backend": "geopackage", "path": str(demo_dir / "store.gpkg")}
    data["reports_dir"] = str(demo_dir / "reports")
    data["rasters_dir"] = str(demo_dir / "rasters")
    data["build_dir"] = str(demo_dir / "build")
    collections, styles = _manifests(settings, demo_dir)
    data["collections_dir"] = str(collections)
    data["styles_dir"] = str(styles)
    data["portal"]["uploads_dir"] = str(demo_dir / "uploads")
    if settings.portal.secret_key is not None:  # never the key itself in a file
        data["portal"]["secret_key"] = "${GEO_PUBLISH_SECRET_KEY}"
    else:
        data["portal"].pop("secret_key", None)
    path = demo_dir / "config.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# written by `geo-publish demo`\n" + yaml.safe_dump(data, allow_unicode=True),
                    encoding="utf-8")
    return path


DEMO_ORG = "demo-ministry"
DEMO_ADMIN = "admin@example.org"


def _first_admin(store: object) -> tuple[str, str]:
    """The demo's organisation (owning every sample layer) and its first admin, a site admin,
    with a new password each run (only its hash is kept, so it cannot be shown again)."""
    from geo_publish.portal import auth
    from geo_publish.portal.people import add_person, create_org

    accounts = store.accounts()  # type: ignore[attr-defined]
    if accounts.org(DEMO_ORG) is None:
        create_org(accounts, DEMO_ORG, "Demo ministry")
    password = auth.new_password()
    user = accounts.user_by_email(DEMO_ADMIN)
    if user is None:
        add_person(accounts, DEMO_ORG, DEMO_ADMIN, "Demo administrator", "admin", password)
        user = accounts.user_by_email(DEMO_ADMIN)
    else:
        accounts.set_password(user["id"], auth.hash_password(password))
        accounts.set_member(user["id"], DEMO_ORG, "admin")
    accounts.set_site_admin(user["id"], True)
    owners = accounts.owners()
    for v in store.collections():  # type: ignore[attr-defined]
        if v.collection not in owners:
            accounts.set_owner(v.collection, DEMO_ORG)
    return DEMO_ADMIN, password


@click.command()
@click.option("--keep", is_flag=True, help="keep an existing demo store instead of starting fresh")
@click.option("--serve/--no-serve", "serve_", default=True, show_default=True,
              help="serve the API and viewer afterwards")
@click.option("--port", type=int, default=None, help="port (default from config.yml: 5000)")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="server processes")
@config_option
def demo(keep: bool, serve_: bool, port: int | None, workers: int | None, config: str | None) -> None:
    """Build the sample layers, ingest them into data/demo/store.gpkg, build, and serve."""
    from geo_publish import samples
    from geo_publish.cli.serve import _check_port, build_all, run_server
    from geo_publish.settings import load_settings
    from geo_publish.store import open_store
    from geo_publish.workflow import ingest

    base = settings_from(config)
    if serve_:  # before anything is wiped or a password made: a busy port changes nothing
        _check_port(base.server.host, port or base.server.port)
    demo_dir = base.path(Path("data/demo"))
    store_path = demo_dir / "store.gpkg"
    if store_path.exists() and not keep:
        import shutil

        for part in (store_path, Path(f"{store_path}-wal"), Path(f"{store_path}-shm")):
            part.unlink(missing_ok=True)
        # the layers' files go with their catalogue (a new demo store starts empty)
        shutil.rmtree(store_path.with_name(store_path.stem + ".layers"), ignore_errors=True)
    config_path = _demo_config(base, demo_dir)
    settings = load_settings(config_path)
    sources = samples.build(demo_dir / "sources")
    for collection, path in sources.items():
        outcome = ingest(settings, path, collection, progress=False)
        r = outcome.report
        if r.raster:
            click.echo(f"{collection:<10} v{r.version}: raster {r.raster['width']} x "
                       f"{r.raster['height']}, {len(r.raster['bands'])} band(s), nodata "
                       f"{r.raster['nodata_share']:.0%} ({r.source.crs} -> {r.target_crs}, COG)")
        else:
            click.echo(f"{collection:<10} v{r.version}: {r.counts.published} published, "
                       f"{r.counts.repaired} repaired, {r.counts.quarantined} quarantined "
                       f"({r.source.format}, {r.source.encoding} {r.source.encoding_from}, "
                       f"{r.source.crs} -> {r.target_crs})")
        click.echo(f"{'':<10} {r.transformation}; report {outcome.report_paths[1] if outcome.report_paths else '-'}")
    store = open_store(settings)
    layers = store_path.with_name(store_path.stem + ".layers")
    click.echo(f"\nstore: {store_path} (the catalogue) and {layers}/ (a GeoPackage per layer: "
               "open them in QGIS)")
    for v in store.collections():
        p = store.passport(v.collection)
        click.echo(f"  {v.collection}: {p['title'].get('en')}, {p['organization'] or '(no organisation)'}, "
                   f"licence {p['license'] or '-'}, extent {p['extent']}")
    email, password = _first_admin(store)
    click.echo(f"\npublishing portal: /publish/ (sign in as {email}, password {password}; "
               "shown once, a new one on each demo run)")
    if serve_:
        run_server(settings, config_path, None, port, workers)
    else:
        for name, path in build_all(settings).items():
            click.echo(f"{name}: {path}")
