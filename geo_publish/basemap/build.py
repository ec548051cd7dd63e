"""``geo-publish basemap build``: an OSM extract to a base map archive, both passes."""

from __future__ import annotations

import resource
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from geo_publish.basemap import osm, tiles
from geo_publish.errors import IngestError, SourceNotFound, UsageError

MAXZOOM = 14  # a 512-pixel tile of zoom 14 shows every street and building; the map zooms past it


@dataclass(frozen=True)
class Built:
    path: Path
    features: int
    tiles: int
    bytes: int
    peak_rss_mb: float
    crowded: int = 0  # tiles thinned to their tiles.MAX_TILE_FEATURES most prominent features


def check_extract(path: Path) -> None:
    """An OSM PBF file, or a one-line error naming what it is not."""
    if not path.exists():
        raise SourceNotFound(f"{path}: no such file")
    if not path.is_file():
        raise IngestError(f"{path}: not a file")
    with open(path, "rb") as fh:
        head = fh.read(32)
    # a PBF file starts with a BlobHeader: a 4-byte length, then type "OSMHeader"
    if len(head) < 16 or b"OSMHeader" not in head:
        raise IngestError(f"{path}: not an OpenStreetMap PBF extract (.osm.pbf)",
                          hint="download a country's .osm.pbf from an OSM extract service")


def build(extract: Path, out: Path, maxzoom: int = MAXZOOM,
          progress: Callable[[str], None] | None = None) -> Built:
    """Read ``extract`` and write the archive ``out``; nothing is left behind on failure."""
    if not 0 <= maxzoom <= 16:
        raise UsageError(f"--maxzoom {maxzoom}: give a zoom from 0 to 16")
    check_extract(extract)
    if not out.parent.is_dir():
        raise UsageError(f"{out.parent}: no such folder for the archive")
    say = progress or (lambda _line: None)
    with tempfile.TemporaryDirectory(prefix=".basemap-", dir=out.parent) as work:
        spool = osm.Spool(Path(work) / "spool.sqlite")
        try:
            try:
                n = osm.read(extract, spool, Path(work) / "nodes.idx", maxzoom,
                             progress=lambda k: say(f"read {k:,} features"))
            except RuntimeError as err:  # osmium: a damaged or truncated file
                raise IngestError(f"{extract}: cannot be read as an OSM extract "
                                  f"({' '.join(str(err).split())[:200]})") from None
            if not n:
                raise IngestError(f"{extract}: no road, water, park, building or place to draw")
            say(f"read {n:,} features; cutting tiles to zoom {maxzoom}")
            written = tiles.write(spool, out, maxzoom, extract.name.split(".")[0],
                                  progress=lambda z, k: say(f"zoom {z}: {k:,} tiles"))
        finally:
            spool.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return Built(out, n, written.tiles, written.bytes, peak, written.crowded)
