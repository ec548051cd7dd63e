"""What the server checks of a request before any store or pygeoapi code sees it: the query
parameters each endpoint takes (unknown ones are a 400, OGC API - Features /req/core/query-param-
unknown), their syntax (limit, offset, bbox, datetime), and request bodies.

Each check returns a one-line message naming the parameter and what it should be, or None.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

ITEMS_PARAMS = {"bbox", "bbox-crs", "crs", "f", "lang", "limit", "offset", "resulttype", "datetime",
                "sortby", "properties", "skipGeometry", "q", "filter", "filter-lang", "filter-crs"}
# pygeoapi's records provider (the catalogue) takes these; its queryables are added by the caller
RECORDS_PARAMS = {"bbox", "f", "lang", "limit", "offset", "datetime", "sortby", "q", "filter",
                  "filter-lang", "properties", "skipGeometry", "resulttype"}
RECORDS_FORMATS = ("json", "jsonld", "html")  # pygeoapi's CSV writer fails on records: not offered
CRS84_URIS = ("http://www.opengis.net/def/crs/OGC/1.3/CRS84", "http://www.opengis.net/def/crs/EPSG/0/4326",
              "EPSG:4326", "OGC:CRS84")
COVERAGE_PARAMS = {"f", "lang", "bbox", "bbox-crs", "subset", "properties", "datetime"}
BASIC_PARAMS = {"f", "lang"}
INT_PARAMS = {"limit": 1, "offset": 0}  # name -> smallest value
COLLECTION = re.compile(r"^/collections/([^/]+)(/items(/[^/]+)?|/queryables|/schema|/coverage)?/?$")

_DATE = r"\d{4}-\d{2}-\d{2}"
_INSTANT = re.compile(rf"^({_DATE})(?:[Tt ](\d{{2}}):(\d{{2}}):(\d{{2}})(\.\d+)?([Zz]|[+-]\d{{2}}:\d{{2}})?)?$")


@dataclass(frozen=True)
class Instant:
    """One end of a datetime parameter: ``at`` (UTC, naive) and how long it lasts (a date is a
    day, a timestamp a second)."""

    at: datetime
    span: timedelta

    @property
    def end(self) -> datetime:
        return self.at + self.span


def parse_instant(text: str) -> Instant:
    m = _INSTANT.match(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not an RFC 3339 date or date-time")
    day, hh, mm, ss, frac, tz = m.groups()
    d = date.fromisoformat(day)
    if hh is None:
        return Instant(datetime(d.year, d.month, d.day), timedelta(days=1))
    when = datetime.fromisoformat(f"{day}T{hh}:{mm}:{ss}{frac or ''}"
                                  f"{'+00:00' if (tz or 'Z') in 'Zz' else tz}")
    return Instant(when.astimezone(UTC).replace(tzinfo=None), timedelta(seconds=1))


def parse_datetime(value: str) -> tuple[Instant | None, Instant | None]:
    """``datetime`` (OGC API - Features): an instant, or an interval ``a/b`` with ``..`` or an
    empty string for an open end. Returns (start, end); an instant is (x, x)."""
    if "/" not in value:
        one = parse_instant(value)
        return one, one
    lo_text, _, hi_text = value.partition("/")
    lo = None if lo_text in ("", "..") else parse_instant(lo_text)
    hi = None if hi_text in ("", "..") else parse_instant(hi_text)
    if lo is None and hi is None:
        raise ValueError("an interval needs at least one end")
    if lo and hi and lo.at > hi.end:
        raise ValueError("the interval's start is after its end")
    return lo, hi


def check_values(params: list[tuple[str, str]], bbox_sizes: tuple[int, ...] = (4, 6)) -> str | None:
    """Syntax of the parameters whose meaning is the same everywhere; ``bbox_sizes``: how many
    numbers a bbox may have there (records and coverages are 2D: 4)."""
    for name, value in params:
        if name in INT_PARAMS:
            try:
                n = int(value)
            except ValueError:
                return f"{name}: {value!r} is not an integer"
            if n < INT_PARAMS[name]:
                return f"{name}: must be at least {INT_PARAMS[name]}"
        elif name == "datetime":
            try:
                parse_datetime(value)
            except ValueError as err:
                return f"datetime: {err} (an instant, or an interval such as 2024-01-01/..)"
        elif name == "q" and value and not re.search(r"[^\s,]", value):
            return "q: give at least one word to search for"
        elif name == "bbox":
            try:
                nums = [float(v) for v in value.split(",")]
            except ValueError:
                nums = []
            if len(nums) not in bbox_sizes or any(v != v or v in (float("inf"), float("-inf")) for v in nums):
                return ("bbox: 4 numbers, minx,miny,maxx,maxy" if bbox_sizes == (4,) else
                        "bbox: 4 (or 6) numbers, minx,miny,maxx,maxy")
            lo, hi = (nums[1], nums[3]) if len(nums) == 4 else (nums[1], nums[4])
            if lo > hi:
                return "bbox: its south edge is north of its north edge"
    return None


def _paging(params: dict[str, str]) -> str | None:
    """``limit`` and ``offset`` of ``/collections``: whole numbers, ``limit`` at least 1."""
    for name, least in (("limit", 1), ("offset", 0)):
        value = params.get(name)
        if value is not None and (not value.isdigit() or int(value) < least):
            return f"{name}: a whole number of at least {least} (got {value!r})"
    return None


def unknown(names: set[str], allowed: set[str]) -> str | None:
    extra = sorted(names - allowed)
    if extra:
        return (f"unknown query parameter{'s' if len(extra) > 1 else ''}: {', '.join(extra)}"
                f" (allowed: {', '.join(sorted(allowed))})")
    return None


def check_request(path: str, match: re.Match[str] | None, params: list[tuple[str, str]],
                  feature_columns: dict[str, str] | None, runtime: Any) -> str | None:
    """The parameters of a request pygeoapi answers: those its endpoint takes (a feature
    collection's items take its columns too: ``feature_columns``, None when ``path`` is not a
    published feature collection), each well formed."""
    names = {k for k, _ in params}
    cid = match.group(1) if match else None
    if match and cid not in runtime.config.get("resources", {}):
        return None  # no such collection: its 404, whatever it was asked with
    if match and match.group(2) == "/items" and cid in runtime.feature_collections:
        allowed = ITEMS_PARAMS | set(feature_columns or {})
    elif match and match.group(2) == "/items":  # not a vector collection: the catalogue's records
        allowed = RECORDS_PARAMS | runtime.record_fields(cid)
        if dict(params).get("f", "json") not in RECORDS_FORMATS:
            return (f"f: the catalogue is offered as {', '.join(RECORDS_FORMATS)}"
                    f" (not {dict(params)['f']!r})")
    elif match and match.group(2) == "/coverage":
        allowed = COVERAGE_PARAMS
        crs = dict(params).get("bbox-crs")
        if crs is not None and crs not in CRS84_URIS:
            return "bbox-crs: coverages take bbox in CRS84 (" + CRS84_URIS[0] + ")"
    elif match and match.group(3):
        allowed = BASIC_PARAMS | {"crs"}
    elif path in ("/openapi", "/api"):
        allowed = BASIC_PARAMS | {"ui"}
    elif path.rstrip("/") == "/collections":
        allowed = BASIC_PARAMS | {"limit", "offset"}
        problem = unknown(names, allowed) or _paging(dict(params))
        return problem or check_values(params, (4,))
    elif path.startswith("/static"):
        return None
    else:
        allowed = BASIC_PARAMS | ({"profile"} if match and match.group(2) else set())
    flat = match is not None and cid not in runtime.feature_collections
    return unknown(names, allowed) or check_values(params, (4,) if flat else (4, 6))
