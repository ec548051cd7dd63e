"""The records collection (``/collections/catalogue/items``, OGC API - Records) read from the
store's catalogue index (``store/records.py``): full text (``q``, Uzbek Latin and Cyrillic,
Russian and English stems), ``bbox``, ``datetime`` (on ``updated``) and the filters
``organization``, ``keywords`` (a whole keyword: the passport's themes), ``format`` (vector,
raster), ``freshness`` (fresh, due, overdue, delinquent, unknown) and ``license``; sorted by
``updated``, ``title`` or ``id``; paged with ``limit`` and ``offset``. The SQL is the same for
both stores but the full-text test, which each reader spells (``Reader.text_match``).

pygeoapi names this class in the generated configuration; it stays at this path."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pygeoapi.provider.base import (BaseProvider, ProviderInvalidQueryError,
                                    ProviderItemNotFoundError)

from geo_publish.read import errors as _read_errors  # noqa: F401 - their statuses (http/errors)
from geo_publish.read.readers import reader
from geo_publish.store.search import query_terms

FILTERS = {"organization": "organization", "format": "format", "license": "license"}
FIELDS = {
    "title": "string", "description": "string", "keywords": "string", "organization": "string",
    "license": "string", "format": "string", "freshness": "string", "updated": "string",
    "created": "string", "version": "string", "type": "string",
}
SORTS = {"updated": "updated", "title": "title", "id": "collection", "created": "created"}
FRESHNESS = ("fresh", "due", "overdue", "delinquent", "unknown")
_COLUMNS = "collection, doc, minx, miny, maxx, maxy, frequency, due_at, overdue_at, delinquent_at"


def _utc(when: str, end: bool) -> str:
    """An instant of ``datetime`` as the index writes times (UTC, ISO 8601, +00:00); a date
    alone is its first or (``end``) its last moment."""
    from geo_publish.schedule import parse

    if len(when) == 10:
        when += "T23:59:59.999999" if end else "T00:00:00"
    try:
        return parse(when).astimezone(UTC).isoformat()
    except ValueError as err:
        raise ProviderInvalidQueryError(f"datetime: {when!r} is not an RFC 3339 time") from err


def freshness_state(frequency: str | None, due_at: str | None, overdue_at: str | None,
                    delinquent_at: str | None, now: str) -> str:
    if not frequency or frequency == "unknown":
        return "unknown"
    if due_at is None:
        return "fresh"  # no schedule promised
    return ("fresh" if now < due_at else "due" if now < overdue_at  # type: ignore[operator]
            else "overdue" if now < delinquent_at else "delinquent")  # type: ignore[operator]


def freshness_sql(state: str, now: str, params: list[Any]) -> str:
    """The rows in ``state`` at ``now`` (ISO 8601 UTC; the index keeps the milestones)."""
    if state == "unknown":
        return "(frequency IS NULL OR frequency = 'unknown')"
    known = "(frequency IS NOT NULL AND frequency != 'unknown')"
    if state == "fresh":
        params.append(now)
        return f"({known} AND (due_at IS NULL OR ? < due_at))"
    bounds = {"due": ("due_at", "overdue_at"), "overdue": ("overdue_at", "delinquent_at"),
              "delinquent": ("delinquent_at", None)}[state]
    params.append(now)
    sql = f"({known} AND {bounds[0]} <= ?"
    if bounds[1]:
        params.append(now)
        sql += f" AND ? < {bounds[1]}"
    return sql + ")"


class StoreRecords(BaseProvider):  # type: ignore[misc]
    def __init__(self, provider_def: dict[str, Any]) -> None:
        super().__init__(provider_def)
        self.reader = reader(provider_def["data"])
        self.base = str(provider_def.get("base_url", "")).rstrip("/")
        self.id_field = "id"
        self.time_field = "updated"
        self.title_field = "title"
        self._fields = {k: {"type": v} for k, v in FIELDS.items()}

    def get_fields(self) -> dict[str, Any]:
        return self._fields

    # -- what a row becomes -------------------------------------------------------------------
    def _feature(self, row: tuple[Any, ...], now: str) -> dict[str, Any]:
        cid, doc, x0, y0, x1, y1, frequency, due, overdue, delinquent = row
        props = json.loads(doc) if isinstance(doc, str) else dict(doc)
        title = props.get("title") or {}
        props["title"] = title.get("en") or next(iter(title.values()), cid) if isinstance(title, dict) else title
        props["titles"] = title if isinstance(title, dict) else {"en": title}
        desc = props.get("description") or {}
        props["description"] = (desc.get("en") or next(iter(desc.values()), "")) if isinstance(desc, dict) else desc
        props["freshness"] = freshness_state(frequency, due, overdue, delinquent, now)
        raster = props.get("geometry_type") == "Raster"
        base = self.base
        return {
            "id": cid, "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [[
                [x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]},
            "properties": props,
            "links": [
                ({"rel": "item", "type": "image/tiff", "title": "Coverage (GeoTIFF)",
                  "href": f"{base}/collections/{cid}/coverage?f=GTiff"} if raster else
                 {"rel": "item", "type": "application/geo+json", "title": "Features",
                  "href": f"{base}/collections/{cid}/items"}),
                {"rel": "collection", "type": "application/json", "title": props["title"],
                 "href": f"{base}/collections/{cid}"},
                {"rel": "describedby", "type": "application/ld+json", "title": "DCAT",
                 "href": f"{base}/passports/{cid}.jsonld"},
            ],
        }

    # -- queries ----------------------------------------------------------------------------
    def where(self, bbox: list[float] | None, datetime_: str | None,
              properties: list[tuple[str, str]], q: str | None, now: str) -> tuple[str, list[Any]]:
        conds: list[str] = []
        params: list[Any] = []
        if q:
            terms = query_terms(q)
            if not terms:
                raise ProviderInvalidQueryError("q: no word to search for")
            conds.append(self.reader.text_match(terms, params))
        if bbox:
            x0, y0, x1, y1 = (bbox[0], bbox[1], bbox[-3 if len(bbox) == 6 else 2],
                              bbox[-2 if len(bbox) == 6 else 3])
            conds.append("minx <= ? AND maxx >= ? AND miny <= ? AND maxy >= ?")
            params += [x1, x0, y1, y0]
        if datetime_:
            lo, _, hi = datetime_.partition("/") if "/" in datetime_ else (datetime_, "", datetime_)
            if lo and lo != "..":
                conds.append("updated >= ?")
                params.append(_utc(lo, end=False))
            if hi and hi != "..":
                conds.append("updated <= ?")
                params.append(_utc(hi, end=True))
        for name, value in properties:
            if name in FILTERS:
                conds.append(f"lower({FILTERS[name]}) = lower(?)")
                params.append(value)
            elif name == "keywords":
                conds.append("keywords LIKE ?")
                params.append("%|" + value.lower().replace("%", "").replace("_", "") + "|%")
            elif name == "freshness":
                if value not in FRESHNESS:
                    raise ProviderInvalidQueryError(f"freshness: one of {', '.join(FRESHNESS)}")
                conds.append(freshness_sql(value, now, params))
            elif name in ("title", "description"):
                conds.append(f"lower({name}) = lower(?)")
                params.append(value)
            elif name in ("updated", "created", "version", "type"):
                if name == "type":
                    conds.append("1 = 1" if value == "dataset" else "1 = 0")
                else:
                    conds.append(f"CAST({name} AS TEXT) = ?")
                    params.append(value)
            else:
                raise ProviderInvalidQueryError(f"{name}: not a property of the catalogue's records")
        return (" WHERE " + " AND ".join(conds)) if conds else "", params

    def query(self, offset: int = 0, limit: int = 10, resulttype: str = "results",
              bbox: list[float] | None = None, datetime_: str | None = None,
              properties: list[tuple[str, str]] | None = None, sortby: list[dict[str, str]] | None = None,
              select_properties: list[str] | None = None, skip_geometry: bool = False,
              q: str | None = None, **kwargs: Any) -> dict[str, Any]:
        now = datetime.now(UTC).replace(microsecond=0).isoformat()
        where, params = self.where(bbox, datetime_, properties or [], q, now)
        table = self.reader.q("gp_records")
        order = []
        for s in sortby or []:
            column = SORTS.get(s.get("property", ""))
            if column is None:
                raise ProviderInvalidQueryError(f"sortby: one of {', '.join(SORTS)}")
            order.append(f"{column} {'DESC' if s.get('order') == '-' else 'ASC'}")
        order.append("collection ASC")
        matched = int(self.reader.rows(f"SELECT count(*) FROM {table}{where}", params)[0][0])
        out: dict[str, Any] = {"type": "FeatureCollection", "features": [],
                               "numberMatched": matched}
        if resulttype == "hits":
            out["numberReturned"] = 0
            return out
        rows = self.reader.rows(f"SELECT {_COLUMNS} FROM {table}{where} ORDER BY {', '.join(order)} "
                                f"LIMIT {int(limit)} OFFSET {int(offset)}", params)
        out["features"] = [self._feature(r, now) for r in rows]
        if skip_geometry:
            for f in out["features"]:
                f["geometry"] = None
        if select_properties:
            for f in out["features"]:
                f["properties"] = {k: v for k, v in f["properties"].items() if k in select_properties}
        out["numberReturned"] = len(out["features"])
        return out

    def get(self, identifier: str, **kwargs: Any) -> dict[str, Any]:
        now = datetime.now(UTC).replace(microsecond=0).isoformat()
        rows = self.reader.rows(f"SELECT {_COLUMNS} FROM {self.reader.q('gp_records')} "
                                "WHERE collection = ?", [str(identifier)])
        if not rows:
            raise ProviderItemNotFoundError(f"record {identifier} not found")
        return self._feature(rows[0], now)
