"""Which layers the served site could not draw as styled, and why: written by the site build,
read by ``geo-publish list`` and the portal's pages (which must not import the site builder)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from geo_publish.settings import Settings


def problems_path(settings: Settings) -> Path:
    """``<build>/map-problems.json``: the layers the served site could not draw as styled."""
    return settings.path(settings.build_dir) / "map-problems.json"


def map_problems(settings: Settings) -> dict[str, dict[str, Any]]:
    """{id: {version, error, shown}} for the site being served (empty when all were drawn)."""
    try:
        return json.loads(problems_path(settings).read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return {}
