"""The publishing portal's web application: its route table, and what every route shares (forms
and bodies read within their bounds, errors answered through the one table of
``http/errors.py`` as a page in the user's language or as JSON, security headers, the session
cookie). The handlers are in ``pages`` (HTML), ``api`` (JSON for scripts), ``public``
(citizens' reports) and ``edits`` (OGC API - Features Part 4); who is asking in ``session``;
what they do in ``ops``, the same for a page, the API and the CLI.

Resources of another organisation answer 404, as if they did not exist, so that ids cannot be
probed.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote as urlquote

from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route, Router
from starlette.staticfiles import StaticFiles

from geo_publish.errors import BodyTooLarge, GeoPublishError, MethodNotAllowed, UnsupportedMediaType
from geo_publish.http.errors import CODES, describe
from geo_publish.manifest import LANGS
from geo_publish.portal.api import Api
from geo_publish.portal.edits import Edits
from geo_publish.portal.i18n import NAMES, T, pick
from geo_publish.portal.ops import FREQUENCIES, LICENSES, Ops
from geo_publish.portal.pages import Pages
from geo_publish.portal.public import Public
from geo_publish.portal.requests import MAX_JSON
from geo_publish.portal.session import SESSION_COOKIE, Sessions, session_key
from geo_publish.settings import Settings
from geo_publish.store import open_store

SECURITY_HEADERS = [
    ("cache-control", "no-store"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),
    ("content-security-policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; "
     "script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
]


async def _slash(request: Request) -> Response:
    return RedirectResponse("/publish/", 308)


class Portal:
    def __init__(self, settings: Settings) -> None:
        from starlette.middleware.sessions import SessionMiddleware

        self.settings = settings
        self.store = open_store(settings)
        self.accounts = self.store.accounts(pooled=True)
        self.sessions = Sessions(settings, self.accounts)
        self.ops = Ops(settings, self.store, self.accounts)
        pages, api, public, edits = Pages(self), Api(self), Public(self), Edits(self)
        self.env = Environment(loader=PackageLoader("geo_publish.portal", "templates"),
                               autoescape=select_autoescape(["html"]))
        self.env.filters["ts"] = lambda t: time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(float(t)))
        secure = (settings.server.url or "").startswith("https:")
        static = StaticFiles(directory=Path(__file__).parent / "static")
        routes = [
            Route("/publish", _slash), Route("/publish/", self.page(pages.h_home)),
            Route("/publish/login", self.page(pages.h_login), methods=["GET", "POST"]),
            Route("/publish/logout", self.page(pages.h_logout), methods=["POST"]),
            Route("/publish/sessions", self.page(pages.h_sessions)),
            Route("/publish/sessions/{sid}/end", self.page(pages.h_end_session), methods=["POST"]),
            Route("/publish/orgs/{org}/members/{uid}/sessions/end", self.page(pages.h_end_member_sessions),
                  methods=["POST"]),
            Route("/publish/password", self.page(pages.h_forgot), methods=["GET", "POST"]),
            Route("/publish/password/{token}", self.page(pages.h_set_password), methods=["GET", "POST"]),
            Route("/publish/upload", self.page(pages.h_upload_page)),
            Route("/publish/jobs/{jid}", self.page(pages.h_job)),
            Route("/publish/jobs/{jid}/rerun", self.page(pages.h_rerun), methods=["POST"]),
            Route("/publish/jobs/{jid}/publish", self.page(pages.h_publish), methods=["POST"]),
            Route("/publish/collections/{cid}", self.page(pages.h_collection)),
            Route("/publish/collections/{cid}/rollback", self.page(pages.h_rollback), methods=["POST"]),
            Route("/publish/orgs/{org}", self.page(pages.h_org)),
            Route("/publish/orgs/{org}/members", self.page(pages.h_member), methods=["POST"]),
            Route("/publish/orgs/{org}/tokens", self.page(pages.h_token), methods=["POST"]),
            Route("/publish/orgs/{org}/tokens/{tid}/revoke", self.page(pages.h_revoke), methods=["POST"]),
            Route("/publish/admin", self.page(pages.h_admin), methods=["GET", "POST"]),
            Route("/publish/api/uploads", self.api(api.a_uploads), methods=["GET", "POST"]),
            Route("/publish/api/uploads/{uid}", self.api(api.a_upload),
                  methods=["GET", "HEAD", "PATCH"]),
            Route("/publish/api/jobs", self.api(api.a_jobs), methods=["POST"]),
            Route("/publish/api/jobs/{jid}", self.api(api.a_job)),
            Route("/publish/api/jobs/{jid}/rerun", self.api(api.a_rerun), methods=["POST"]),
            Route("/publish/api/jobs/{jid}/publish", self.api(api.a_publish), methods=["POST"]),
            Route("/publish/api/collections/{cid}/versions", self.api(api.a_versions)),
            Route("/publish/api/collections/{cid}/rollback", self.api(api.a_rollback),
                  methods=["POST"]),
            Route("/publish/api/audit", self.api(api.a_audit)),
            Route("/feedback/{cid}", self.api(public.a_feedback, cors=True), methods=["GET", "POST"]),
            Route("/publish/feedback", self.page(pages.h_feedback_list)),
            Route("/publish/feedback/{fid}", self.page(pages.h_feedback), methods=["GET", "POST"]),
            Route("/publish/api/feedback", self.api(api.a_feedback_list)),
            Route("/publish/api/feedback/{fid}", self.api(api.a_feedback_answer), methods=["POST"]),
            # OGC API - Features Part 4 on editable collections (routed here by the app)
            Route("/collections/{cid}/items", self.api(edits.a_items), methods=["POST"]),
            Route("/collections/{cid}/items/{fid}", self.api(edits.a_items),
                  methods=["PUT", "PATCH", "DELETE", "POST"]),
        ]
        router = Router(routes)
        router.mount("/publish/static", static)
        self.asgi = SessionMiddleware(
            self._headers(router), secret_key=session_key(settings), session_cookie=SESSION_COOKIE,
            max_age=int(settings.portal.session_hours * 3600), same_site="lax", https_only=secure)

    @staticmethod
    def _headers(app: Any) -> Any:
        extra = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS]

        async def wrapped(scope: Any, receive: Any, send: Any) -> None:
            async def send_with(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    have = {k.lower() for k, _ in message.get("headers", [])}
                    message = {**message, "headers": list(message.get("headers", []))
                               + [(k, v) for k, v in extra if k not in have]}
                await send(message)

            await app(scope, receive, send_with)

        return wrapped

    def page(self, handler: Callable[[Request, FormData | None], Response]
             ) -> Callable[[Request], Awaitable[Response]]:
        """An HTML endpoint: the form read (bounded), the handler on a worker thread, errors as
        a page in the user's language."""

        async def endpoint(request: Request) -> Response:
            try:
                form = None
                if request.method == "POST":
                    if int(request.headers.get("content-length") or 0) > MAX_JSON:
                        raise BodyTooLarge(f"the form is larger than {MAX_JSON} bytes")
                    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
                    if ctype not in ("", "application/x-www-form-urlencoded"):  # the pages' forms
                        raise UnsupportedMediaType("send the form as application/x-www-form-urlencoded")
                    form = await request.form(max_files=0, max_fields=60) if ctype else FormData()
                return await run_in_threadpool(handler, request, form)
            except (GeoPublishError, ValidationError) as err:
                status, _, text = describe(err)
                if status == 401 and request.method == "GET":
                    return RedirectResponse("/publish/login?next=" + urlquote(request.url.path), 303)
                return self.render(request, "message.html", status=status, message=text)
            except ClientDisconnect:
                return Response(status_code=400)
            except HTTPException as err:  # starlette's own form errors are the client's
                return self.render(request, "message.html", status=err.status_code,
                                   message=str(err.detail))

        return endpoint

    def api(self, handler: Callable[[Request], Awaitable[Response]], cors: bool = False
            ) -> Callable[[Request], Awaitable[Response]]:
        """A JSON endpoint: errors as ``{"code", "description"}`` with their status."""

        async def endpoint(request: Request) -> Response:
            response = await answer(request)
            if cors:  # public and anonymous: a viewer hosted elsewhere may use it
                response.headers["access-control-allow-origin"] = "*"
            return response

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except (GeoPublishError, ValidationError) as err:
                status, code, text = describe(err)
                headers = {"www-authenticate": "Bearer"} if status == 401 else {}
                if isinstance(err, MethodNotAllowed):
                    headers["allow"] = err.allow
                return JSONResponse({"code": code, "description": text},
                                    status, headers=headers)
            except ClientDisconnect:
                return Response(status_code=400)
            except HTTPException as err:  # starlette's own (a malformed form body)
                return JSONResponse({"code": CODES.get(err.status_code, "Error"),
                                     "description": str(err.detail)}, err.status_code)

        return endpoint

    def lang(self, request: Request) -> str:
        chosen = request.query_params.get("lang")
        if chosen in LANGS:
            request.session["lang"] = chosen
        return pick(request.headers.get("accept-language", ""), request.session.get("lang"))

    def render(self, request: Request, name: str, status: int = 200, **ctx: Any) -> Response:
        lang = self.lang(request)
        if "csrf" not in request.session:
            request.session["csrf"] = secrets.token_urlsafe(24)
        who = ctx.pop("who", None)
        if who is None and "uid" in request.session:
            try:
                who = self.sessions.who(request)
            except GeoPublishError:
                who = None
        html = self.env.get_template(name).render(
            lang=lang, langs=NAMES, t=lambda key: T[key][lang], csrf=request.session["csrf"],
            who=who, path=request.url.path, frequencies=FREQUENCIES, licenses=LICENSES, **ctx)
        return Response(html, status, media_type="text/html; charset=utf-8")
