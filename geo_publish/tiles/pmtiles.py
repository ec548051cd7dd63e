"""PMTiles v3 archives of a layer's vector tiles: the writer the pyramid fills
(``tiles/pyramid.py``) and the reader the server answers tiles from."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np


def archive_name(cid: str, version: int, fields: list[str], full_zoom: int) -> str:
    """The site file of a version's archive: named by what its tiles hold, so a new version, a
    style with other fields or another full_zoom never reads an old archive."""
    import hashlib
    import json

    key = hashlib.sha1(json.dumps([fields, full_zoom]).encode()).hexdigest()[:10]
    return f"{cid}.v{version}.{key}.pmtiles"


class Archive:
    """A PMTiles archive read through mmap, its directories kept once read (pmtiles' Reader
    parses the root directory again for every tile)."""

    def __init__(self, path: str) -> None:
        import mmap

        from pmtiles.tile import deserialize_header

        with open(path, "rb") as fh:
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        self.header = deserialize_header(self._map[0:127])
        self._dirs: dict[tuple[int, int], Any] = {}
        self._lock = threading.Lock()

    def _directory(self, offset: int, length: int) -> Any:
        from pmtiles.tile import deserialize_directory

        found = self._dirs.get((offset, length))
        if found is None:
            found = deserialize_directory(self._map[offset:offset + length])
            with self._lock:
                if len(self._dirs) > 256:
                    self._dirs.clear()
                self._dirs[(offset, length)] = found
        return found

    def get(self, z: int, x: int, y: int) -> bytes | None:
        """The tile's stored bytes (gzip), None when the archive has no such tile."""
        from pmtiles.tile import find_tile, zxy_to_tileid

        h = self.header
        if not h["min_zoom"] <= z <= h["max_zoom"]:
            return None
        tile_id = zxy_to_tileid(z, x, y)
        offset, length = h["root_offset"], h["root_length"]
        for _ in range(4):
            entry = find_tile(self._directory(offset, length), tile_id)
            if entry is None:
                return None
            if entry.run_length == 0:
                offset, length = h["leaf_directory_offset"] + entry.offset, entry.length
                continue
            start = h["tile_data_offset"] + entry.offset
            return self._map[start:start + entry.length]
        return None


_archives: dict[str, Archive] = {}


def archive(path: str) -> Archive | None:
    """The archive at ``path`` (opened once per process), None when there is none."""
    found = _archives.get(path)
    if found is None:
        try:
            found = Archive(path)
        except (OSError, ValueError):
            return None
        if len(_archives) > 64:
            _archives.clear()
        _archives[path] = found
    return found


class Writer:
    """A PMTiles writer whose memory stays small for millions of tiles: the tiles go to a
    temporary file as they come, their directory entries to arrays of integers (pmtiles'
    Writer keeps an object and a hash for each tile, ~300 bytes a tile); a tile equal to the
    one before it is stored once (a run, as the interior tiles of a large polygon, which the
    Hilbert order puts one after the other). The header, directories and metadata are
    pmtiles' own. Tiles must come in tile id order."""

    def __init__(self, fh: Any) -> None:
        import array
        import tempfile

        self.f = fh
        self.data = tempfile.TemporaryFile(dir=Path(fh.name).parent)
        self.cols = {k: array.array("q") for k in ("tile_id", "offset", "length", "run")}
        self.offset = self.addressed = 0
        self.last: bytes | None = None

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.data.close()

    def write_tile(self, tile_id: int, data: bytes) -> None:
        c = self.cols
        if c["tile_id"] and tile_id <= c["tile_id"][-1]:
            raise ValueError(f"tile {tile_id} after {c['tile_id'][-1]}: tiles must come in order")
        self.addressed += 1
        if data == self.last and tile_id == c["tile_id"][-1] + c["run"][-1]:
            c["run"][-1] += 1
            return
        c["tile_id"].append(tile_id)
        c["offset"].append(self.offset)
        c["length"].append(len(data))
        c["run"].append(1)
        self.data.write(data)
        self.offset += len(data)
        self.last = data

    def finalize(self, header: dict[str, Any], metadata: dict[str, Any]) -> None:
        import shutil

        from pmtiles.tile import Entry
        from pmtiles.writer import finalize_header

        c = self.cols
        entries = [Entry(*e) for e in zip(c["tile_id"], c["offset"], c["length"], c["run"])]
        head, root, meta, leaves = finalize_header(header, self.addressed, entries, len(entries),
                                                   metadata, True, self.offset)
        del entries
        for part in (head, root, meta, leaves):
            self.f.write(part)
        self.data.seek(0)
        shutil.copyfileobj(self.data, self.f)


def tile_ids(z: int, col: np.ndarray, row: np.ndarray) -> np.ndarray:
    """PMTiles tile ids (the Hilbert index within a zoom, after the tiles of the zooms above),
    for many tiles at once: the same as ``pmtiles.tile.zxy_to_tileid``."""
    n = 1 << z
    x, y = col.astype(np.int64).copy(), row.astype(np.int64).copy()
    d = np.zeros(len(x), dtype=np.int64)
    step = n // 2
    while step > 0:
        rx = (x & step) > 0
        ry = (y & step) > 0
        d += step * step * ((3 * rx.astype(np.int64)) ^ ry.astype(np.int64))
        # rotate the quadrant
        flip = ~ry
        swap_x = np.where(flip & rx, step - 1 - x, x)
        swap_y = np.where(flip & rx, step - 1 - y, y)
        x = np.where(flip, swap_y, swap_x)
        y = np.where(flip, swap_x, swap_y)
        step //= 2
    base = ((1 << (2 * z)) - 1) // 3  # tiles of zooms 0 .. z-1
    return base + d
