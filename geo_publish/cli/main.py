"""`geo-publish`: thin commands; the work is in the package. Exit 0 done, 1 usage, 2 rejected."""

from __future__ import annotations

import os
import sys
import warnings

import click

from geo_publish.cli import common
from geo_publish.errors import GeoPublishError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="geo-publish")
@click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
              help="config file (default: ./config.yml)")
def cli(config: str | None) -> None:
    """Publish geographic open data: ingest, passport, OGC API - Features, map viewer."""


def _register() -> None:
    from geo_publish.cli import admin, basemap, demo, ingest, mail, migrate, serve, versions

    cli.add_command(ingest.ingest)
    for cmd in versions.COMMANDS:
        cli.add_command(cmd)
    cli.add_command(serve.build)
    cli.add_command(serve.serve)
    cli.add_command(demo.demo)
    cli.add_command(migrate.migrate)
    cli.add_command(admin.admin)
    cli.add_command(mail.mail_)
    cli.add_command(mail.remind)
    cli.add_command(basemap.basemap)


_register()


def main(argv: list[str] | None = None) -> int:
    """Entry point: one-line messages for every error a user can cause, never a traceback."""
    warnings.simplefilter("ignore")
    try:
        cli.main(args=argv, prog_name="geo-publish", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 1
    except click.exceptions.Exit as ex:
        return int(ex.exit_code)
    except click.UsageError as err:
        click.echo(f"error: {err.format_message()}", err=True)
        return 1
    except click.ClickException as err:
        click.echo(f"error: {err.format_message()}", err=True)
        return 1
    except GeoPublishError as err:
        click.echo(f"error: {err.one_line()}", err=True)
        return err.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted; the store is unchanged", err=True)
        return 130
    except MemoryError:
        click.echo("error: out of memory; lower ingest.chunk_size in config.yml", err=True)
        return 2
    except Exception as err:  # a bug of ours, not the user's: say so in one line
        if os.environ.get("GEO_PUBLISH_DEBUG"):
            raise
        click.echo(f"internal error: {type(err).__name__}: {' '.join(str(err).split())[:300]} "
                   "(please report it; set GEO_PUBLISH_DEBUG=1 for the traceback)", err=True)
        return 3
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

__all__ = ["cli", "common", "main"]
