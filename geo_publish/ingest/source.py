"""From the path a user typed to one layer of one dataset: checks, zip extraction, layer choice."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from geo_publish.errors import IngestError, SourceNotFound
from geo_publish.ingest.archive import extract_zip
from geo_publish.ingest.formats import DATASET_SUFFIXES, Reader, reader_for


@dataclass
class Choice:
    dataset: Path
    layer: str | None  # layer name inside the dataset
    name: str  # what --layer matches
    reader: Reader


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    if path.is_dir():
        for p in sorted(path.rglob("*")):
            if p.is_file():
                h.update(p.relative_to(path).as_posix().encode())
                h.update(p.read_bytes())
        return h.hexdigest()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def check_readable(path: Path) -> None:
    """One-line errors for a missing, empty, folder or unreadable source."""
    display = str(path)
    if not path.exists():
        raise SourceNotFound(f"{display}: no such file")
    if path.is_dir() and path.suffix.lower() != ".gdb":
        raise IngestError(f"{display}: is a folder, not a file",
                          hint="give the .shp, .zip, .gpkg, .geojson, .kml or .csv inside it")
    if path.is_file():
        try:
            with open(path, "rb") as fh:
                head = fh.read(1)
        except PermissionError as err:
            raise IngestError(f"{display}: cannot be read (permission denied)") from err
        except OSError as err:
            raise IngestError(f"{display}: cannot be read ({err.strerror})") from err
        if not head:
            raise IngestError(f"{display}: the file is empty")
    elif not os.access(path, os.R_OK | os.X_OK):
        raise IngestError(f"{display}: cannot be read (permission denied)")


def _datasets(folder: Path) -> list[Path]:
    found = []
    for p in sorted(folder.rglob("*")):
        if any(part.startswith("__MACOSX") for part in p.parts):
            continue
        if p.suffix.lower() in DATASET_SUFFIXES and (p.is_file() or p.suffix.lower() == ".gdb"):
            if any(parent.suffix.lower() == ".gdb" for parent in p.parents):
                continue
            found.append(p)
    # a .json beside a .geojson of the same name is metadata, not data; .txt only if alone
    return [p for p in found if p.suffix.lower() not in (".txt",) or len(found) == 1]


def choices(path: Path, workdir: Path, max_bytes: int, max_ratio: float) -> list[Choice]:
    """Every layer the source offers, named as --layer would match them."""
    if path.suffix.lower() == ".zip":
        root = extract_zip(path, workdir / "unzipped", max_bytes, max_ratio)
        datasets = _datasets(root)
        if not datasets:
            raise IngestError(f"{path}: the zip holds no geodata file ({', '.join(DATASET_SUFFIXES)})")
        out: list[Choice] = []
        for ds in datasets:
            rel = ds.relative_to(root).with_suffix("").as_posix()
            _, reader = reader_for(ds)
            layers = reader.layers(ds)
            for layer in layers:
                name = rel if len(layers) == 1 else f"{rel}/{layer}"
                out.append(Choice(ds, layer if len(layers) > 1 else None, name, reader))
        return out
    if path.suffix.lower() == ".kmz":  # a zip too: the same guards before GDAL opens it
        root = extract_zip(path, workdir / "unkmz", max_bytes, max_ratio)
        kmls = sorted(root.rglob("*.kml"), key=lambda p: (p.name.lower() != "doc.kml",
                                                          len(p.parts), p.as_posix()))
        if not kmls:
            raise IngestError(f"{path}: the KMZ holds no .kml document")
        path = kmls[0]
    _, reader = reader_for(path)
    layers = reader.layers(path)
    if len(layers) == 1:
        return [Choice(path, None, layers[0], reader)]
    return [Choice(path, layer, layer, reader) for layer in layers]


def pick(options: list[Choice], wanted: str | None, path: Path) -> Choice:
    if wanted is None:
        if len(options) == 1:
            return options[0]
        names = ", ".join(c.name for c in options[:30])
        raise IngestError(f"{path}: holds {len(options)} layers ({names})",
                          hint="choose one with --layer NAME")
    for key in (lambda c: c.name, lambda c: c.layer or "", lambda c: Path(c.name).name):
        hits = [c for c in options if key(c) == wanted]
        if len(hits) == 1:
            return hits[0]
    names = ", ".join(c.name for c in options[:30])
    raise IngestError(f"{path}: has no layer {wanted!r} (layers: {names})")
