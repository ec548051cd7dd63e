"""The hot path: GeoJSON items and single items answered by our provider without pygeoapi's
per-request machinery (config lookups, plugin loading, CRS objects, dict round trips).

Only the plain cases take it: GeoJSON output in the storage CRS (no ``crs``, ``bbox-crs``,
``filter-crs``, ``q``, ``lang``). ``datetime`` is answered here with its RFC 3339 meaning (a date
is its whole day); pygeoapi's own path also refuses, with 400, an instant outside the layer's
temporal extent. Everything else, and every error, goes to
pygeoapi, so the answers are the same either way (the tests compare both paths). Responses are
assembled as text: geometries come from GEOS as GeoJSON strings and are never parsed.
"""

from __future__ import annotations

import urllib.parse
from datetime import UTC, datetime
from typing import Any

from pygeoapi.provider.base import ProviderGenericError
from pygeofilter.parsers.cql2_json import parse as parse_cql2_json
from pygeofilter.parsers.cql2_text import parse as parse_cql2_text

from geo_publish.serve.common import dumps
from geo_publish.serve.provider import StoreProvider

FAST_ITEMS = {"f", "limit", "offset", "bbox", "skipGeometry", "properties", "sortby", "filter",
              "filter-lang", "resulttype", "datetime"}
FAST_ITEM = {"f"}
CRS84 = "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"


class Fallback(Exception):
    """Let pygeoapi answer this one."""


def _int(value: str | None, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise Fallback from None


def items(config: dict[str, Any], cid: str, params: list[tuple[str, str]],
          pub: Any = None) -> tuple[dict[str, str], bytes]:
    p, base, collection_link = _collection(config, cid, pub)
    args = dict(params)
    if len(args) != len(params):
        raise Fallback
    fields = p.get_fields()
    for k in args:
        if k not in FAST_ITEMS and k not in fields:
            raise Fallback
    if args.get("f", "json") != "json":
        raise Fallback
    limits = config["server"].get("limits", {})
    limit = _int(args.get("limit"), int(limits.get("default_items", 10)))
    offset = _int(args.get("offset"), 0)
    if limit < 1 or offset < 0:
        raise Fallback  # pygeoapi words the error
    limit = min(limit, int(limits.get("max_items", 10000)))
    bbox: list[float] = []
    if "bbox" in args:
        try:
            bbox = [float(v) for v in args["bbox"].split(",")]
        except ValueError:
            raise Fallback from None
        if len(bbox) not in (4, 6) or bbox[1] > bbox[3 if len(bbox) == 4 else 4]:
            raise Fallback
    sortby = []
    for s in filter(None, args.get("sortby", "").split(",")):
        order = s[0] if s[0] in "+-" else "+"
        sortby.append({"property": s.lstrip("+-"), "order": order})
    select = [s for s in args.get("properties", "").split(",") if s]
    props = [(k, v) for k, v in params if k in fields]
    filterq = None
    if "filter" in args:
        lang = args.get("filter-lang", "cql2-text")
        if lang not in ("cql2-json", "cql2-text", "cql-text"):
            raise Fallback
        try:
            filterq = (parse_cql2_json if lang == "cql2-json" else parse_cql2_text)(args["filter"])
        except Exception:  # noqa: BLE001 - a client's malformed filter: pygeoapi words it
            raise Fallback from None
    skip = args.get("skipGeometry", "false").lower() in ("true", "1", "yes")
    try:
        matched, features = p.query_text(
            offset=offset, limit=limit, resulttype=args.get("resulttype", "results"), bbox=bbox,
            properties=props, sortby=sortby, select_properties=select, skip_geometry=skip,
            filterq=filterq, datetime_=args.get("datetime") or None)
    except ProviderGenericError:
        raise Fallback from None
    uri = f"{base}/collections/{cid}/items"
    extra = "".join(f"&{urllib.parse.quote(k, safe='')}={urllib.parse.quote(str(v), safe=',')}"
                    for k, v in params if k not in ("f", "offset"))
    links = [
        {"type": "application/geo+json", "rel": "self", "title": "This document as GeoJSON",
         "href": f"{uri}?f=json{extra}"},
        {"rel": "alternate", "type": "application/ld+json", "title": "This document as RDF (JSON-LD)",
         "href": f"{uri}?f=jsonld{extra}"},
        {"type": "text/html", "rel": "alternate", "title": "This document as HTML",
         "href": f"{uri}?f=html{extra}"},
        {"type": "text/csv; charset=utf-8", "rel": "alternate", "title": "This document as CSV",
         "href": f"{uri}?f=csv{extra}"},
    ]
    if offset > 0:
        links.append({"type": "application/geo+json", "rel": "prev", "title": "Items (prev)",
                      "href": f"{uri}?offset={max(0, offset - limit)}{extra}"})
    if matched > limit + offset:
        links.append({"type": "application/geo+json", "rel": "next", "title": "Items (next)",
                      "href": f"{uri}?offset={offset + limit}{extra}"})
    links.append(collection_link)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body = (f'{{"type":"FeatureCollection","features":[{",".join(features)}],'
            f'"numberMatched":{matched},"numberReturned":{len(features)},'
            f'"links":{dumps(links)},"timeStamp":"{stamp}"}}')
    return _headers(), body.encode()


def item(config: dict[str, Any], cid: str, fid: str, params: list[tuple[str, str]],
         pub: Any = None) -> tuple[dict[str, str], bytes]:
    if any(k not in FAST_ITEM for k, _ in params) or dict(params).get("f", "json") != "json":
        raise Fallback
    p, base, collection_link = _collection(config, cid, pub)
    try:
        feature = p.get_text(urllib.parse.unquote(fid))
    except ProviderGenericError:
        raise Fallback from None
    uri = f"{base}/collections/{cid}/items/{fid}"
    links = [
        {"type": "application/json", "rel": "root", "title": "The landing page of this server as JSON",
         "href": f"{base}?f=json"},
        {"type": "text/html", "rel": "root", "title": "The landing page of this server as HTML",
         "href": f"{base}?f=html"},
        {"rel": "self", "type": "application/geo+json", "title": "This document as JSON",
         "href": f"{uri}?f=json"},
        {"rel": "alternate", "type": "application/ld+json", "title": "This document as RDF (JSON-LD)",
         "href": f"{uri}?f=jsonld"},
        {"rel": "alternate", "type": "text/html", "title": "This document as HTML", "href": f"{uri}?f=html"},
        collection_link,
    ]
    body = feature[:-1] + f',"links":{dumps(links)}}}'
    return _headers(), body.encode()


def _collection(config: dict[str, Any], cid: str, pub: Any = None) -> tuple[StoreProvider, str, dict[str, str]]:
    """The collection's provider, the server's base URL and the link back to the collection;
    ``pub``: the published version the request already looked up (not asked again)."""
    res = config["resources"][cid]
    base = config["server"]["url"].rstrip("/")
    title = res["title"].get("en", cid) if isinstance(res["title"], dict) else res["title"]
    link = {"rel": "collection", "type": "application/json", "title": title,
            "href": f"{base}/collections/{cid}"}
    return StoreProvider(res["providers"][0], published=pub), base, link


def _headers() -> dict[str, str]:
    return {"content-type": "application/geo+json; charset=utf-8", "content-crs": CRS84,
            "content-language": "en-US"}
