"""Readers per format, registered by name; each turns one layer of a source into batches.

A reader knows how to list layers, inspect one (metadata only: fields, geometry type, CRS,
encoding, count, bounds) and stream it in batches of shapely geometries plus attributes.
Adding a format touches one new module and one line of ``REGISTRY``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
from pyproj import CRS

from geo_publish.ingest.encoding import EncodingDecision

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class Inspection:
    """What a metadata-only pass decided about one layer of a source."""

    path: Path
    display: str
    format: str
    layer: str | None
    reader: str
    count: int | None
    fields: list[str]
    geometry_type: str | None
    crs: CRS | None
    crs_from: str | None
    encoding: EncodingDecision
    bounds: tuple[float, float, float, float] | None
    inferred_types: dict[str, str] = field(default_factory=dict)
    options: dict[str, object] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # what the reader's library said while reading every feature (message -> times): GDAL closes
    # an unclosed ring, skips a value it cannot convert, ... and says so
    messages: dict[str, int] = field(default_factory=dict)


@dataclass
class Batch:
    fids: np.ndarray
    geoms: np.ndarray  # shapely geometries in the source CRS; None where missing
    unparseable: np.ndarray  # bool: raw geometry present but not readable
    attrs: pa.Table | pd.DataFrame  # Arrow from GDAL; pandas from the CSV reader
    raw: np.ndarray | None = None  # the source's own geometry text or WKB, kept for quarantine


class Reader(Protocol):
    def layers(self, path: Path) -> list[str]: ...

    def inspect(
        self, path: Path, layer: str | None, display: str, encoding: str | None
    ) -> Inspection: ...

    def batches(
        self, insp: Inspection, chunk_size: int, geometry_only: bool = False
    ) -> Iterator[Batch]: ...


# name -> (module, suffixes). "ogr" reads everything GDAL (inside pyogrio) reads.
REGISTRY: dict[str, tuple[str, tuple[str, ...]]] = {
    "csv": ("geo_publish.ingest.formats.csv", (".csv", ".tsv", ".txt")),
    "ogr": ("geo_publish.ingest.formats.ogr", (".shp", ".geojson", ".json", ".gpkg", ".kml",
                                                ".kmz", ".fgb", ".gml", ".gdb", ".sqlite")),
}
DATASET_SUFFIXES = tuple(s for _, sfx in REGISTRY.values() for s in sfx)


def reader_for(path: Path) -> tuple[str, Reader]:
    suffix = path.suffix.lower()
    for name, (module, suffixes) in REGISTRY.items():
        if suffix in suffixes:
            return name, importlib.import_module(module).READER
    return "ogr", importlib.import_module(REGISTRY["ogr"][0]).READER


def get_reader(name: str) -> Reader:
    return importlib.import_module(REGISTRY[name][0]).READER  # type: ignore[no-any-return]
