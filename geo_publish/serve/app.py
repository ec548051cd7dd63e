"""The served application: pygeoapi's Starlette app inside our HTTP layer.

Our layer adds what pygeoapi lacks: ETag from the published version with 304 on If-None-Match,
Cache-Control, CORS, gzip, 400 for unknown query parameters, passport fields in collection
metadata, the passports (JSON, DCAT JSON-LD) and validation reports, and the viewer site beside
the API. It is plain ASGI (no BaseHTTPMiddleware) to keep the per-request cost small.

Run by ``geo-publish serve`` as ``uvicorn --factory geo_publish.serve.app:create_app``; the
config file comes from ``GEO_PUBLISH_CONFIG``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from pygeoapi.provider.base import ProviderConnectionError

from geo_publish.serve import fastpath, gpkg_read
from geo_publish.serve import readers
from geo_publish.serve.readers import Source, reader
from geo_publish.serve.common import dumps
from geo_publish.serve.runtime import Runtime, patch_pygeoapi, write_build
from geo_publish.settings import Settings, load_settings

Scope = dict[str, Any]

ITEMS_PARAMS = {"bbox", "bbox-crs", "crs", "f", "lang", "limit", "offset", "resulttype", "datetime",
                "sortby", "properties", "skipGeometry", "q", "filter", "filter-lang", "filter-crs"}
BASIC_PARAMS = {"f", "lang"}
_COLLECTION = re.compile(r"^/collections/([^/]+)(/items(/[^/]+)?|/queryables|/schema|/coverage)?/?$")
COVERAGE_PARAMS = {"f", "lang", "bbox", "bbox-crs", "subset", "properties", "datetime"}
_OWN = re.compile(r"^/(passports|reports)/([a-z0-9_-]+)\.(json|jsonld|html)$")
MAX_AGE = 60
_CONF = "http://www.opengis.net/spec/"
# what pygeoapi declares but this server does not do (no transactions here)
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


def _json_response(status: int, body: dict[str, Any] | str, ctype: str = "application/json") -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    data = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    return status, [(b"content-type", f"{ctype}; charset=utf-8".encode())], data.encode()


def _exception(status: int, code: str, description: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    return _json_response(status, {"code": code, "type": code, "description": description})


class GeoPublishApp:
    def __init__(self, settings: Settings, inner: Any, runtime: Runtime) -> None:
        self.settings = settings
        self.inner = inner
        self.runtime = runtime
        self.reader = reader(Source.of(settings).data)
        from starlette.staticfiles import StaticFiles

        # the site may be (re)built after start: no directory check here
        self.site = StaticFiles(directory=settings.path(settings.build_dir) / "site", html=True,
                                check_dir=False)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        started = False

        async def guarded_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if message["status"] == 500 and readers.recently_unavailable():
                    # pygeoapi answers a lost database with 500; it is an outage: 503
                    message = {**message, "status": 503,
                               "headers": list(message.get("headers", [])) + [(b"retry-after", b"5")]}
            await send(message)

        try:
            await self._handle(scope, receive, guarded_send)
        except (readers.StoreUnavailable, ProviderConnectionError) as err:
            if started:
                raise
            status, hdrs, body = _exception(503, "ServiceUnavailable", f"store unavailable: {err}")
            await self._send(send, status, hdrs + [(b"retry-after", b"5"),
                                                   (b"access-control-allow-origin", b"*")], body)

    async def _handle(self, scope: Scope, receive: Any, send: Any) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        cors = [(b"access-control-allow-origin", b"*"),
                (b"access-control-expose-headers", b"ETag, Content-Crs, Link")]
        if method == "OPTIONS":
            await self._send(send, 204, cors + [
                (b"access-control-allow-methods", b"GET, HEAD, POST, OPTIONS"),
                (b"access-control-allow-headers", b"Content-Type, If-None-Match, Accept, Accept-Language"),
                (b"access-control-max-age", b"86400")], b"")
            return
        if path == "/site":  # relative links in the site need the trailing slash
            await self._send(send, 308, [(b"location", b"/site/")], b"")
            return
        if path.startswith("/site/"):
            scope = {**scope, "path": path[len("/site"):], "root_path": "/site"}
            await self.site(scope, receive, send)
            return
        own = _OWN.match(path)
        if own and method in ("GET", "HEAD"):
            status, hdrs, body = self._own(*own.groups())
            await self._send(send, status, hdrs + cors, body)
            return

        query = scope.get("query_string", b"").decode("latin-1")
        params = parse_qsl(query, keep_blank_values=True)
        match = _COLLECTION.match(path)
        feature_cid = match.group(1) if match and match.group(1) in self.runtime.feature_collections else None
        pub = self.reader.published(feature_cid) if feature_cid else None
        problem = self._check_params(path, match, pub, params) if method in ("GET", "HEAD") else None
        if problem:
            status, hdrs, body = _exception(400, "InvalidParameterValue", problem)
            await self._send(send, status, hdrs + cors, body)
            return

        if match and match.group(2) == "/items" and dict(params).get("filter-lang") == "cql2-json" \
                and "filter" in dict(params):
            scope, receive = self._json_filter(scope, params)
        etag = None
        if method in ("GET", "HEAD"):
            etag = self._etag(path, query, headers, feature_cid, pub)
            inm = headers.get("if-none-match")
            if etag and inm and (inm.strip() == "*" or etag in [t.strip() for t in inm.split(",")]):
                await self._send(send, 304, cors + [(b"etag", etag.encode()),
                                                    (b"cache-control", f"public, max-age={MAX_AGE}".encode())], b"")
                return
        extra = list(cors)
        if etag:
            extra += [(b"etag", etag.encode()), (b"cache-control", f"public, max-age={MAX_AGE}".encode())]
        if (method == "GET" and feature_cid and match and match.group(2)
                and match.group(2).startswith("/items") and self._wants_json(params, headers)):
            try:
                cfg = self.runtime.config
                if match.group(3):
                    hdrs, body = fastpath.item(cfg, match.group(1), match.group(3)[1:], params)
                else:
                    hdrs, body = fastpath.items(cfg, match.group(1), params)
            except fastpath.Fallback:
                pass
            else:
                await self._send(send, 200, [(k.encode(), v.encode()) for k, v in hdrs.items()] + extra, body)
                return
        rewrite = None
        if method == "GET" and path.rstrip("/") == "/conformance":
            rewrite = self._conformance
        elif method == "GET" and match and match.group(2) is None and self._wants_json(params, headers):
            cid = match.group(1)
            rewrite = lambda body: self._with_passport(cid, body)  # noqa: E731
        await self._forward(scope, receive, send, extra, rewrite)

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
        if match and match.group(2) == "/items" and match.group(1) in self.runtime.feature_collections:
            fields = self.reader.table(pub.table).columns if pub else {}
            allowed = ITEMS_PARAMS | set(fields)
        elif match and match.group(2) == "/items":
            return None  # the records catalogue has its own parameters (pygeoapi checks them)
        elif match and match.group(2) == "/coverage":
            allowed = COVERAGE_PARAMS
            box = dict(params).get("bbox")
            if box is not None:  # pygeoapi answers a malformed coverage bbox with a 500
                try:
                    nums = [float(v) for v in box.split(",")]
                except ValueError:
                    nums = []
                if len(nums) not in (4, 6) or nums[1] > nums[-1]:
                    return "bbox: 4 (or 6) numbers, minx,miny,maxx,maxy"
        elif match and match.group(3):
            allowed = BASIC_PARAMS | {"crs"}
        elif path in ("/openapi", "/api"):
            allowed = BASIC_PARAMS | {"ui"}
        elif path.startswith("/static") or path.startswith("/site"):
            return None
        else:
            allowed = BASIC_PARAMS | ({"profile"} if match and match.group(2) else set())
        unknown = sorted(names - allowed)
        if unknown:
            return (f"unknown query parameter{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}"
                    f" (allowed: {', '.join(sorted(allowed))})")
        return None

    def _etag(self, path: str, query: str, headers: dict[str, str], feature_cid: str | None,
              pub: gpkg_read.Published | None) -> str | None:
        if path.startswith("/static"):
            token = "static"
        elif feature_cid:
            token = f"{feature_cid}:{pub.version if pub else 0}:{self.runtime.generation}"
        else:
            token = self.runtime.generation
        key = "|".join([token, path, query, headers.get("accept", ""),
                        headers.get("accept-language", ""),
                        "gzip" if "gzip" in headers.get("accept-encoding", "") else ""])
        return 'W/"' + hashlib.sha1(key.encode()).hexdigest()[:20] + '"'

    async def _forward(self, scope: Scope, receive: Any, send: Any,
                       extra: list[tuple[bytes, bytes]], rewrite: Callable[[bytes], bytes] | None) -> None:
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
    def _json_filter(scope: Scope, params: list[tuple[str, str]]) -> tuple[Scope, Any]:
        """pygeoapi reads CQL2 JSON only from a request body: hand it one."""
        from urllib.parse import urlencode

        body = dict(params)["filter"].encode()
        rest = [(k, v) for k, v in params if k not in ("filter", "filter-lang")]
        new = {**scope, "query_string": urlencode(rest).encode(),
               "headers": [h for h in scope["headers"] if h[0].lower() not in (b"content-length", b"content-type")]
               + [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]}
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return new, receive

    def _conformance(self, body: bytes) -> bytes:
        try:
            doc = json.loads(body)
        except ValueError:
            return body
        classes = [c for c in doc.get("conformsTo", []) if c not in NOT_IMPLEMENTED]
        doc["conformsTo"] = sorted(set(classes) | set(IMPLEMENTED))
        return json.dumps(doc).encode()

    def _with_passport(self, cid: str, body: bytes) -> bytes:
        meta = self.runtime.config.get("resources", {}).get(cid, {}).get("geo_publish")
        if not meta:
            return body
        try:
            doc = json.loads(body)
        except ValueError:
            return body
        doc.update({
            "version": meta.get("version"), "created": meta.get("first_published"),
            "updated": meta.get("last_modified"), "license": meta.get("license"),
            "updateFrequency": meta.get("update_frequency"), "itemCount": meta.get("feature_count"),
            "contacts": [{"name": meta.get("contact", {}).get("name"),
                          "organization": meta.get("organization"),
                          "emails": [{"value": meta["contact"]["email"]}] if meta.get("contact", {}).get("email") else [],
                          "phones": [{"value": meta["contact"]["phone"]}] if meta.get("contact", {}).get("phone") else [],
                          "roles": ["pointOfContact"]}],
        })
        return dumps(doc).encode()

    def _own(self, kind: str, cid: str, ext: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        from geo_publish.errors import GeoPublishError
        from geo_publish.store import open_store

        store = open_store(self.settings)
        try:
            if kind == "passports" and ext in ("json", "jsonld"):
                passport = store.passport(cid)
                if ext == "json":
                    return _json_response(200, passport)
                from geo_publish.passport.dcat import to_dcat

                base = self.runtime.config.get("server", {}).get("url", "")
                return _json_response(200, to_dcat(passport, base), "application/ld+json")
            if kind == "reports" and ext in ("json", "html"):
                report = store.report(cid)
                if ext == "json":
                    return _json_response(200, report)
                from geo_publish.ingest.report import Report, render_html

                return _json_response(200, render_html(Report(**report)), "text/html")
        except GeoPublishError:
            return _exception(404, "NotFound", f"no published collection {cid!r}")
        return _exception(404, "NotFound", "not found")


def create_app() -> Any:
    """Factory for uvicorn (one call per worker process)."""
    from starlette.middleware.gzip import GZipMiddleware

    settings = load_settings(os.environ.get("GEO_PUBLISH_CONFIG", "config.yml"))
    Source.export_dsn(settings)
    if os.environ.get("GEO_PUBLISH_URL"):
        settings.server.url = os.environ["GEO_PUBLISH_URL"]
    if "PYGEOAPI_CONFIG" not in os.environ or not Path(os.environ["PYGEOAPI_CONFIG"]).exists():
        paths = write_build(settings)
        os.environ["PYGEOAPI_CONFIG"] = str(paths["config"])
        os.environ["PYGEOAPI_OPENAPI"] = str(paths["openapi"])
    import pygeoapi.starlette_app as sa

    patch_pygeoapi()
    sa.APP.debug = False
    runtime = Runtime(settings)
    runtime.refresh(force=True)
    runtime.watch()
    app = GeoPublishApp(settings, sa.APP, runtime)
    return GZipMiddleware(app, minimum_size=1024)
