"""``/collections`` in pages (OGC API - Common Part 2: ``limit``, and ``next``/``prev`` links).

pygeoapi describes every collection on each request to ``/collections`` (each one a provider
loaded and its metadata translated): 321 ms with 1,000 layers, seconds with 10,000. This
answers one page of them instead, through pygeoapi's own ``gen_collection`` and templates, so
the documents are the ones pygeoapi writes; a single collection is left to pygeoapi."""

from __future__ import annotations

from typing import Any

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_listed: dict[int, tuple[Any, list[str]]] = {}


def listed(api: Any) -> list[str]:
    """The ids ``/collections`` lists, in configuration order: worked out once per configuration
    (a loop over every collection, the only one: when a new configuration is installed)."""
    resources = api.config["resources"]
    kept = _listed.get(id(api))
    if kept is not None and kept[0] is resources:
        return kept[1]
    ids = [k for k, v in resources.items()
           if v.get("type") == "collection" and v.get("visibility", "default") != "hidden"]
    if len(_listed) > 8:  # earlier configurations' lists go
        _listed.clear()
    _listed[id(api)] = (resources, ids)
    return ids


def page_of(params: Any) -> tuple[int, int]:
    """(limit, offset) from the request's parameters (checked before: ``validate``)."""
    limit = int(params.get("limit") or DEFAULT_LIMIT)
    return min(max(limit, 1), MAX_LIMIT), max(int(params.get("offset") or 0), 0)


def describe_collections(api: Any, request: Any, dataset: str | None = None) -> Any:
    """pygeoapi's ``describe_collections`` for a page of collections (one: pygeoapi's own)."""
    if dataset is not None:
        return _ORIGINAL(api, request, dataset)
    from pygeoapi.linked_data import jsonldify

    return jsonldify(_page)(api, request)  # as pygeoapi's: JSON-LD needs what jsonldify sets


def _page(api: Any, request: Any) -> Any:
    from pygeoapi import l10n
    from pygeoapi.api.collection import gen_collection
    from pygeoapi.formats import F_HTML, F_JSON, F_JSONLD, FORMAT_TYPES
    from pygeoapi.linked_data import jsonldify_collection
    from pygeoapi.util import render_j2_template, to_json

    headers = request.get_response_headers(**api.api_headers)
    limit, offset = page_of(request.params)
    ids = listed(api)
    page = ids[offset:offset + limit]
    base = api.get_collections_url()
    fmt = request.format or F_JSON
    fcm: dict[str, Any] = {"collections": [], "links": [],
                           "numberMatched": len(ids), "numberReturned": len(page)}
    for k in page:
        fcm["collections"].append(gen_collection(api, request, k, request.locale))

    def href(f: str, at: int) -> str:
        return f"{base}?f={f}&limit={limit}" + (f"&offset={at}" if at else "")

    for f, title in ((F_JSON, "This document as JSON"), (F_JSONLD, "This document as RDF (JSON-LD)"),
                     (F_HTML, "This document as HTML")):
        fcm["links"].append({"type": FORMAT_TYPES[f], "rel": request.get_linkrel(f),
                             "title": l10n.translate(title, request.locale), "href": href(f, offset)})
    kind = FORMAT_TYPES.get(fmt, FORMAT_TYPES[F_JSON])
    if offset + limit < len(ids):
        fcm["links"].append({"type": kind, "rel": "next", "title": "Next page",
                             "href": href(fmt, offset + limit)})
    if offset > 0:
        fcm["links"].append({"type": kind, "rel": "prev", "title": "Previous page",
                             "href": href(fmt, max(offset - limit, 0))})
    if fmt == F_HTML:
        fcm["base_url"] = api.base_url
        fcm["collections_path"] = base
        return headers, 200, render_j2_template(api.tpl_config, api.config["server"]["templates"],
                                                "collections/index.html", fcm, request.locale)
    if fmt == F_JSONLD:
        jsonld = api.fcmld.copy()
        jsonld["dataset"] = [jsonldify_collection(api, c, request.locale) for c in fcm["collections"]]
        return headers, 200, to_json(jsonld, api.pretty_print)
    return headers, 200, to_json(fcm, api.pretty_print)


_ORIGINAL: Any = None


def install() -> None:
    """pygeoapi's starlette app calls ``pygeoapi.api.describe_collections`` by name."""
    import pygeoapi.api

    global _ORIGINAL
    if _ORIGINAL is None:
        _ORIGINAL = pygeoapi.api.describe_collections
        pygeoapi.api.describe_collections = describe_collections
