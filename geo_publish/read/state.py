"""The published state's signature: what the served configuration and the site depend on
(published versions, manifests and styles). The API's workers and the site builder both watch
it, to know when to rebuild."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from geo_publish.settings import Settings


def state_signature(settings: Settings) -> str:
    """What the served configuration and the site depend on: published versions, manifests and
    styles."""
    from geo_publish.read.readers import reader
    from geo_publish.store.location import Source

    parts: list[str] = []
    source = Source.of(settings)
    if settings.store.backend != "geopackage" or Path(source.data).exists():
        parts.append(json.dumps(sorted(reader(source.data).all_published().items())))
    for folder in (settings.collections_dir, settings.styles_dir):
        d = settings.path(folder)
        if d.is_dir():
            for p in sorted(d.glob("*.yml")):
                st = p.stat()
                parts.append(f"{folder}/{p.name}:{st.st_mtime_ns}:{st.st_size}")
    return hashlib.sha1("|".join(parts).encode()).hexdigest()
