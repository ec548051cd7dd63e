"""Options shared by every command."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from geo_publish.settings import Settings, load_settings


def config_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--config", "config", type=click.Path(dir_okay=False), default=None,
        help="config file (default: ./config.yml)",
    )(fn)


def settings_from(config: str | None) -> Settings:
    """--config after the command wins; else the one before it; else ./config.yml."""
    if config is None:
        ctx = click.get_current_context(silent=True)
        if ctx is not None:
            config = ctx.find_root().params.get("config")
    return load_settings(config)
