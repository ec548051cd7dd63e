"""Everything GDAL reads, through pyogrio with Arrow: Shapefile, GeoJSON, GeoPackage, KML, ..."""

from __future__ import annotations

import contextlib
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyogrio
from pyogrio.errors import DataLayerError, DataSourceError, FieldError, GeometryError
from pyogrio.raw import open_arrow

from geo_publish.errors import EncodingError, IngestError
from geo_publish.ingest import encoding as enc
from geo_publish.ingest.crs import parse_crs
from geo_publish.ingest.formats import Batch, Inspection
from geo_publish.ingest.geometry import parse_wkb

MAX_MESSAGES = 20  # distinct ones kept for the report
GDAL_ERRORS = (DataSourceError, DataLayerError, FieldError, GeometryError, OSError, RuntimeError)


def _gdal_message(err: Exception) -> str:
    text = " ".join(str(err).split())
    return text[:200] or type(err).__name__


def _said(reader: pa.RecordBatchReader, messages: dict[str, int] | None) -> Iterator[pa.RecordBatch]:
    """The reader's batches; what GDAL says while making each (it reads as the stream is pulled,
    outside pyogrio's own calls, so its default handler would print "Warning 1: ..." on
    stderr) is counted in ``messages`` instead (None: dropped)."""
    try:
        from pyogrio._err import capture_errors  # GDAL's messages as Python warnings
    except ImportError:  # pragma: no cover - a pyogrio without it: GDAL prints them
        capture_errors = contextlib.nullcontext  # type: ignore[assignment]
    batches = iter(reader)
    while True:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with capture_errors():
                rb = next(batches, None)
        if messages is not None:
            for w in caught:
                text = " ".join(str(w.message).split())[:300]
                if text not in messages and len(messages) >= MAX_MESSAGES:  # one a feature, say
                    text = "other messages"
                messages[text] = messages.get(text, 0) + 1
        if rb is None:
            return
        yield rb


class OGRReader:
    def layers(self, path: Path) -> list[str]:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rows = pyogrio.list_layers(path)
        except GDAL_ERRORS as err:
            raise IngestError(f"{path.name}: not a readable geodata file ({_gdal_message(err)})") from err
        spatial = [str(name) for name, gtype in rows if gtype is not None]
        return spatial or [str(name) for name, _ in rows]

    def _encoding(self, path: Path, driver: str, option: str | None) -> tuple[enc.EncodingDecision, Path]:
        if driver == "ESRI Shapefile":
            dbf = next((p for p in (path.with_suffix(".dbf"), path.with_suffix(".DBF")) if p.exists()), None)
            if dbf is None and path.suffix.lower() == ".shp":  # GDAL would read it without them
                raise IngestError(f"{path.name}: its .dbf (the attribute table) is missing",
                                  hint="send the .shp with its .dbf, .shx and .prj, or a zip of them")
            cpg = next((p for p in (path.with_suffix(".cpg"), path.with_suffix(".CPG")) if p.exists()), None)
            declared = cpg.read_text(errors="replace").strip() if cpg else None
            declared_from = "cpg"
            if not declared and dbf is not None:  # as GDAL does: the DBF's language driver id
                declared, declared_from = enc.dbf_ldid(dbf), "ldid"
            sample = enc.dbf_sample(dbf) if dbf else b""
            return enc.decide(option, declared or None, sample, default="utf-8", declared_from=declared_from), path
        if driver in ("GeoJSON", "GeoJSONSeq") and path.is_file():
            with open(path, "rb") as fh:
                sample = fh.read(1 << 20)
            decision = enc.decide(option, None, sample, default="utf-8")
            if decision.encoding != "utf-8":
                # GDAL reads GeoJSON as UTF-8 only: recode a copy beside the extracted source.
                recoded = Path(tempfile.mkdtemp(prefix="gp-recode-")) / path.name
                try:
                    recoded.write_text(path.read_bytes().decode(decision.encoding), encoding="utf-8")
                except UnicodeDecodeError as err:
                    raise EncodingError(f"{path.name}: does not decode as {decision.encoding}") from err
                return decision, recoded
            return decision, path
        if option:
            return enc.EncodingDecision(enc.normalise(option), "option"), path
        return enc.EncodingDecision("utf-8", "default"), path

    def inspect(self, path: Path, layer: str | None, display: str, encoding: str | None) -> Inspection:
        shapefile = path.suffix.lower() in (".shp", ".dbf")
        if shapefile:  # field names are in the DBF's encoding too: decide it before reading them
            decision, read_path = self._encoding(path, "ESRI Shapefile", encoding)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                info = pyogrio.read_info(path, layer=layer, force_feature_count=True,
                                         **({"encoding": decision.encoding} if shapefile else {}))
        except GDAL_ERRORS as err:
            raise IngestError(f"{display}: cannot be read ({_gdal_message(err)})") from err
        driver = str(info.get("driver") or "")
        if not shapefile:
            decision, read_path = self._encoding(path, driver, encoding)
        crs = parse_crs(info["crs"], display) if info.get("crs") else None
        crs_from = None
        if crs is not None:
            crs_from = "prj" if driver == "ESRI Shapefile" else "file"
        bounds = info.get("total_bounds")
        bounds = tuple(float(b) for b in bounds) if bounds is not None else None
        return Inspection(
            path=read_path, display=display, format=driver, layer=info.get("layer_name") or layer,
            reader="ogr", count=int(info["features"]) if info.get("features", -1) >= 0 else None,
            fields=[str(f) for f in info["fields"]], geometry_type=info.get("geometry_type"),
            crs=crs, crs_from=crs_from, encoding=decision, bounds=bounds,  # type: ignore[arg-type]
            options={"pass_encoding": shapefile},
        )

    def batches(self, insp: Inspection, chunk_size: int, geometry_only: bool = False) -> Iterator[Batch]:
        kwargs: dict[str, object] = {}
        if insp.options.get("pass_encoding"):
            kwargs["encoding"] = insp.encoding.encoding
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with open_arrow(
                    insp.path, layer=insp.layer, batch_size=chunk_size, return_fids=True,
                    use_pyarrow=True, columns=[] if geometry_only else None, **kwargs,
                ) as (meta, reader):
                    fid_col = meta["fid_column"] or "OGC_FID"
                    geom_col = meta["geometry_name"] or "wkb_geometry"
                    for rb in _said(reader, None if geometry_only else insp.messages):
                        yield self._batch(insp, rb, fid_col, geom_col)
        except GDAL_ERRORS as err:
            raise IngestError(f"{insp.display}: reading failed ({_gdal_message(err)})") from err
        except UnicodeDecodeError as err:
            raise EncodingError(
                f"{insp.display}: text does not decode as {insp.encoding.encoding}",
                hint="pass the right one with --encoding (e.g. cp1251, cp866)",
            ) from err

    def _batch(self, insp: Inspection, rb: pa.RecordBatch, fid_col: str, geom_col: str) -> Batch:
        table = pa.Table.from_batches([rb])
        names = table.column_names
        # by position: GDAL's stream has the FID first and the geometry last, and a property may
        # carry either's name too (a GeoJSON "id" property beside the features' ids)
        fid_at = names.index(fid_col) if fid_col in names else None
        geom_at = len(names) - 1 - names[::-1].index(geom_col) if geom_col in names else None
        fids = table.column(fid_at).to_numpy() if fid_at is not None else np.arange(len(table))
        if geom_at is not None:
            wkb = table.column(geom_at).to_numpy(zero_copy_only=False)
            geoms, curves, unparseable = parse_wkb(wkb)
            if curves.any():
                try:
                    geoms[curves] = self._linearised(insp, fids[curves])
                except Exception:  # noqa: BLE001 - GDAL could not linearise them: quarantined
                    unparseable = unparseable | curves
        else:
            wkb = None
            geoms = np.full(len(table), None, dtype=object)
            unparseable = np.zeros(len(table), bool)
        attrs = table
        for at in sorted((i for i in (fid_at, geom_at) if i is not None), reverse=True):
            attrs = attrs.remove_column(at)
        return Batch(fids=np.asarray(fids), geoms=geoms, unparseable=unparseable, attrs=attrs,
                     raw=wkb)

    def _linearised(self, insp: Inspection, fids: np.ndarray) -> np.ndarray:
        """Curves: GDAL's non-Arrow path returns them linearised; re-read only those."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            df = pyogrio.read_dataframe(
                insp.path, layer=insp.layer, fids=list(fids), columns=[], use_arrow=False,
            )
        return np.asarray(df.geometry.array, dtype=object)


READER = OGRReader()
