"""The served application: pygeoapi's Starlette app inside our HTTP layer.

Our layer adds what pygeoapi lacks: ETag from the published version with 304 on If-None-Match,
Cache-Control with ``Vary`` on what the answer depends on, CORS, gzip, request checks (unknown
or malformed parameters 400, methods 405, POST bodies bounded 413 and typed 415: see
``validate``), passport fields in collection metadata, the passports and public reports
(``own_routes``), and the viewer site beside the API. It is plain ASGI (no BaseHTTPMiddleware)
to keep the per-request cost small. Whatever reads the store runs on a worker thread
(``_plan``), never on the event loop; errors become responses through one table
(``serve/errors.py``).

Wired to pygeoapi by ``serve/wiring.py`` (uvicorn's factory).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from pygeoapi.provider.base import ProviderGenericError
from starlette.concurrency import run_in_threadpool

from geo_publish import freshness
from geo_publish.errors import (
    BadRequest, BodyTooLarge, GeoPublishError, MethodNotAllowed, NotFound, UnsupportedMediaType,
)
from geo_publish.passport import dcat
from geo_publish.serve import catalog, fastpath, gpkg_read, own_routes, tiles, validate
from geo_publish.serve.common import dumps
from geo_publish.serve.http import VARY, Headers, cors, exception, json_response, replay
from geo_publish.serve.errors import status_of
from geo_publish.serve.readers import reader
from geo_publish.store.location import Source
from geo_publish.serve.runtime import Runtime
from geo_publish.settings import Settings

Scope = dict[str, Any]

_COLLECTION = validate.COLLECTION
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
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


def _text(value: Any, default: str) -> str:
    """A title or description of the configuration (a text, or texts per language): English
    first."""
    if isinstance(value, dict):
        return str(value.get("en") or next(iter(value.values()), default) or default)
    return str(value) if value else default


def _none_match(headers: dict[str, str]) -> list[str]:
    """The entity tags of If-None-Match."""
    return [t.strip() for t in headers.get("if-none-match", "").split(",") if t.strip()]


@dataclass
class Plan:
    """What the synchronous part of a request decided: a complete answer, or pygeoapi's turn."""

    answer: tuple[int, Headers, bytes] | None = None
    extra: Headers = field(default_factory=list)
    rewrite: Callable[[bytes], bytes] | None = None
    scope: Scope | None = None


def _headers(scope: Scope) -> dict[str, str]:
    """A request's headers by lower-case name."""
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


# a missing page of the site, for a browser: where to go instead, in the three languages
_SITE_404 = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Not found</title><style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}
a{color:#0b57d0}</style></head><body><main>
<h1>Not found</h1>
<p>This page of the map is not here (it may belong to an older version of a layer).</p>
<p lang="ru">Такой страницы карты нет (возможно, она относилась к прежней версии слоя).</p>
<p lang="uz">Xaritaning bunday sahifasi yoʻq (u qatlamning eski versiyasiga tegishli boʻlishi mumkin).</p>
<p><a href="/site/">Map · Карта · Xarita</a></p>
</main></body></html>
"""


class GeoPublishApp:
    def __init__(self, settings: Settings, inner: Any, runtime: Runtime) -> None:
        self.settings = settings
        self.inner = inner
        self.runtime = runtime
        self.reader = reader(Source.of(settings).data, settings.server.statement_timeout)
        self.max_body = settings.server.max_body_bytes
        self.cache_control = f"public, max-age={settings.server.cache_max_age}".encode()
        from starlette.staticfiles import StaticFiles

        self.reader_key = Source.of(settings).data
        self.tile_cache = tiles.TileCache(settings.vector_tiles.cache_mb * 1_048_576)
        self._portal: Any = None
        self._catalogue: catalog.Catalogue | None = None
        # build/site is a link swapped to each new complete site; StaticFiles resolves it per request
        self.site = StaticFiles(directory=settings.path(settings.build_dir) / "site", html=True,
                                check_dir=False)

    def portal(self) -> Any:
        """The publishing portal's ASGI app, made on first use."""
        if self._portal is None:
            from geo_publish.portal.web import Portal

            self._portal = Portal(self.settings).asgi
        return self._portal

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        started = False

        async def guarded_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if message["status"] == 503:
                    message = {**message, "headers": list(message.get("headers", []))
                               + [(b"retry-after", b"5")]}
            await send(message)

        try:
            await self._handle(scope, receive, guarded_send)
        except (GeoPublishError, ProviderGenericError) as err:
            if started:
                raise
            status, code = status_of(err)
            text = getattr(err, "message", None) or str(err) or code
            answer = exception(status, code, " ".join(str(text).split()))
            extra = [(b"allow", err.allow.encode())] if isinstance(err, MethodNotAllowed) else []
            await self._send(guarded_send, answer[0], answer[1] + cors() + [VARY] + extra, answer[2])

    async def _handle(self, scope: Scope, receive: Any, send: Any) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        if path == "/publish" or path.startswith("/publish/"):
            await self.portal()(scope, receive, send)  # same-origin only: no CORS there
            return
        if method == "OPTIONS":
            await self._send(send, 204, cors() + [
                (b"access-control-allow-methods", b"GET, HEAD, POST, OPTIONS"),
                (b"access-control-allow-headers", b"Content-Type, If-None-Match, Accept, Accept-Language"),
                (b"access-control-max-age", b"86400")], b"")
            return
        if _CONTROL.search(path):  # no resource has one; pygeoapi's router would say so in plain text
            raise NotFound("no resource has a control character in its address")
        if path.startswith("/feedback/"):  # citizens' problem reports: the portal keeps them
            await self.portal()(scope, receive, send)
            return
        if path == "/site":  # relative links in the site need the trailing slash
            await self._send(send, 308, [(b"location", b"/site/")], b"")
            return
        if path.startswith("/site/"):
            if method not in ("GET", "HEAD"):
                raise MethodNotAllowed(f"{method} is not allowed on the site (GET, HEAD)", "GET, HEAD")
            await self._site(scope, receive, send, path)
            return
        match = _COLLECTION.match(path)
        is_items = bool(match and match.group(2) == "/items")
        if match and match.group(2) and match.group(2).startswith("/items") and self._editable(
                match.group(1)) and (method in ("PUT", "PATCH", "DELETE") or (
                method == "POST" and self._is_write(scope))):
            await self.portal()(scope, receive, send)  # Part 4: the portal decides who may write
            return
        if method == "POST" and is_items:
            scope, receive = await self._cql2_body(scope, receive)
        elif method not in ("GET", "HEAD"):
            allow = "GET, HEAD, POST, OPTIONS" if is_items else "GET, HEAD, OPTIONS"
            raise MethodNotAllowed(f"{method} is not allowed here (allowed: {allow})", allow)
        plan = await run_in_threadpool(self._plan, scope, match)
        if plan.answer is not None:
            status, hdrs, body = plan.answer
            await self._send(send, status, hdrs, body)
            return
        await self._forward(plan.scope or scope, receive, send, plan.extra, plan.rewrite)

    async def _site(self, scope: Scope, receive: Any, send: Any, path: str) -> None:
        """A file of the viewer site; a missing one is a 404 in the format asked for (Starlette's
        StaticFiles raises it, and nothing answered it: a 500)."""
        from starlette.exceptions import HTTPException

        try:
            await self.site({**scope, "path": path[len("/site"):], "root_path": "/site"}, receive, send)
        except HTTPException as err:
            if err.status_code != 404:
                raise
            params = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
            if not self._wants_json(params, _headers(scope)):  # a browser: a page to go on from
                body = _SITE_404.encode()
                await self._send(send, 404, [(b"content-type", b"text/html; charset=utf-8"),
                                             (b"cache-control", b"no-cache")], body)
                return
            raise NotFound(f"{path}: no such file in the map site") from None

    def catalogue(self) -> catalog.Catalogue:
        if self._catalogue is None:
            self._catalogue = catalog.Catalogue(
                self.settings, self.runtime.config.get("server", {}).get("url", ""), self.reader)
        return self._catalogue

    def _catalog(self, path_ext: str | None, scope: Scope,
                 headers: dict[str, str]) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """A page of the DCAT-AP catalogue in the serialisation asked for."""
        params: dict[str, list[str]] = {}
        for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True):
            params.setdefault(k, []).append(v)
        problem = validate.unknown(set(params), catalog.PARAMS)
        if problem:
            raise BadRequest(problem)
        ext = catalog.negotiate(path_ext, {k: v[-1] for k, v in params.items()},
                                headers.get("accept", ""))
        body = self.catalogue().page(ext, catalog.parse_page(params.get("page", [])), path_ext)
        media = dcat.SERIALISATIONS[ext][1]
        # a harvester (or a shared cache) that asks again with the page's tag is told "unchanged"
        etag = 'W/"' + hashlib.sha1(body).hexdigest()[:20] + '"'
        cache = [(b"etag", etag.encode()), (b"cache-control", self.cache_control)] + cors() + [VARY]
        if etag in _none_match(headers):
            return 304, cache, b""
        return 200, [(b"content-type", f"{media}; charset=utf-8".encode())] + cache, body

    # -- OGC API - Tiles (serve/tiles.py) ----------------------------------------------------------
    @staticmethod
    def _params(scope: Scope, allowed: set[str], formats: tuple[str, ...]) -> dict[str, str]:
        params = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        problem = validate.unknown({k for k, _ in params}, allowed)
        if problem:
            raise BadRequest(problem)
        found = dict(params)
        if found.get("f", formats[0]) not in formats:
            raise BadRequest(f"f: offered here as {', '.join(formats)} (not {found['f']!r})")
        return found

    def _base(self) -> str:
        return str(self.runtime.config.get("server", {}).get("url", "")).rstrip("/")

    def _tile_matrix_sets(self, tms: str | None, scope: Scope) -> tuple[int, Headers, bytes]:
        self._params(scope, tiles.METADATA_PARAMS, ("json",))
        doc = tiles.tile_matrix_set(tms) if tms else tiles.tile_matrix_sets(self._base())
        status, hdrs, body = json_response(200, dumps(doc))
        return status, hdrs + [(b"cache-control", self.cache_control)] + cors() + [VARY], body

    def _tiles(self, m: re.Match[str], scope: Scope,
               headers: dict[str, str]) -> tuple[int, Headers, bytes]:
        """The tilesets of a vector collection, one tileset's metadata, or one tile."""
        cid, tms, z, row, col = m.groups()
        params = self._params(scope, tiles.TILE_PARAMS if z else tiles.METADATA_PARAMS,
                              ("mvt",) if z else ("json", "tilejson") if tms else ("json",))
        if cid not in self.runtime.feature_collections:
            raise NotFound(f"no vector collection {cid!r}: tiles are cut from vector collections")
        pub = self.reader.published(cid)
        if pub is None:
            raise NotFound(f"no published collection {cid!r}")
        s = tiles.scheme(tms) if tms else None
        at = tiles.address(s, z, row, col) if s and z is not None else None
        common = cors() + [VARY]
        etag = self._etag(scope["path"], scope.get("query_string", b"").decode("latin-1"),
                          headers, cid, pub)
        cache = [(b"etag", etag.encode()), (b"cache-control", self.cache_control)]
        tags = _none_match(headers)
        if etag in tags or "*" in tags:
            return 304, common + cache, b""
        resource = self.runtime.config["resources"][cid]
        meta = resource.get("geo_publish") or {}
        fields = list(meta.get("tile_fields") or [])
        vt = self.settings.vector_tiles
        if at is not None and s is not None and s.mercator and at[0] <= vt.full_zoom \
                and pub.feature_count >= vt.site_threshold:
            stored = self._from_archive(cid, pub.version, fields, at, headers)
            if stored is not None:
                body, encoding = stored
                if not body:
                    return 204, common + cache, b""
                return 200, [(b"content-type", tiles.MVT.encode())] + encoding + common + cache, body
        if at is not None and s is not None:
            key = (self.reader_key, pub.table, s.id, *at, tuple(fields), vt.full_zoom)
            body = self.tile_cache.get(key)
            if body is None:
                body = tiles.cut(self.reader, self.reader.table(pub.table), fields, cid, s, *at,
                                 vt.full_zoom, vt.max_features) or b""
                self.tile_cache.put(key, body)
            if not body:
                return 204, common + cache, b""
            return 200, [(b"content-type", tiles.MVT.encode())] + common + cache, body
        title, description = _text(resource.get("title"), cid), _text(resource.get("description"), "")
        if s is None:
            doc = tiles.tilesets(self._base(), cid, title)
        elif params.get("f") == "tilejson":
            doc = tiles.tilejson(self._base(), cid, title, description, s, pub,
                                 self.reader.table(pub.table), fields, vt.full_zoom,
                                 self.settings.server.tiles_attribution)
        else:
            doc = tiles.tileset(self._base(), cid, title, description, s, pub,
                                self.reader.table(pub.table), fields, vt.full_zoom)
        status, hdrs, body = json_response(200, dumps(doc))
        return status, hdrs + common + cache, body

    def _from_archive(self, cid: str, version: int, fields: list[str], at: tuple[int, int, int],
                      headers: dict[str, str]) -> tuple[bytes, Headers] | None:
        """A tile from the version's PMTiles archive in the site (gzip as stored, or inflated
        for a client that does not take gzip); None when the site has no archive for it."""
        import gzip

        name = tiles.archive_name(cid, version, fields, self.settings.vector_tiles.full_zoom)
        found = tiles.archive(str(self.settings.path(self.settings.build_dir) / "site" / "data" / name))
        if found is None:
            return None
        z, row, col = at
        data = found.get(z, col, row)
        if data is None:
            return b"", []
        if "gzip" in headers.get("accept-encoding", ""):
            return data, [(b"content-encoding", b"gzip")]
        return gzip.decompress(data), []

    def _editable(self, cid: str | None) -> bool:
        meta = self.runtime.config.get("resources", {}).get(cid, {}).get("geo_publish") or {}
        return bool(meta.get("editable"))

    @staticmethod
    def _is_write(scope: Scope) -> bool:
        """A POST on items that creates a feature (Part 4) rather than a CQL2 JSON query: it
        carries credentials, or a GeoJSON body, or goes to one item."""
        headers = dict(scope["headers"])
        ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        return (b"authorization" in headers or ctype == b"application/geo+json"
                or not scope["path"].rstrip("/").endswith("/items"))

    async def _cql2_body(self, scope: Scope, receive: Any) -> tuple[Scope, Any]:
        """A POSTed CQL2 JSON filter: bounded in size, of the right type, JSON; handed on to
        pygeoapi as a body it can read again."""
        headers = _headers(scope)
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in CQL2_JSON_TYPES:
            raise UnsupportedMediaType(
                f"POST a CQL2 JSON filter as {CQL2_JSON_TYPES[0]} (got {ctype or 'no content type'})")
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            raise BodyTooLarge(f"the request body is larger than {self.max_body:,} bytes")
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise BodyTooLarge(f"the request body is larger than {self.max_body:,} bytes")
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
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

    def _plan(self, scope: Scope, match: re.Match[str] | None) -> Plan:
        """Everything that reads the store before pygeoapi: runs on a worker thread, so a slow
        store never stalls the event loop."""
        path: str = scope["path"]
        method: str = scope["method"]
        headers = _headers(scope)
        common = cors() + [VARY]
        cat = catalog.PATH.match(path)
        if cat:
            return Plan(self._catalog(cat.group(1), scope, headers))
        tms = tiles.TMS_PATH.match(path)
        if tms:
            return Plan(self._tile_matrix_sets(tms.group(1), scope))
        tile = tiles.TILES_PATH.match(path)
        if tile:
            return Plan(self._tiles(tile, scope, headers))
        own = own_routes.PATH.match(path)
        if own:
            kind, cid, ext = own.groups()
            found = None
            known = (kind, ext) in own_routes.KINDS or (kind == "passports" and ext in dcat.SERIALISATIONS)
            if kind == "passports" and ext in dcat.SERIALISATIONS:
                rdf = self.catalogue().one(cid, ext)
                found = (dcat.SERIALISATIONS[ext][1], rdf.decode()) if rdf is not None else None
            elif known:
                found = own_routes.document(self.reader, kind, cid, ext)
            if found is None:
                status, hdrs, body = exception(404, "NotFound", f"no published collection {cid!r}"
                                                if known else "not found")
            else:
                status, hdrs, body = json_response(200, found[1], found[0])
            return Plan((status, hdrs + common, body))

        query = scope.get("query_string", b"").decode("latin-1")
        params = parse_qsl(query, keep_blank_values=True)
        feature_cid = match.group(1) if match and match.group(1) in self.runtime.feature_collections else None
        pub = self.reader.published(feature_cid) if feature_cid else None
        problem = self._check_params(path, match, pub, params)
        if problem:
            status, hdrs, body = exception(400, "InvalidParameterValue", problem)
            return Plan((status, hdrs + common, body))

        new_scope = None
        if match and match.group(2) == "/items" and dict(params).get("filter-lang") == "cql2-json" \
                and "filter" in dict(params) and method != "POST":
            new_scope = self._json_filter(scope, params)
        etag = None
        if method in ("GET", "HEAD"):
            etag = self._etag(path, query, headers, feature_cid, pub,
                              # a collection's document says how fresh it is: a new state (and
                              # age) is a new representation
                              self._freshness(match.group(1)) if match and match.group(2) is None else None)
            if pub is not None and match and match.group(3) and self._editable(feature_cid):
                # a strong ETag from the feature itself: what If-Match on a write is checked against
                from geo_publish.store.features import served_etag

                provider = self.runtime.config["resources"][feature_cid]["providers"][0]
                etag = served_etag(self.reader, pub.table, provider.get("id_field"),
                                   match.group(3)[1:]) or etag
            tags = _none_match(headers)
            # "*" matches any current representation: only where the resource is known to exist
            star = "*" in tags and feature_cid is not None and pub is not None and not (
                match and match.group(3))
            if etag and (star or etag in tags):
                return Plan((304, common + [(b"etag", etag.encode()),
                                          (b"cache-control", self.cache_control)], b""))
        extra = list(common)
        if etag:
            extra += [(b"etag", etag.encode()), (b"cache-control", self.cache_control)]
        if (method == "GET" and feature_cid and match and match.group(2)
                and match.group(2).startswith("/items") and self._wants_json(params, headers)):
            try:
                cfg = self.runtime.config
                if match.group(3):
                    hdrs, body = fastpath.item(cfg, match.group(1), match.group(3)[1:], params, pub)
                else:
                    hdrs, body = fastpath.items(cfg, match.group(1), params, pub)
            except fastpath.Fallback:
                pass
            else:
                return Plan((200, [(k.encode(), v.encode()) for k, v in hdrs.items()] + extra, body))
        rewrite = None
        if method == "GET" and path.rstrip("/") == "/conformance":
            rewrite = self._conformance
        elif method == "GET" and path in ("", "/") and self._wants_json(params, headers):
            rewrite = self._landing
        elif method == "GET" and path.rstrip("/") == "/collections" and self._wants_json(params, headers):
            rewrite = self._collections
        elif method == "GET" and match and match.group(2) is None and self._wants_json(params, headers):
            cid = match.group(1)
            rewrite = lambda body: self._with_passport(cid, body)  # noqa: E731
        return Plan(None, extra, rewrite, new_scope)

    # -- pieces ------------------------------------------------------------------------------------
    @staticmethod
    async def _send(send: Any, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        await send({"type": "http.response.start", "status": status,
                    "headers": headers + [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    def _wants_json(params: list[tuple[str, str]], headers: dict[str, str]) -> bool:
        f = dict(params).get("f")
        if f:
            return f == "json"
        accept = headers.get("accept", "")
        return "html" not in accept.split(",")[0]

    def _check_params(self, path: str, match: re.Match[str] | None, pub: gpkg_read.Published | None,
                      params: list[tuple[str, str]]) -> str | None:
        names = {k for k, _ in params}
        cid = match.group(1) if match else None
        if match and match.group(2) == "/items" and cid in self.runtime.feature_collections:
            fields = self.reader.table(pub.table).columns if pub else {}
            allowed = validate.ITEMS_PARAMS | set(fields)
        elif match and match.group(2) == "/items" and cid in self.runtime.config.get("resources", {}):
            allowed = validate.RECORDS_PARAMS | self.runtime.record_fields(cid)
            if dict(params).get("f", "json") not in validate.RECORDS_FORMATS:
                return (f"f: the catalogue is offered as {', '.join(validate.RECORDS_FORMATS)}"
                        f" (not {dict(params)['f']!r})")
        elif match and match.group(2) == "/coverage":
            allowed = validate.COVERAGE_PARAMS
            crs = dict(params).get("bbox-crs")
            if crs is not None and crs not in validate.CRS84_URIS:
                return "bbox-crs: coverages take bbox in CRS84 (" + validate.CRS84_URIS[0] + ")"
        elif match and match.group(3):
            allowed = validate.BASIC_PARAMS | {"crs"}
        elif path in ("/openapi", "/api"):
            allowed = validate.BASIC_PARAMS | {"ui"}
        elif path.startswith("/static"):
            return None
        else:
            allowed = validate.BASIC_PARAMS | ({"profile"} if match and match.group(2) else set())
        flat = match is not None and cid not in self.runtime.feature_collections
        return validate.unknown(names, allowed) or validate.check_values(
            params, (4,) if flat else (4, 6))

    def _etag(self, path: str, query: str, headers: dict[str, str], feature_cid: str | None,
              pub: gpkg_read.Published | None, fresh: dict[str, Any] | None = None) -> str | None:
        if path.startswith("/static"):
            token = "static"
        elif feature_cid:
            token = f"{feature_cid}:{pub.version if pub else 0}:{self.runtime.generation}"
        else:
            token = self.runtime.generation
        if fresh is not None:
            token += "|" + json.dumps(fresh, sort_keys=True)
        key = "|".join([token, path, query, headers.get("accept", ""),
                        headers.get("accept-language", ""),
                        "gzip" if "gzip" in headers.get("accept-encoding", "") else ""])
        return 'W/"' + hashlib.sha1(key.encode()).hexdigest()[:20] + '"'

    async def _forward(self, scope: Scope, receive: Any, send: Any,
                       extra: list[tuple[bytes, bytes]], rewrite: Callable[[bytes], bytes] | None) -> None:
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
        await self._send(send, start.get("status", 500), hdrs + extra, body)

    @staticmethod
    def _json_filter(scope: Scope, params: list[tuple[str, str]]) -> Scope:
        """pygeoapi reads CQL2 JSON only from a request body: make this GET carry one (the
        receive side is replaced in ``_forward``)."""
        from urllib.parse import urlencode

        body = dict(params)["filter"].encode()
        rest = [(k, v) for k, v in params if k not in ("filter", "filter-lang")]
        return {**scope, "query_string": urlencode(rest).encode(), "gp_body": body,
                "headers": [h for h in scope["headers"] if h[0].lower() not in (b"content-length", b"content-type")]
                + [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]}

    def _conformance(self, body: bytes) -> bytes:
        try:
            doc = json.loads(body)
        except ValueError:
            return body
        classes = [c for c in doc.get("conformsTo", []) if c not in NOT_IMPLEMENTED]
        part4 = PART4 if any(map(self._editable, self.runtime.feature_collections)) else []
        tiled = tiles.CONFORMANCE if self.runtime.feature_collections else []
        doc["conformsTo"] = sorted(set(classes) | set(IMPLEMENTED) | set(part4) | set(tiled))
        return json.dumps(doc).encode()

    def _landing(self, body: bytes) -> bytes:
        """The landing page links the DCAT-AP catalogue, for harvesters that start there."""
        try:
            doc = json.loads(body)
        except ValueError:
            return body
        base = self.runtime.config.get("server", {}).get("url", "")
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
                 "href": f"{self._base()}/collections/{cid}/tiles"}]

    def _collections(self, body: bytes) -> bytes:
        """Each vector collection in the list links its tilesets."""
        try:
            doc = json.loads(body)
        except ValueError:
            return body
        for c in doc.get("collections", []):
            if isinstance(c, dict) and isinstance(c.get("links"), list):
                c["links"].extend(self._tile_links(str(c.get("id"))))
        return json.dumps(doc).encode()

    def _freshness(self, cid: str) -> dict[str, Any] | None:
        """fresh / due / overdue / delinquent, from the update frequency and the version's age."""
        meta = self.runtime.config.get("resources", {}).get(cid, {}).get("geo_publish")
        if not meta:
            return None
        return freshness.rate(meta.get("update_frequency"), meta.get("version_created"))

    def _with_passport(self, cid: str, body: bytes) -> bytes:
        meta = self.runtime.config.get("resources", {}).get(cid, {}).get("geo_publish")
        if not meta:
            return body
        try:
            doc = json.loads(body)
        except ValueError:
            return body
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
            "editable": bool(meta.get("editable")),
            # fresh / due / overdue / delinquent, from the update frequency and the version's age
            "freshness": self._freshness(cid),
        })
        return dumps(doc).encode()
