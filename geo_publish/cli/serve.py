"""`geo-publish build` and `geo-publish serve`."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import click

from geo_publish.cli.common import config_option, settings_from
from geo_publish.errors import ServeError
from geo_publish.settings import Settings


def build_all(settings: Settings, site_api_url: str | None = None,
              site: bool = True, strict: bool = False, full: bool = True) -> dict[str, Path]:
    """The pygeoapi configuration, the OpenAPI document and (with ``site``) the viewer site;
    without ``full``, only what serving workers boot on (``write_build``)."""
    from geo_publish.publish.viewer.deploy import publish_site
    from geo_publish.store.location import Source
    from geo_publish.serve.pygeoapi.runtime import write_build

    Source.export_dsn(settings)
    try:
        paths = write_build(settings, full=full)
        if site:
            paths["site"] = publish_site(settings, site_api_url, strict=strict)[0] / "index.html"
        return paths
    except Exception as err:
        from geo_publish.errors import GeoPublishError

        if isinstance(err, GeoPublishError):
            raise
        raise ServeError(f"{settings.path(settings.build_dir)}: build failed ({err})") from err


@click.command()
@config_option
def build(config: str | None) -> None:
    """Regenerate the pygeoapi configuration, OpenAPI document and viewer site from the store."""
    settings = settings_from(config)
    for name, path in build_all(settings, settings.server.url, strict=True).items():
        if not name.startswith("boot_"):  # what a serving worker boots on: not for people
            click.echo(f"{name}: {path}")


def _check_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as err:
            raise ServeError(f"{host}:{port}: cannot listen there ({err.strerror})",
                             hint="choose another with --port") from err


PRELOAD = ("geo_publish.serve.wiring", "pygeoapi.starlette_app")


def preloaded_workers() -> None:
    """uvicorn starts each worker with multiprocessing's "spawn": a new interpreter that imports
    pygeoapi, pydantic, pyarrow, geopandas and pygeofilter's grammar again (about 2 s of CPU a
    worker, at each start and each restart, on top of each other on a small machine). Here its
    workers are forked from a forkserver that has imported those once (``PRELOAD``): a clean
    process that only imports (no connection, no thread) and is only ever forked. The
    forkserver's environment is this process's when the first worker starts, so the
    environment the workers need is set before ``uvicorn.run``. Tested in test_server.py."""
    import multiprocessing

    import uvicorn._subprocess

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(PRELOAD))
    uvicorn._subprocess.spawn = context  # type: ignore[assignment]  # what get_subprocess uses


def run_server(settings: Settings, config_path: Path, host: str | None, port: int | None,
               workers: int | None) -> None:
    import uvicorn

    public_url = settings.server.url
    host = host or settings.server.host
    port = port or settings.server.port
    workers = workers or settings.server.workers
    _check_port(host, port)
    url = settings.server.url or f"http://{host}:{port}"
    settings = settings.model_copy(update={"server": settings.server.model_copy(update={"url": url})})
    from geo_publish import process
    from geo_publish.publish.viewer import builder as site_builder

    # the site by the site builder's process, never in this process, which serves: a first site
    # is built while the workers start (/site/ answers 503 until it is complete: the API does not
    # wait for the map, nor the map for the workers' imports). The portal's ingest jobs run
    # outside the serving workers too (more: python -m geo_publish.portal.runner), and the mail
    # outbox in a process of its own, so that a long ingest does not hold mail up. The three
    # start first: they need nothing of what this process writes, and start while it writes.
    builder = site_builder.start(config_path.resolve(), public_url)
    runner = process.spawn("geo_publish.portal.runner", "--jobs-only", str(config_path.resolve()))
    sender = process.spawn("geo_publish.portal.runner", "--mail-only", str(config_path.resolve()))
    try:
        paths = build_all(settings, public_url, site=False, full=False)
        os.environ["GEO_PUBLISH_URL"] = url
        os.environ["GEO_PUBLISH_CONFIG"] = str(config_path.resolve())
        os.environ["PYGEOAPI_CONFIG"] = str(paths["boot_config"])  # the workers install the live one
        os.environ["PYGEOAPI_OPENAPI"] = str(paths["boot_openapi"])
        click.echo(f"serving {url} (OGC API at /, map viewer at {url}/site/, publishing portal at "
                   f"{url}/publish/) with {workers} worker(s); Ctrl-C stops", err=True)
        preloaded_workers()
        uvicorn.run("geo_publish.serve.wiring:create_app", factory=True, host=host, port=port,
                    workers=workers, log_level="warning", access_log=False,
                    timeout_graceful_shutdown=5)
    finally:
        process.stop(sender)
        process.stop(runner)
        process.stop(builder)


@click.command()
@click.option("--host", default=None, help="address to listen on (default from config.yml: 127.0.0.1)")
@click.option("--port", type=int, default=None, help="port (default from config.yml: 5000)")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="server processes")
@config_option
def serve(host: str | None, port: int | None, workers: int | None, config: str | None) -> None:
    """Serve the OGC API (pygeoapi) and the viewer site."""
    settings = settings_from(config)
    ctx = click.get_current_context()
    path = Path(config or ctx.find_root().params.get("config") or "config.yml")
    run_server(settings, path, host, port, workers)
