"""Feature-by-feature writes (OGC API - Features Part 4) shared by both stores: the edit
operations, their checks against a layer's columns and geometry type, and the feature's ETag.

An edit never changes a published version: the store copies the published table, applies the
edits to the copy and publishes it as the next version, in one transaction (history, diff and
rollback work as for uploads). The ETag of a feature is a hash of its stored row, so it is the
same in every version in which the feature did not change, and it is computed by the same code
when the API serves the feature and when a write checks ``If-Match``.
"""

from __future__ import annotations

import hashlib
import math
import re
import struct
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

import shapely

from geo_publish.errors import Conflict, NotFound, PreconditionFailed, UsageError

KINDS = ("create", "replace", "update", "delete")
_MULTI = {"POINT": "MULTIPOINT", "LINESTRING": "MULTILINESTRING", "POLYGON": "MULTIPOLYGON"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
INT64 = (-(2**63), 2**63 - 1)


@dataclass
class Edit:
    kind: str
    key: str | None = None  # the feature's id in the API (the id field's value, or its fid)
    properties: dict[str, Any] = field(default_factory=dict)
    geometry: Any = None  # GeoJSON, fitted to the layer by the store
    if_match: str | None = None


@dataclass
class Applied:
    """What an edit made: the new version and the edited feature's id and ETag (None: deleted)."""

    version: int
    key: str
    etag: str | None


def etag(row: tuple[Any, ...]) -> str:
    """A strong ETag for a stored feature row (attributes and geometry as stored)."""
    parts = [v.hex() if isinstance(v, (bytes, memoryview)) else repr(v) for v in row]
    return '"' + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32] + '"'


def key_value(key: str, decl: str) -> Any:
    """The id from a URL as the column holds it; NotFound for an id the column cannot hold."""
    if "\x00" in key:
        raise NotFound("no feature with a NUL character in its id")
    if decl.split("(")[0] in ("INTEGER", "BIGINT", "INT", "SMALLINT", "MEDIUMINT", "TINYINT"):
        try:
            value = int(key)
        except ValueError:
            raise NotFound(f"no feature {key[:80]!r}") from None
        if not INT64[0] <= value <= INT64[1]:
            raise NotFound(f"no feature {key[:80]!r}")
        return value
    return key


def check_properties(props: dict[str, Any], columns: dict[str, str], *, partial: bool) -> dict[str, Any]:
    """Properties checked against the layer's columns (SQLite-style declared types as the
    readers report them) and converted for storage; UsageError naming the property."""
    out: dict[str, Any] = {}
    for name, value in props.items():
        if name not in columns:
            raise UsageError(f"property {name[:80]!r} is not in this layer (its properties: "
                             f"{', '.join(sorted(columns))[:300]}); an edit keeps the layer's schema")
        decl = columns[name].split("(")[0]
        out[name] = None if value is None else _convert(name, value, decl)
    if not partial:
        out = {name: out.get(name) for name in columns}
    return out


def _convert(name: str, value: Any, decl: str) -> Any:
    def bad(kind: str) -> UsageError:
        return UsageError(f"property {name!r} takes {kind}, not {type(value).__name__} {str(value)[:40]!r}")

    if decl in ("INTEGER", "BIGINT", "INT", "SMALLINT", "MEDIUMINT", "TINYINT"):
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise bad("an integer")
        if not INT64[0] <= value <= INT64[1]:
            raise bad("a 64-bit integer")
        return value
    if decl in ("REAL", "DOUBLE", "FLOAT", "NUMERIC"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise bad("a number")
        return float(value)
    if decl == "BOOLEAN":
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if decl == "DATE":
        if not isinstance(value, str) or not _DATE.match(value):
            raise bad("a date (YYYY-MM-DD)")
        try:
            date.fromisoformat(value)
        except ValueError:
            raise bad("a date (YYYY-MM-DD)") from None
        return value
    if decl == "DATETIME":
        if not isinstance(value, str):
            raise bad("a date and time (ISO 8601)")
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise bad("a date and time (ISO 8601)") from None
        return value
    if not isinstance(value, str):
        raise bad("text")
    if "\x00" in value:
        raise UsageError(f"property {name!r}: text with a NUL character is not accepted")
    if len(value) > 100_000:
        raise bad("text of at most 100,000 characters")
    return value


def fit_geometry(geojson: Any, layer_type: str) -> shapely.Geometry:
    """A GeoJSON geometry (CRS84) for a layer of ``layer_type``: single parts become multi
    where the layer is multi; another type, an invalid coordinate or an empty one is refused."""
    if not isinstance(geojson, dict) or "type" not in geojson:
        raise UsageError("geometry must be a GeoJSON geometry object")
    try:
        import json

        geom = shapely.from_geojson(json.dumps(geojson))
    except Exception as err:  # noqa: BLE001 - shapely/GEOS raise several kinds
        raise UsageError(f"geometry is not valid GeoJSON ({' '.join(str(err).split())[:120]})") from None
    if geom is None or geom.is_empty:
        raise UsageError("geometry is empty")
    xmin, ymin, xmax, ymax = geom.bounds
    if not (-180 <= xmin <= xmax <= 180 and -90 <= ymin <= ymax <= 90):
        raise UsageError("geometry lies outside longitude -180..180, latitude -90..90 (send CRS84)")
    want = layer_type.upper().removesuffix("Z").replace(" ", "")
    have = geom.geom_type.upper()
    if want in ("GEOMETRY", "UNKNOWN", have):
        return geom
    if _MULTI.get(have) == want:
        return shapely.multipoints([geom]) if have == "POINT" else (
            shapely.multilinestrings([geom]) if have == "LINESTRING" else shapely.multipolygons([geom]))
    raise UsageError(f"geometry is a {geom.geom_type}; this layer holds {layer_type.title()}s")


def gpkg_blob(geom: shapely.Geometry, srs_id: int) -> bytes:
    """A GeoPackage geometry blob: header ("GP", version 0, flags: little-endian with an XY
    envelope), the SRS id, the envelope, then ISO WKB."""
    xmin, ymin, xmax, ymax = geom.bounds
    header = b"GP\x00\x03" + struct.pack("<i4d", srs_id, xmin, xmax, ymin, ymax)
    return header + shapely.to_wkb(geom, byte_order=1, flavor="iso")


def parse_feature(doc: Any, kind: str, key: str | None, if_match: str | None,
                  id_field: str | None) -> Edit:
    """The body of a Part 4 request as an Edit (UsageError for what is not a feature)."""
    if kind == "delete":
        return Edit("delete", key, if_match=if_match)
    if not isinstance(doc, dict):
        raise UsageError("the body must be a GeoJSON Feature (a JSON object)")
    if kind != "update" and doc.get("type") != "Feature":
        raise UsageError('the body must be a GeoJSON Feature ("type": "Feature")')
    props = doc.get("properties", {})
    if props is None:
        props = {}
    if not isinstance(props, dict):
        raise UsageError("properties must be a JSON object")
    if kind in ("create", "replace") and doc.get("geometry") is None:
        raise UsageError("the feature needs a geometry")
    geometry = doc.get("geometry")
    if kind != "create" and id_field and id_field in props and key is not None \
            and str(props[id_field]) != key:
        raise UsageError(f"{id_field} is the feature's id ({key}); it cannot be changed by an edit")
    return Edit(kind, key, dict(props), geometry, if_match)  # geometry fitted by the store


def served_etag(reader: Any, table: str, id_field: str | None, key: str) -> str | None:
    """The ETag of item ``key`` as the API serves it (the same as ``etag`` of the row a write
    checks ``If-Match`` against); None when there is no such single feature."""
    from geo_publish.store.base import quote

    t = reader.table(table)
    key_col = id_field if id_field and id_field in t.columns else "fid"
    try:
        value = key_value(key, t.columns.get(key_col, "INTEGER"))
    except NotFound:
        return None
    rows = reader.rows(f"SELECT * FROM {reader.table_sql(t)} WHERE {quote(key_col)} = ?", [value], t)
    if len(rows) != 1:
        return None
    # a version of versioned rows ends with the row's place in its base (gp_rid), which moves
    # when a later version closes the row: not part of the feature
    return etag(rows[0][:-1] if getattr(t, "row_id", "fid") != "fid" else rows[0])


class EditTable(Protocol):
    """A store's copy of the published table, as ``apply`` edits it (one transaction)."""

    columns: dict[str, str]  # property -> declared type, as the readers report them
    key_col: str  # the id field, or "fid"
    geometry_type: str

    def rows(self, column: str, value: Any) -> list[tuple[Any, ...]]:
        """SELECT * (fid first) where ``column`` = ``value``."""

    def insert(self, props: dict[str, Any], geom: shapely.Geometry) -> int:
        """A new row; its fid."""

    def update(self, fid: int, props: dict[str, Any], geom: shapely.Geometry | None) -> None: ...

    def delete(self, fid: int) -> None: ...


def apply(table: EditTable, edits: list[Edit], collection: str) -> list[tuple[str, int | None]]:
    """Check and apply edits to ``table``; (key, fid) per edit, fid None for a deletion.
    NotFound, Conflict (duplicate or ambiguous id), PreconditionFailed (If-Match) or
    UsageError (properties, geometry) leave the transaction to be rolled back."""

    key_col, out = table.key_col, []
    for e in edits:
        if e.kind == "create":
            props = check_properties(e.properties, table.columns, partial=False)
            if key_col != "fid":
                if props.get(key_col) is None:
                    raise UsageError(f"a new feature needs its id in properties.{key_col}")
                if table.rows(key_col, props[key_col]):
                    raise Conflict(f"a feature with {key_col} {props[key_col]!r} exists")
            fid = table.insert(props, fit_geometry(e.geometry, table.geometry_type))
            out.append((str(fid if key_col == "fid" else props[key_col]), fid))
            continue
        assert e.key is not None
        found = table.rows(key_col, key_value(e.key, table.columns.get(key_col, "INTEGER")))
        if not found:
            raise NotFound(f"no feature {e.key[:80]!r} in {collection}")
        if len(found) > 1:
            raise Conflict(f"{key_col} {e.key!r} is not unique in {collection}: edit by fid")
        if e.if_match is not None and e.if_match.strip() != "*" and \
                etag(found[0]) not in [t.strip() for t in e.if_match.split(",")]:
            raise PreconditionFailed(f"feature {e.key} has changed since that ETag "
                                     "(GET it again, then retry)")
        fid = found[0][0]
        if e.kind == "delete":
            table.delete(fid)
            out.append((e.key, None))
            continue
        props = check_properties(e.properties, table.columns, partial=e.kind == "update")
        geom = fit_geometry(e.geometry, table.geometry_type) if e.geometry is not None else None
        table.update(fid, props, geom)
        out.append((e.key, fid))
    return out


def applied(table: EditTable, version: int, out: list[tuple[str, int | None]]) -> list[Applied]:
    return [Applied(version, key, etag(table.rows("fid", fid)[0]) if fid is not None else None)
            for key, fid in out]
