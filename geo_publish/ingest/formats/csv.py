"""CSV with lon/lat or x/y columns, or a WKT column. Separator and decimal comma are sniffed.

pandas rather than GDAL: after recoding a cp1251 file GDAL's X/Y column matching fails silently.
"""

from __future__ import annotations

import csv as _csv
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from geo_publish.errors import IngestError
from geo_publish.ingest import encoding as enc
from geo_publish.ingest.formats import Batch, Inspection

_X = ("lon", "lng", "long", "longitude", "x", "easting", "долгота", "uzunlik", "xcoord", "x_coord")
_Y = ("lat", "latitude", "y", "northing", "широта", "kenglik", "ycoord", "y_coord")
_WKT = ("wkt", "geometry", "geom", "the_geom", "shape", "geometry_wkt")
_NUMBER = re.compile(r"^\s*-?\d+(?:[.,]\d+)?(?:[eE][-+]?\d+)?\s*$")
_DECIMAL_COMMA = re.compile(r"^\s*-?\d+,\d+\s*$")


def _find(columns: list[str], names: tuple[str, ...]) -> str | None:
    lowered = {c.strip().lower(): c for c in columns}
    return next((lowered[n] for n in names if n in lowered), None)


class CSVReader:
    def layers(self, path: Path) -> list[str]:
        return [path.stem]

    def inspect(self, path: Path, layer: str | None, display: str, encoding: str | None) -> Inspection:
        with open(path, "rb") as fh:
            sample = fh.read(256 * 1024)
        if not sample.strip():
            raise IngestError(f"{display}: the CSV file is empty")
        if sample.startswith(b"\xef\xbb\xbf"):
            sample = sample[3:]
        decision = enc.decide(encoding, None, sample, default="utf-8")
        text = sample.decode(decision.encoding, errors="replace")
        lines = text.splitlines()[:50]
        try:
            dialect = _csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|")
            sep = dialect.delimiter
        except _csv.Error:
            sep = ","
        header = next(_csv.reader([lines[0]], delimiter=sep))
        rows = list(_csv.reader(lines[1:], delimiter=sep))
        xcol, ycol, wkt = _find(header, _X), _find(header, _Y), _find(header, _WKT)
        if not ((xcol and ycol) or wkt):
            raise IngestError(
                f"{display}: no coordinate columns found (columns: {', '.join(header[:12])})",
                hint="name them lon/lat, x/y, longitude/latitude, or give a WKT column named wkt",
            )
        decimal = "."
        if sep != "," and xcol and ycol:
            xi = header.index(xcol)
            values = [r[xi] for r in rows if len(r) > xi]
            if values and sum(bool(_DECIMAL_COMMA.match(v)) for v in values) > len(values) / 2:
                decimal = ","
        fields = [c for c in header if c not in (xcol, ycol, wkt)]
        count = max(sum(1 for _ in open(path, "rb")) - 1, 0)
        inferred: dict[str, str] = {}
        for i, name in enumerate(header):
            if name not in fields:
                continue
            values = [r[i] for r in rows if len(r) > i and r[i].strip()]
            if values and all(_NUMBER.match(v) for v in values):
                ints = all(re.match(r"^\s*-?\d+\s*$", v) for v in values)
                inferred[name] = "integer" if ints else "number"
        return Inspection(
            path=path, display=display, format="CSV", layer=path.stem, reader="csv", count=count,
            fields=fields, geometry_type="Point" if not wkt else None, crs=None, crs_from=None,
            encoding=decision, bounds=None, inferred_types=inferred,
            options={"sep": sep, "decimal": decimal, "x": xcol, "y": ycol, "wkt": wkt,
                     "xy": bool(xcol and ycol)},
        )

    def batches(self, insp: Inspection, chunk_size: int, geometry_only: bool = False) -> Iterator[Batch]:
        o = insp.options
        try:
            chunks = pd.read_csv(
                insp.path, sep=str(o["sep"]), encoding="utf-8-sig" if insp.encoding.encoding == "utf-8" else insp.encoding.encoding,
                dtype=str,
                keep_default_na=False, na_values=[""], chunksize=chunk_size,
                encoding_errors="strict", skipinitialspace=True,
            )
            start = 0
            for df in chunks:
                df.columns = [str(c).lstrip("\ufeff") for c in df.columns]
                geoms, bad = self._geometry(df, o)
                coords = [str(o["wkt"])] if not o["xy"] else [str(o["x"]), str(o["y"])]
                raw = df[coords].astype("string").fillna("").agg(" ".join, axis=1).to_numpy(dtype=object)
                attrs = df[[c for c in insp.fields if c in df.columns]]
                if geometry_only:
                    attrs = attrs.iloc[:, :0]
                n = len(df)
                yield Batch(fids=np.arange(start, start + n), geoms=geoms, unparseable=bad,
                            attrs=attrs, raw=raw)
                start += n
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
            raise IngestError(f"{insp.display}: CSV cannot be parsed ({' '.join(str(err).split())[:160]})") from err

    @staticmethod
    def _geometry(df: pd.DataFrame, o: dict[str, object]) -> tuple[np.ndarray, np.ndarray]:
        if o["xy"]:
            def num(col: str) -> np.ndarray:
                s = df[col].astype("string").str.strip()
                if o["decimal"] == ",":
                    s = s.str.replace(",", ".", regex=False)
                return pd.to_numeric(s, errors="coerce").astype(float).to_numpy(na_value=np.nan)

            x, y = num(str(o["x"])), num(str(o["y"]))
            present = df[str(o["x"])].notna().to_numpy() | df[str(o["y"])].notna().to_numpy()
            ok = np.isfinite(x) & np.isfinite(y)
            geoms = np.full(len(df), None, dtype=object)
            geoms[ok] = shapely.points(x[ok], y[ok])
            return geoms, present & ~ok
        col = df[str(o["wkt"])]
        text = col.to_numpy(dtype=object, na_value=None)
        geoms = shapely.from_wkt(text, on_invalid="ignore")
        bad = np.array([t is not None for t in text]) & shapely.is_missing(geoms)
        return np.asarray(geoms, dtype=object), bad


READER = CSVReader()
