"""The served application: pygeoapi's Starlette app inside our HTTP layer.

Our layer adds what pygeoapi lacks: ETag from the published version with 304 on If-None-Match
(``caching``), Cache-Control with ``Vary`` on what the answer depends on, CORS, gzip, request
checks (unknown or malformed parameters 400, methods 405, POST bodies bounded 413 and typed 415:
``validate``), its own routes (``routes/``: tiles, the DCAT catalogue, passports and reports),
passport fields in pygeoapi's documents (``pygeoapi/bridge.py``), the viewer site beside the
API, and the portal (``/publish/``, citizens' reports, Part 4 writes). It is plain ASGI (no
BaseHTTPMiddleware) to keep the per-request cost small. Whatever reads the store runs on a
worker thread (``_plan``), never on the event loop; errors become responses through one table
(``http/errors.py``).

Wired to pygeoapi by ``serve/wiring.py`` (uvicorn's factory).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from pygeoapi.provider.base import ProviderGenericError
from starlette.concurrency import run_in_threadpool

from geo_publish.errors import GeoPublishError, MethodNotAllowed, NotFound, NotReady
from geo_publish.http import negotiate
from geo_publish.http.asgi import VARY, Headers, cors, exception, headers_of, none_match, send_whole
from geo_publish.http.errors import describe
from geo_publish.read.readers import reader
from geo_publish.serve import caching, fastpath, validate
from geo_publish.serve.pygeoapi.bridge import Bridge
from geo_publish.serve.routes import catalog, documents, tiles
from geo_publish.serve.pygeoapi.runtime import Runtime
from geo_publish.settings import Settings
from geo_publish.store.location import Source

Scope = dict[str, Any]
Answer = tuple[int, Headers, bytes]

_COLLECTION = validate.COLLECTION
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass
class Plan:
    """What the synchronous part of a request decided: a complete answer, or pygeoapi's turn."""

    answer: Answer | None = None
    extra: Headers = field(default_factory=list)
    rewrite: Callable[[bytes], bytes] | None = None
    scope: Scope | None = None


def _wants_json(params: list[tuple[str, str]], headers: dict[str, str]) -> bool:
    return negotiate.chosen(dict(params).get("f"), headers.get("accept", "")) == "json"


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

# the site before its first build is complete (serve answers the API meanwhile): come back soon
_SITE_503 = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="5">
<title>The map is being built</title><style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}
a{color:#0b57d0}</style></head><body><main>
<h1>The map is being built</h1>
<p>The server has just started and is making the map. This page opens it by itself in a few seconds.</p>
<p lang="ru">Сервер только что запущен и готовит карту. Эта страница откроет её сама через несколько секунд.</p>
<p lang="uz">Server hozirgina ishga tushdi va xaritani tayyorlamoqda. Bu sahifa uni bir necha soniyada oʻzi ochadi.</p>
<p><a href="/">API</a></p>
</main></body></html>
"""


class GeoPublishApp:
    def __init__(self, settings: Settings, inner: Any, runtime: Runtime) -> None:
        from starlette.staticfiles import StaticFiles

        self.settings = settings
        self.runtime = runtime
        self.bridge = Bridge(inner, runtime)
        self.reader = reader(Source.of(settings).data, settings.server.statement_timeout)
        self.max_body = settings.server.max_body_bytes
        self.cache_control = f"public, max-age={settings.server.cache_max_age}".encode()
        self.tiles = tiles.TileRoutes(settings, runtime, self.reader, Source.of(settings).data,
                                      self.cache_control)
        self._portal: Any = None
        self._catalogue: catalog.Catalogue | None = None
        # build/site is a link to the site (a new complete one is swapped in); StaticFiles
        # resolves it per request
        self.site_link = settings.path(settings.build_dir) / "site"
        self.site = StaticFiles(directory=self.site_link, html=True, check_dir=False)
        # the server's own routes, answered whole on a worker thread: (path, answer)
        self.routes: list[tuple[re.Pattern[str], Callable[[re.Match[str], Scope, dict[str, str]], Answer]]] = [
            (catalog.PATH, lambda m, scope, headers: catalog.answer(
                self.catalogue(), m.group(1), scope.get("query_string", b"").decode("latin-1"),
                headers, self.cache_control)),
            (tiles.TMS_PATH, self.tiles.matrix_sets),
            (tiles.TILES_PATH, self.tiles.tiles),
            (documents.PATH, lambda m, scope, headers: documents.answer(self.reader, self.catalogue(), m)),
        ]

    def portal(self) -> Any:
        """The publishing portal's ASGI app, made on first use."""
        if self._portal is None:
            from geo_publish.portal.app import Portal

            self._portal = Portal(self.settings).asgi
        return self._portal

    def catalogue(self) -> catalog.Catalogue:
        if self._catalogue is None:
            self._catalogue = catalog.Catalogue(
                self.settings, self.runtime.base, self.reader)
        return self._catalogue

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.bridge.inner(scope, receive, send)
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
            status, code, text = describe(err)
            answer = exception(status, code, text)
            extra = [(b"allow", err.allow.encode())] if isinstance(err, MethodNotAllowed) else []
            await send_whole(guarded_send, answer[0], answer[1] + cors() + [VARY] + extra, answer[2])

    async def _handle(self, scope: Scope, receive: Any, send: Any) -> None:
        """Who answers: the portal (its pages, citizens' reports, Part 4 writes), the site, our
        own routes, or pygeoapi (after our checks)."""
        path: str = scope["path"]
        method: str = scope["method"]
        if path == "/publish" or path.startswith("/publish/"):
            await self.portal()(scope, receive, send)  # same-origin only: no CORS there
            return
        if method == "OPTIONS":
            await send_whole(send, 204, cors() + [
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
            await send_whole(send, 308, [(b"location", b"/site/")], b"")
            return
        if path.startswith("/site/"):
            if method not in ("GET", "HEAD"):
                raise MethodNotAllowed(f"{method} is not allowed on the site (GET, HEAD)", "GET, HEAD")
            await self._site(scope, receive, send, path)
            return
        match = _COLLECTION.match(path)
        is_items = bool(match and match.group(2) == "/items")
        if self._is_part4(scope, match):
            await self.portal()(scope, receive, send)  # Part 4: the portal decides who may write
            return
        if method == "POST" and is_items:
            scope, receive = await self.bridge.cql2_body(scope, receive, headers_of(scope), self.max_body)
        elif method not in ("GET", "HEAD"):
            allow = "GET, HEAD, POST, OPTIONS" if is_items else "GET, HEAD, OPTIONS"
            raise MethodNotAllowed(f"{method} is not allowed here (allowed: {allow})", allow)
        plan = await run_in_threadpool(self._plan, scope, match)
        if plan.answer is not None:
            await send_whole(send, *plan.answer)
            return
        await self.bridge.forward(plan.scope or scope, receive, send, plan.extra, plan.rewrite)

    def _is_part4(self, scope: Scope, match: re.Match[str] | None) -> bool:
        """A write to an editable collection's items (OGC API - Features Part 4): PUT, PATCH or
        DELETE, or a POST that creates a feature rather than a CQL2 JSON query (it carries
        credentials, or a GeoJSON body, or goes to one item)."""
        if not (match and match.group(2) and match.group(2).startswith("/items")
                and self.bridge.editable(match.group(1))):
            return False
        if scope["method"] in ("PUT", "PATCH", "DELETE"):
            return True
        if scope["method"] != "POST":
            return False
        headers = dict(scope["headers"])
        ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        return (b"authorization" in headers or ctype == b"application/geo+json"
                or not scope["path"].rstrip("/").endswith("/items"))

    async def _site(self, scope: Scope, receive: Any, send: Any, path: str) -> None:
        """A file of the viewer site; a missing one is a 404 in the format asked for (Starlette's
        StaticFiles raises it, and nothing answered it: a 500). Before the first site is
        complete (the site builder makes it while the API already answers): a 503 to retry."""
        from starlette.exceptions import HTTPException

        if not self.site_link.exists():
            params = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
            if not _wants_json(params, headers_of(scope)):  # a browser: a page that comes back
                await send_whole(send, 503, [(b"content-type", b"text/html; charset=utf-8"),
                                             (b"cache-control", b"no-store")], _SITE_503.encode())
                return
            raise NotReady("the map site is being built (the server has just started); "
                           "try again in a few seconds")
        # file names that change with their content (static/viewer.<digest>.js, vendor/<name>-<version>/)
        # are kept a year by browsers and shared caches; every other file is asked again each time
        # (an ETag makes that a 304): a page names the current version's data
        lasting = path.startswith(("/site/static/", "/site/vendor/"))
        policy = b"public, max-age=31536000, immutable" if lasting else b"no-cache"

        async def with_policy(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and message["status"] in (200, 304):
                message = {**message, "headers": [*message.get("headers", []), (b"cache-control", policy)]}
            await send(message)

        try:
            if any(part.startswith(".") for part in path.split("/")):
                # the builder's records beside the pages (.state, .layers.json, their log), and
                # files being written (.<name>.<pid>): not the site's
                raise HTTPException(404)
            await self.site({**scope, "path": path[len("/site"):], "root_path": "/site"}, receive, with_policy)
        except HTTPException as err:
            if err.status_code != 404:
                raise
            params = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
            if not _wants_json(params, headers_of(scope)):  # a browser: a page to go on from
                await send_whole(send, 404, [(b"content-type", b"text/html; charset=utf-8"),
                                             (b"cache-control", b"no-cache")], _SITE_404.encode())
                return
            raise NotFound(f"{path}: no such file in the map site") from None

    def _plan(self, scope: Scope, match: re.Match[str] | None) -> Plan:
        """Everything that reads the store before pygeoapi: runs on a worker thread, so a slow
        store never stalls the event loop."""
        path: str = scope["path"]
        method: str = scope["method"]
        headers = headers_of(scope)
        for pattern, answer in self.routes:
            found = pattern.match(path)
            if found:
                return Plan(answer(found, scope, headers))

        common = cors() + [VARY]
        query = scope.get("query_string", b"").decode("latin-1")
        params = parse_qsl(query, keep_blank_values=True)
        feature_cid = match.group(1) if match and match.group(1) in self.runtime.feature_collections else None
        pub = self.reader.published(feature_cid) if feature_cid else None
        columns = self.reader.table(pub.table).columns if pub and match and match.group(2) == "/items" else None
        problem = validate.check_request(path, match, params, columns, self.runtime)
        if problem:
            status, hdrs, body = exception(400, "InvalidParameterValue", problem)
            return Plan((status, hdrs + common, body))

        new_scope = None
        if match and match.group(2) == "/items" and dict(params).get("filter-lang") == "cql2-json" \
                and "filter" in dict(params) and method != "POST":
            new_scope = self.bridge.json_filter(scope, params)
        etag = None
        if method in ("GET", "HEAD"):
            etag = caching.etag(self.runtime.generation, path, query, headers, feature_cid, pub,
                                # a collection's document says how fresh it is: a new state (and
                                # age) is a new representation
                                self.bridge.freshness(match.group(1)) if match and match.group(2) is None else None)
            if pub is not None and match and match.group(3) and self.bridge.editable(feature_cid):
                # a strong ETag from the feature itself: what If-Match on a write is checked against
                from geo_publish.store.features import served_etag

                provider = self.runtime.config["resources"][feature_cid]["providers"][0]
                etag = served_etag(self.reader, pub.table, provider.get("id_field"),
                                   match.group(3)[1:]) or etag
            tags = none_match(headers)
            # "*" matches any current representation: only where the resource is known to exist
            star = "*" in tags and feature_cid is not None and pub is not None and not (
                match and match.group(3))
            if etag and (star or etag in tags):
                return Plan((304, common + [(b"etag", etag.encode()),
                                          (b"cache-control", self.cache_control)], b""))
        extra = list(common)
        if etag:
            extra += [(b"etag", etag.encode()), (b"cache-control", self.cache_control)]
        wants_json = _wants_json(params, headers)
        if (method == "GET" and feature_cid and match and match.group(2)
                and match.group(2).startswith("/items") and wants_json):
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
        if path in ("/openapi", "/api"):  # made when first asked for (Runtime.openapi)
            import pygeoapi.starlette_app as sa

            api = sa.api_
            if not api.openapi:
                api.openapi = self.runtime.openapi()
        rewrite = None
        if method == "GET" and path.rstrip("/") == "/conformance":
            rewrite = self.bridge.conformance
        elif method == "GET" and path in ("", "/") and wants_json:
            rewrite = self.bridge.landing
        elif method == "GET" and path.rstrip("/") == "/collections" and wants_json:
            rewrite = self.bridge.collections
        elif method == "GET" and match and match.group(2) is None and wants_json:
            cid = match.group(1)
            rewrite = lambda body: self.bridge.with_passport(body, cid)  # noqa: E731
        return Plan(None, extra, rewrite, new_scope)
