"""The bridge to pygeoapi: requests handed on in the form pygeoapi reads (a CQL2 JSON filter as
a body it can read again), answers handed back with our headers, and pygeoapi's JSON documents
completed with what it does not know: the conformance classes this server implements, the
DCAT catalogue and tile matrix sets on the landing page, tilesets on each vector collection,
each collection's passport (version, dates, licence, contact, freshness, editability)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from geo_publish import freshness
from geo_publish.errors import BadRequest, UnsupportedMediaType
from geo_publish.http.asgi import Headers, replay, send_whole
from geo_publish.http.body import bounded, chunks_of
from geo_publish.serve.common import dumps
from geo_publish.serve.routes import tiles

Scope = dict[str, Any]
CQL2_JSON_TYPES = ("application/query-cql-json", "application/json")
_CONF = "http://www.opengis.net/spec/"
# what pygeoapi declares but this server does not do as pygeoapi means it (its transactions;
# ours are PART4 below, on editable collections only)
NOT_IMPLEMENTED = {_CONF + "ogcapi-features-4/1.0/conf/create-replace-delete",
                   _CONF + "ogcapi-common-3/1.0/conf/advanced-property-roles"}
# what our provider adds (Part 3 filtering, CQL2 text and JSON, basic + spatial)
IMPLEMENTED = [_CONF + "ogcapi-features-3/1.0/conf/filter",
               _CONF + "ogcapi-features-3/1.0/conf/features-filter",
               _CONF + "cql2/1.0/conf/cql2-text", _CONF + "cql2/1.0/conf/cql2-json",
               _CONF + "cql2/1.0/conf/basic-cql2",
               _CONF + "cql2/1.0/conf/advanced-comparison-operators",
               _CONF + "cql2/1.0/conf/basic-spatial-functions",
               _CONF + "cql2/1.0/conf/basic-spatial-functions-plus",
               _CONF + "cql2/1.0/conf/spatial-functions"]
# Part 4, declared when a collection is editable (manifest: editable: true)
PART4 = [_CONF + "ogcapi-features-4/1.0/conf/create-replace-delete",
         _CONF + "ogcapi-features-4/1.0/conf/update",
         _CONF + "ogcapi-features-4/1.0/conf/features"]


def _rewriting(change: Callable[[Any, dict[str, Any]], bytes]) -> Callable[..., bytes]:
    """A rewrite of pygeoapi's JSON answer: ``change`` gets the parsed document; a body that is
    not JSON passes unchanged."""

    def rewrite(self: Any, body: bytes, *args: Any) -> bytes:
        try:
            doc = json.loads(body)
        except ValueError:
            return body
        return change(self, doc, *args)

    return rewrite


class Bridge:
    def __init__(self, inner: Any, runtime: Any) -> None:
        self.inner = inner  # pygeoapi's Starlette app
        self.runtime = runtime

    # -- requests ----------------------------------------------------------------------------------
    @staticmethod
    async def cql2_body(scope: Scope, receive: Any, headers: dict[str, str],
                        max_body: int) -> tuple[Scope, Any]:
        """A POSTed CQL2 JSON filter: bounded in size, of the right type, JSON; handed on to
        pygeoapi as a body it can read again."""
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in CQL2_JSON_TYPES:
            raise UnsupportedMediaType(
                f"POST a CQL2 JSON filter as {CQL2_JSON_TYPES[0]} (got {ctype or 'no content type'})")
        body = await bounded(chunks_of(receive), headers.get("content-length"), max_body)
        try:
            doc = json.loads(body) if body.strip() else None
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            raise BadRequest("the request body must be a CQL2 JSON filter (a JSON object)")
        from pygeofilter.parsers.cql2_json import parse as parse_cql2_json

        try:
            parse_cql2_json(doc)
        except Exception as err:  # noqa: BLE001 - pygeofilter raises many kinds
            raise BadRequest(f"the body is not a CQL2 JSON filter ({' '.join(str(err).split())[:200]})") from err
        new = {**scope, "headers": [h for h in scope["headers"]
                                    if h[0].lower() not in (b"content-length", b"content-type")]
               + [(b"content-type", b"application/query-cql-json"),
                  (b"content-length", str(len(body)).encode())]}
        return new, replay(body)

    @staticmethod
    def json_filter(scope: Scope, params: list[tuple[str, str]]) -> Scope:
        """pygeoapi reads CQL2 JSON only from a request body: make this GET carry one (the
        receive side is replaced in ``forward``)."""
        body = dict(params)["filter"].encode()
        rest = [(k, v) for k, v in params if k not in ("filter", "filter-lang")]
        return {**scope, "query_string": urlencode(rest).encode(), "gp_body": body,
                "headers": [h for h in scope["headers"] if h[0].lower() not in (b"content-length", b"content-type")]
                + [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]}

    async def forward(self, scope: Scope, receive: Any, send: Any, extra: Headers,
                      rewrite: Callable[[bytes], bytes] | None) -> None:
        """pygeoapi's answer with our headers (``extra``; no ETag or caching on an error), its
        body rewritten by ``rewrite`` when given (a 200 that is not compressed)."""
        if "gp_body" in scope:
            receive = replay(scope["gp_body"])
        geojson = (scope["path"].endswith("/items") or "/items/" in scope["path"])
        if rewrite is None:
            async def add_headers(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    if geojson and message["status"] == 200:
                        message["headers"] = [
                            (k, b"application/geo+json; charset=utf-8")
                            if k.lower() == b"content-type" and v.startswith(b"application/json") else (k, v)
                            for k, v in message["headers"]]
                    if message["status"] >= 400:
                        message["headers"] = list(message["headers"]) + [
                            h for h in extra if h[0] not in (b"etag", b"cache-control")]
                    else:
                        message["headers"] = list(message["headers"]) + extra
                await send(message)

            await self.inner(scope, receive, add_headers)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def collect(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            else:
                chunks.append(message.get("body", b""))

        await self.inner(scope, receive, collect)
        body = b"".join(chunks)
        hdrs = [h for h in start.get("headers", []) if h[0].lower() != b"content-length"]
        if start.get("status") == 200 and not any(h[0].lower() == b"content-encoding" for h in hdrs):
            body = rewrite(body)
        await send_whole(send, start.get("status", 500), hdrs + extra, body)

    # -- answers -----------------------------------------------------------------------------------
    def _meta(self, cid: str | None) -> dict[str, Any]:
        return self.runtime.config.get("resources", {}).get(cid, {}).get("geo_publish") or {}

    def editable(self, cid: str | None) -> bool:
        return bool(self._meta(cid).get("editable"))

    @_rewriting
    def conformance(self, doc: dict[str, Any]) -> bytes:
        classes = [c for c in doc.get("conformsTo", []) if c not in NOT_IMPLEMENTED]
        part4 = PART4 if any(map(self.editable, self.runtime.feature_collections)) else []
        tiled = tiles.CONFORMANCE if self.runtime.feature_collections else []
        doc["conformsTo"] = sorted(set(classes) | set(IMPLEMENTED) | set(part4) | set(tiled))
        return json.dumps(doc).encode()

    @_rewriting
    def landing(self, doc: dict[str, Any]) -> bytes:
        """The landing page links the DCAT-AP catalogue, for harvesters that start there."""
        base = self.runtime.base
        doc.setdefault("links", []).extend(
            {"rel": "describedby", "type": media, "title": f"DCAT-AP catalogue ({name})",
             "href": f"{base}/catalog.{ext}"}
            for ext, name, media in (("ttl", "Turtle", "text/turtle"),
                                     ("rdf", "RDF/XML", "application/rdf+xml"),
                                     ("jsonld", "JSON-LD", "application/ld+json")))
        doc["links"].append({"rel": tiles.REL_SCHEMES, "type": "application/json",
                             "title": "Tile matrix sets", "href": f"{base}/tileMatrixSets"})
        return json.dumps(doc).encode()

    def _tile_links(self, cid: str) -> list[dict[str, Any]]:
        if cid not in self.runtime.feature_collections:
            return []
        return [{"rel": tiles.REL_VECTOR, "type": "application/json",
                 "title": "Vector tilesets (Mapbox Vector Tiles)",
                 "href": f"{self.runtime.base}/collections/{cid}/tiles"}]

    @_rewriting
    def collections(self, doc: dict[str, Any]) -> bytes:
        """Each vector collection in the list links its tilesets."""
        for c in doc.get("collections", []):
            if isinstance(c, dict) and isinstance(c.get("links"), list):
                c["links"].extend(self._tile_links(str(c.get("id"))))
        return json.dumps(doc).encode()

    def freshness(self, cid: str) -> dict[str, Any] | None:
        """fresh / due / overdue / delinquent, from the update frequency and the version's age."""
        meta = self._meta(cid)
        if not meta:
            return None
        return freshness.rate(meta.get("update_frequency"), meta.get("version_created"))

    def with_passport(self, body: bytes, cid: str) -> bytes:
        """A collection's document with its passport (when it has one)."""
        return self._add_passport(body, cid) if self._meta(cid) else body

    @_rewriting
    def _add_passport(self, doc: dict[str, Any], cid: str) -> bytes:
        meta = self._meta(cid)
        if isinstance(doc.get("links"), list):
            doc["links"].extend(self._tile_links(cid))
        doc.update({
            "version": meta.get("version"), "created": meta.get("first_published"),
            "updated": meta.get("last_modified"), "license": meta.get("license"),
            "updateFrequency": meta.get("update_frequency"), "itemCount": meta.get("feature_count"),
            "contacts": [{"name": meta.get("contact", {}).get("name"),
                          "organization": meta.get("organization"),
                          "emails": [{"value": meta["contact"]["email"]}] if meta.get("contact", {}).get("email") else [],
                          "phones": [{"value": meta["contact"]["phone"]}] if meta.get("contact", {}).get("phone") else [],
                          "roles": ["pointOfContact"]}],
            # OGC API - Features Part 4 (POST/PUT/PATCH/DELETE with a token of the owner)
            "editable": self.editable(cid),
            # fresh / due / overdue / delinquent, from the update frequency and the version's age
            "freshness": self.freshness(cid),
        })
        return dumps(doc).encode()
