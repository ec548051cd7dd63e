"""The publishing portal's web pages (``/publish/``) and its API for scripts (``/publish/api/``).

Who may do what is decided here, before any workflow call: a session (a signed HttpOnly cookie,
SameSite=Lax, Secure over https, holding a random secret whose SHA-256 names the session's row
in the store, so that sign-out, a new password, an admin or idleness end it on every worker) or
a bearer token; every state-changing request made with a
session carries the session's CSRF token (form field ``csrf`` or header ``X-CSRF-Token``) and,
when the browser sends one, an ``Origin`` of this server. Resources of another organisation
answer 404, as if they did not exist, so that ids cannot be probed. The work itself is done by
the same functions as the CLI's (``workflow.ingest`` in the job runner, ``publishing``).
"""

from __future__ import annotations

import codecs
import hashlib
import hmac
import time
import json
import os
import re
import secrets
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

from geo_publish.errors import GeoPublishError, NotFound, StoreError, UsageError
from geo_publish.manifest import (
    LANGS, Contact, Manifest, PassportSpec, SourceSpec, check_collection_id, load_manifest,
    template,
)
from geo_publish import feedback
from geo_publish.feedback import TooMany
from geo_publish.portal import auth, uploads
from geo_publish.portal.auth import Principal, Refused
from geo_publish.portal.i18n import NAMES, T, pick
from geo_publish.errors import BodyTooLarge, Conflict, MethodNotAllowed, UnsupportedMediaType
from geo_publish.serve.errors import status_of
from geo_publish.settings import Settings
from geo_publish.store import open_store

SESSION_COOKIE = "gp_session"
MAX_JSON = 64 * 1024
MAX_TEXT = 2000  # longest free text in a form field (descriptions: 4x)
FREQUENCIES = ("continual", "daily", "weekly", "fortnightly", "monthly", "quarterly",
               "biannually", "annually", "asNeeded", "irregular", "notPlanned", "unknown")
LICENSES = ("CC-BY-4.0", "CC0-1.0", "ODbL-1.0", "CC-BY-SA-4.0")
SECURITY_HEADERS = [
    ("cache-control", "no-store"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),
    ("content-security-policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; "
     "script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
]


def session_key(settings: Settings) -> str:
    """The key that signs session cookies: from the environment (config), else a random one
    kept beside the uploads with mode 600, created once and shared by every worker."""
    if settings.portal.secret_key is not None:
        return settings.portal.secret_key.get_secret_value()
    path = settings.path(settings.portal.uploads_dir).parent / "portal.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
    except FileExistsError:
        pass
    key = path.read_text().strip()
    if len(key) < 32:  # a worker read it between its creation and its writing
        import time

        time.sleep(0.2)
        key = path.read_text().strip()
    return key


def _digest(secret: str) -> str:
    """What the store keeps of a session's secret: its SHA-256 (the secret is 256 random bits)."""
    return hashlib.sha256(secret.encode()).hexdigest()


class Portal:
    def __init__(self, settings: Settings) -> None:
        from starlette.middleware.sessions import SessionMiddleware

        self.settings = settings
        self.store = open_store(settings)
        self.accounts = self.store.accounts(pooled=True)
        self.uploads_dir = settings.path(settings.portal.uploads_dir)
        self.env = Environment(loader=PackageLoader("geo_publish.portal", "templates"),
                               autoescape=select_autoescape(["html"]))
        self.env.filters["ts"] = lambda t: time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(float(t)))
        secure = (settings.server.url or "").startswith("https:")
        static = StaticFiles(directory=Path(__file__).parent / "static")
        routes = [
            Route("/publish", self._slash), Route("/publish/", self.page(self.h_home)),
            Route("/publish/login", self.page(self.h_login), methods=["GET", "POST"]),
            Route("/publish/logout", self.page(self.h_logout), methods=["POST"]),
            Route("/publish/sessions", self.page(self.h_sessions)),
            Route("/publish/sessions/{sid}/end", self.page(self.h_end_session), methods=["POST"]),
            Route("/publish/orgs/{org}/members/{uid}/sessions/end", self.page(self.h_end_member_sessions),
                  methods=["POST"]),
            Route("/publish/password", self.page(self.h_forgot), methods=["GET", "POST"]),
            Route("/publish/password/{token}", self.page(self.h_set_password), methods=["GET", "POST"]),
            Route("/publish/upload", self.page(self.h_upload_page)),
            Route("/publish/jobs/{jid}", self.page(self.h_job)),
            Route("/publish/jobs/{jid}/rerun", self.page(self.h_rerun), methods=["POST"]),
            Route("/publish/jobs/{jid}/publish", self.page(self.h_publish), methods=["POST"]),
            Route("/publish/collections/{cid}", self.page(self.h_collection)),
            Route("/publish/collections/{cid}/rollback", self.page(self.h_rollback), methods=["POST"]),
            Route("/publish/orgs/{org}", self.page(self.h_org)),
            Route("/publish/orgs/{org}/members", self.page(self.h_member), methods=["POST"]),
            Route("/publish/orgs/{org}/tokens", self.page(self.h_token), methods=["POST"]),
            Route("/publish/orgs/{org}/tokens/{tid}/revoke", self.page(self.h_revoke), methods=["POST"]),
            Route("/publish/admin", self.page(self.h_admin), methods=["GET", "POST"]),
            Route("/publish/api/uploads", self.api(self.a_uploads), methods=["GET", "POST"]),
            Route("/publish/api/uploads/{uid}", self.api(self.a_upload),
                  methods=["GET", "HEAD", "PATCH"]),
            Route("/publish/api/jobs", self.api(self.a_jobs), methods=["POST"]),
            Route("/publish/api/jobs/{jid}", self.api(self.a_job)),
            Route("/publish/api/jobs/{jid}/rerun", self.api(self.a_rerun), methods=["POST"]),
            Route("/publish/api/jobs/{jid}/publish", self.api(self.a_publish), methods=["POST"]),
            Route("/publish/api/collections/{cid}/versions", self.api(self.a_versions)),
            Route("/publish/api/collections/{cid}/rollback", self.api(self.a_rollback),
                  methods=["POST"]),
            Route("/publish/api/audit", self.api(self.a_audit)),
            Route("/feedback/{cid}", self.api(self.a_feedback, cors=True), methods=["GET", "POST"]),
            Route("/publish/feedback", self.page(self.h_feedback_list)),
            Route("/publish/feedback/{fid}", self.page(self.h_feedback), methods=["GET", "POST"]),
            Route("/publish/api/feedback", self.api(self.a_feedback_list)),
            Route("/publish/api/feedback/{fid}", self.api(self.a_feedback_answer), methods=["POST"]),
            # OGC API - Features Part 4 on editable collections (routed here by the app)
            Route("/collections/{cid}/items", self.api(self.a_items), methods=["POST"]),
            Route("/collections/{cid}/items/{fid}", self.api(self.a_items),
                  methods=["PUT", "PATCH", "DELETE", "POST"]),
        ]
        router = Router(routes)
        router.mount("/publish/static", static)
        self.asgi = SessionMiddleware(
            self._headers(router), secret_key=session_key(settings), session_cookie=SESSION_COOKIE,
            max_age=int(settings.portal.session_hours * 3600), same_site="lax", https_only=secure)

    # -- plumbing --------------------------------------------------------------------------------
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

    async def _slash(self, request: Request) -> Response:
        return RedirectResponse("/publish/", 308)

    @staticmethod
    def _status(err: BaseException) -> tuple[int, str]:
        if isinstance(err, Refused):
            return err.status, err.message
        if isinstance(err, TooMany):
            return 429, str(err)
        if isinstance(err, ValidationError):
            first = err.errors()[0]
            return 400, f"{'.'.join(str(x) for x in first['loc'])}: {first['msg']}"
        assert isinstance(err, GeoPublishError)
        status, _ = status_of(err)
        if status == 500:
            status = 503 if isinstance(err, StoreError) else 400
        return int(status), err.one_line()

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
            except (GeoPublishError, Refused, ValidationError) as err:
                status, text = self._status(err)
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
            except (GeoPublishError, Refused, ValidationError, TooMany) as err:
                status, text = self._status(err)
                headers = {"www-authenticate": "Bearer"} if status == 401 else {}
                if isinstance(err, MethodNotAllowed):
                    headers["allow"] = err.allow
                return JSONResponse({"code": _CODES.get(status, "Error"), "description": text},
                                    status, headers=headers)
            except ClientDisconnect:
                return Response(status_code=400)
            except HTTPException as err:  # starlette's own (a malformed form body)
                return JSONResponse({"code": _CODES.get(err.status_code, "Error"),
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
                who = self.who(request)
            except (GeoPublishError, Refused):
                who = None
        html = self.env.get_template(name).render(
            lang=lang, langs=NAMES, t=lambda key: T[key][lang], csrf=request.session["csrf"],
            who=who, path=request.url.path, frequencies=FREQUENCIES, licenses=LICENSES, **ctx)
        return Response(html, status, media_type="text/html; charset=utf-8")

    # -- who is asking --------------------------------------------------------------------------
    def who(self, request: Request) -> Principal | None:
        header = request.headers.get("authorization")
        if header is not None:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Refused(401, "send the token as `Authorization: Bearer gpt_...`")
            return auth.from_token(self.accounts, token)
        row = self.session_row(request)
        if row is None:
            return None
        user = self.accounts.user(row["user_id"])
        if user is None or user["disabled"]:
            request.session.clear()
            return None
        return auth.principal(self.accounts, user)

    def session_row(self, request: Request) -> dict[str, Any] | None:
        """The server's row of this browser's session, while it is open: the cookie holds only a
        random secret, so sign-out, a new password, an admin, or ``session_idle_minutes`` without
        a request end it on every worker at once, and a copied cookie opens nothing after that."""
        if "session_row" in request.scope:
            return request.scope["session_row"]  # type: ignore[no-any-return]
        secret = request.session.get("sid")
        row = self.accounts.session_by_hash(_digest(secret)) if isinstance(secret, str) else None
        at = time.time()
        portal = self.settings.portal
        if row is not None and row["ended"] is None and (
                at - row["last_seen"] > portal.session_idle_minutes * 60
                or at - row["created"] > portal.session_hours * 3600):
            self.accounts.end_session(row["id"], at=at)
            row = None
        if row is None or row["ended"] is not None:
            if "sid" in request.session:
                request.session.clear()
            row = None
        elif at - row["last_seen"] > 30:  # one write a half-minute, not one a request
            self.accounts.touch_session(row["id"], at)
        request.scope["session_row"] = row
        return row

    def require(self, request: Request, form: FormData | None = None) -> Principal:
        """The signed-in principal; for a state change by session, its CSRF token checked too."""
        who = self.who(request)
        if who is None:
            raise Refused(401, "sign in first")
        if request.method not in ("GET", "HEAD") and request.headers.get("authorization") is None:
            sent = (form.get("csrf") if form is not None else None) or request.headers.get("x-csrf-token")
            if not isinstance(sent, str) or not hmac.compare_digest(sent, request.session.get("csrf", "")):
                raise Refused(403, "the form's security token is missing or stale; reload the page")
            origin = request.headers.get("origin")
            if origin and origin.split("://", 1)[-1] != request.headers.get("host", ""):
                raise Refused(403, "a request from another site was refused")
        return who

    @staticmethod
    def address(request: Request) -> str:
        return request.client.host if request.client else ""

    def _job(self, who: Principal, jid: str) -> dict[str, Any]:
        job = self.accounts.job(jid)
        if job is None or not who.can_publish(job["org_id"]):
            raise NotFound("no such job")
        return job

    def _owned(self, who: Principal, cid: str) -> str:
        check_collection_id(cid)
        org = self.accounts.owner(cid)
        if not who.can_publish(org):
            raise NotFound(f"no layer {cid!r} in your organisations")
        return org  # type: ignore[return-value]

    def _audit(self, request: Request, who: Principal, action: str, org: str | None, **kw: Any) -> None:
        self.accounts.audit(action, user_id=who.user_id, org_id=org, address=self.address(request), **kw)

    # -- operations (pages and API alike) --------------------------------------------------------
    def op_new_upload(self, request: Request, who: Principal, org: str, filename: str, size: Any) -> dict[str, Any]:
        if not who.can_publish(org):
            raise NotFound(f"no organisation {org!r} among yours")
        try:
            size = int(size)
        except (TypeError, ValueError):
            raise UsageError("size must be the file's size in bytes") from None
        name = uploads.check_declared(filename, size, self.settings.portal.max_upload_bytes)
        uid = self.accounts.create_upload(org, who.user_id, name, size)
        self._audit(request, who, "upload started", org, detail=f"{name} ({size} bytes)")
        return self._upload_json(self.accounts.upload(uid))  # type: ignore[arg-type]

    def _upload_json(self, row: dict[str, Any]) -> dict[str, Any]:
        path = self._upload_file(row)
        return {"id": row["id"], "org": row["org_id"], "filename": row["filename"], "size": row["size"],
                "offset": path.stat().st_size if path.exists() else 0,
                "complete": bool(row["completed"]), "created": row["created"],
                "location": f"/publish/api/uploads/{row['id']}"}

    def _upload_file(self, row: dict[str, Any]) -> Path:
        return self.uploads_dir / row["id"] / uploads.safe_name(row["filename"])

    def _upload_row(self, who: Principal, uid: str) -> dict[str, Any]:
        row = self.accounts.upload(uid)
        if row is None or row["user_id"] != who.user_id or not who.can_publish(row["org_id"]):
            raise NotFound("no such upload")
        return row

    def op_new_job(self, request: Request, who: Principal, upload_id: str, collection: str,
                   options: dict[str, Any]) -> dict[str, Any]:
        row = self._upload_row(who, upload_id)
        if not row["completed"]:
            raise Conflict("the upload is not complete yet")
        check_collection_id(collection)
        org = row["org_id"]
        owner = self.accounts.owner(collection)
        if owner is None and not self.accounts.claim_collection(collection, org):
            owner = self.accounts.owner(collection)
        if (owner or org) != org:
            raise Refused(403, f"the layer {collection!r} belongs to another organisation")
        opts = _options(options)
        jid = self.accounts.create_job(org, who.user_id, collection, upload_id, opts)
        self._audit(request, who, "check", org, collection=collection,
                    detail=f"{row['filename']} {json.dumps(opts, ensure_ascii=False)}")
        return self._job_json(self.accounts.job(jid))  # type: ignore[arg-type]

    def op_rerun(self, request: Request, who: Principal, jid: str, options: dict[str, Any]) -> dict[str, Any]:
        job = self._job(who, jid)
        if job["status"] in ("queued", "running"):
            raise Conflict("the job is still running")
        if job["status"] == "published":
            raise Conflict("this upload is published; upload the file again to make a new version")
        opts = _options(options)
        self.accounts.update_job(jid, status="queued", options=opts, result=None, version=None,
                                 done=0, total=None, message="")
        self._audit(request, who, "check again", job["org_id"], collection=job["collection"],
                    detail=json.dumps(opts, ensure_ascii=False))
        return self._job_json(self.accounts.job(jid))  # type: ignore[arg-type]

    def op_publish(self, request: Request, who: Principal, jid: str,
                   fields: dict[str, Any] | None) -> dict[str, Any]:
        from geo_publish.publishing import publish_version

        job = self._job(who, jid)
        if job["status"] != "ready" or job["version"] is None:
            raise Conflict(f"the job is {job['status']}, not ready to publish")
        if self.accounts.owner(job["collection"]) != job["org_id"]:
            raise Refused(403, "the layer now belongs to another organisation")
        manifest = self._manifest(job, fields) if fields is not None else None
        if manifest is not None:
            _require_passport(manifest)
        info = publish_version(self.settings, job["collection"], job["version"], manifest)
        self.accounts.update_job(jid, status="published")
        self._audit(request, who, "publish", job["org_id"], collection=job["collection"],
                    version=info.version, checksum=info.sha256)
        return {"collection": info.collection, "version": info.version, "published": True,
                "features": info.feature_count}

    def op_rollback(self, request: Request, who: Principal, cid: str, version: Any) -> dict[str, Any]:
        from geo_publish.publishing import publish_version

        org = self._owned(who, cid)
        try:
            version = int(version)
        except (TypeError, ValueError):
            raise UsageError("version must be a version number") from None
        info = publish_version(self.settings, cid, version)
        self._audit(request, who, "rollback", org, collection=cid, version=info.version,
                    checksum=info.sha256)
        return {"collection": cid, "version": info.version, "published": True}

    def _manifest(self, job: dict[str, Any], patch: dict[str, Any]) -> Manifest:
        """The manifest the passport form describes: the current one (or a template) with the
        form's values merged in as a JSON merge patch (RFC 7396): a field left out keeps its
        value, an explicit null (or an empty text) clears it. Validated by the manifest's model
        (e-mail, frequency, id)."""
        cid = job["collection"]
        current = load_manifest(self.settings.path(self.settings.collections_dir), cid)
        kept = _form_values(current, cid, "")
        unknown = sorted(set(patch) - set(kept))
        if unknown:
            raise UsageError(f"unknown passport field {unknown[0][:40]!r}; known: {', '.join(kept)}")
        fields = kept | {k: "" if v is None else v for k, v in patch.items()}
        opts = job["options"]
        upload = self.accounts.upload(job["upload_id"]) or {"filename": ""}
        base = current or template(cid, SourceSpec())
        source = SourceSpec(path=uploads.safe_name(upload["filename"]), layer=opts.get("layer"),
                            crs=opts.get("crs"), encoding=opts.get("encoding"))

        def text(name: str, limit: int = MAX_TEXT) -> str:
            value = fields.get(name)
            if not isinstance(value, str):
                raise UsageError(f"{name} must be text (or null to clear it)")
            value = value.strip()
            if len(value) > limit:
                raise UsageError(f"{name} is longer than {limit} characters")
            return value

        title = {lang: text(f"title_{lang}", 300) for lang in LANGS}
        description = {lang: text(f"description_{lang}", 4 * MAX_TEXT) for lang in LANGS}
        keywords = [k.strip() for k in text("keywords").split(",") if k.strip()]
        id_field = text("id_field", 100) or None
        frequency = text("update_frequency") or "unknown"
        if frequency not in FREQUENCIES:
            raise UsageError(f"update_frequency {frequency!r} is not one of {', '.join(FREQUENCIES)}")
        data = base.model_dump(mode="json", by_alias=True)
        data.update(
            title={k: v for k, v in title.items() if v}, description={k: v for k, v in description.items() if v},
            keywords=keywords, source=source.model_dump(),
            passport=PassportSpec(
                organization=text("organization", 300),
                responsible=Contact.model_validate({"name": text("responsible_name", 200),
                                                    "email": text("responsible_email", 200),
                                                    "phone": text("responsible_phone", 50)}),
                license=text("license", 200), update_frequency=frequency,  # type: ignore[arg-type]
                lineage=text("lineage")).model_dump(mode="json"),
        )
        data["schema"] = {**data.get("schema", {}), "id_field": id_field}
        return Manifest.model_validate(data)

    def _job_json(self, job: dict[str, Any]) -> dict[str, Any]:
        return {k: job[k] for k in ("id", "org_id", "collection", "upload_id", "options", "status",
                                    "done", "total", "message", "version", "created", "updated")} | {
            "org": job["org_id"], "result": job["result"],
            "links": {"page": f"/publish/jobs/{job['id']}", "self": f"/publish/api/jobs/{job['id']}"}}

    # -- pages -----------------------------------------------------------------------------------
    def h_home(self, request: Request, form: FormData | None) -> Response:
        who = self.require(request)
        owners = self.accounts.owners()
        orgs = [(o, self.accounts.org(o), who.role(o)) for o in who.orgs(self.accounts)]
        published = {v.collection: v for v in self.store.collections()}
        layers = {o: sorted(c for c, org in owners.items() if org == o) for o, _, _ in orgs}
        jobs = [j for o, _, _ in orgs for j in self.accounts.jobs(o, 20)]
        jobs.sort(key=lambda j: j["created"], reverse=True)
        return self.render(request, "home.html", who=who, orgs=orgs, layers=layers,
                           published=published, jobs=jobs[:30])

    def h_login(self, request: Request, form: FormData | None) -> Response:
        target = request.query_params.get("next", "/publish/")
        if not target.startswith("/publish/") or "//" in target:  # no open redirect
            target = "/publish/"
        if form is None:
            return self.render(request, "login.html", next=target)
        if not self._form_ok(request, form):
            return self.render(request, "login.html", status=403, next=target,
                               error="the form's security token is missing or stale; reload the page")
        email, password = str(form.get("email") or "")[:254], str(form.get("password") or "")[:1024]
        try:
            who = auth.login(self.accounts, email, password, self.address(request))
        except Refused as err:
            return self.render(request, "login.html", status=err.status, next=target,
                               error=err.message, email=email)
        lang = request.session.get("lang")
        request.session.clear()  # a new session: nothing of the anonymous one carries over
        secret = secrets.token_urlsafe(32)
        self.accounts.create_session(who.user_id, _digest(secret), time.time(), self.address(request),
                                     request.headers.get("user-agent", ""))
        request.session.update(sid=secret, csrf=secrets.token_urlsafe(24), **({"lang": lang} if lang else {}))
        self._audit(request, who, "sign in", None)
        return RedirectResponse(target, 303)

    @staticmethod
    def _form_ok(request: Request, form: FormData) -> bool:
        """An anonymous form (sign-in, password links): its CSRF token, from this site."""
        sent = form.get("csrf")
        origin = request.headers.get("origin")
        return (isinstance(sent, str) and hmac.compare_digest(sent, request.session.get("csrf", ""))
                and not (origin and origin.split("://", 1)[-1] != request.headers.get("host", "")))

    def send_password_link(self, user: dict[str, Any], kind: str, lang: str) -> None:
        send_password_link(self.accounts, self.settings, user, kind, lang)

    def h_forgot(self, request: Request, form: FormData | None) -> Response:
        """A link to set a new password, by mail; the same answer whether the address has an
        account or not."""
        if form is None:
            return self.render(request, "password_forgot.html")
        if not self._form_ok(request, form):
            return self.render(request, "password_forgot.html", status=403,
                               error="the form's security token is missing or stale; reload the page")
        email = str(form.get("email") or "").strip()[:254]
        t = time.time()
        if not self.accounts.take({f"reset:{email.lower()}": 3, f"reset-from:{self.address(request)}": 10},
                                  t, t - auth.THROTTLE_WINDOW):  # (the window old entries are kept)
            raise Refused(429, "too many requests for a password link; try again in 15 minutes")
        user = self.accounts.user_by_email(email) if email else None
        if user is not None and not user["disabled"]:
            self.send_password_link(user, "reset", self.lang(request))
            self.accounts.audit("password link sent", user_id=user["id"], org_id=None,
                                address=self.address(request))
        return self.render(request, "password_forgot.html", sent=True, no_mail=not self.settings.mail.host)

    def h_set_password(self, request: Request, form: FormData | None) -> Response:
        """The page a password link opens: a new password, set once."""
        token = request.path_params["token"]
        row = auth.password_link(self.accounts, token)
        user = self.accounts.user(row["user_id"]) or {}
        ctx = {"email": user.get("email", ""), "min_length": auth.MIN_PASSWORD}
        if form is not None:
            error = None
            password = str(form.get("password") or "")[:1024]
            if not self._form_ok(request, form):
                error, status = "the form's security token is missing or stale; reload the page", 403
            elif password != str(form.get("again") or "")[:1024]:
                error, status = T["not_same"][self.lang(request)], 400
            if error is None:
                try:
                    user = auth.set_password_by_link(self.accounts, token, password)
                except UsageError as err:
                    error, status = err.one_line(), 400
            if error is not None:
                response = self.render(request, "password_set.html", status=status, error=error, **ctx)
            else:
                self.accounts.audit("password set", user_id=user["id"], org_id=None,
                                    address=self.address(request), detail=row["kind"])
                request.session.clear()  # whoever was signed in here: sign in again
                response = self.render(request, "message_ok.html", message=T["password_set"][self.lang(request)],
                                       link="/publish/login")
        else:
            response = self.render(request, "password_set.html", **ctx)
        response.headers["referrer-policy"] = "no-referrer"  # the link is in the address
        response.headers["cache-control"] = "no-store"
        return response

    def h_logout(self, request: Request, form: FormData | None) -> Response:
        who = self.require(request, form)
        row = self.session_row(request)
        if row is not None:
            self.accounts.end_session(row["id"])
        self._audit(request, who, "sign out", None)
        request.session.clear()
        return RedirectResponse("/publish/login", 303)

    def h_sessions(self, request: Request, form: FormData | None) -> Response:
        """The signed-in person's open sessions (when, from where), each of which they may end."""
        who = self.require(request, form)
        row = self.session_row(request)
        if who.token_org is not None or row is None:
            raise NotFound("no such page")
        since = time.time() - self.settings.portal.session_idle_minutes * 60
        return self.render(request, "sessions.html", who=who, current=row["id"],
                           sessions=self.accounts.sessions(who.user_id, since))

    def h_end_session(self, request: Request, form: FormData | None) -> Response:
        who = self.require(request, form)
        sid = request.path_params["sid"]
        if who.token_org is not None or not self.accounts.end_session(sid, who.user_id):
            raise NotFound("no such session")  # another person's, or ended: as if it did not exist
        self._audit(request, who, "session ended", None)
        if sid == (self.session_row(request) or {}).get("id"):
            request.session.clear()
            return RedirectResponse("/publish/login", 303)
        return RedirectResponse("/publish/sessions", 303)

    def h_end_member_sessions(self, request: Request, form: FormData | None) -> Response:
        """An organisation's admin ends every session of one of its people, at once."""
        who, org, f = self._org_form(request, form, admin=True)
        uid = request.path_params["uid"]
        if uid not in {m["id"] for m in self.accounts.members(org)}:
            raise NotFound("no such person in this organisation")
        n = self.accounts.end_sessions(uid)
        person = self.accounts.user(uid) or {}
        self._audit(request, who, "sessions ended", org, detail=f"{person.get('email', uid)} ({n})")
        return self.h_org(request, None, who, sessions_ended=person.get("email", uid))

    def h_upload_page(self, request: Request, form: FormData | None) -> Response:
        who = self.require(request)
        orgs = [o for o in who.orgs(self.accounts) if who.can_publish(o)]
        owners = self.accounts.owners()
        return self.render(request, "upload.html", who=who, orgs=[(o, self.accounts.org(o)) for o in orgs],
                           layers=sorted(c for c, o in owners.items() if o in orgs),
                           chosen=request.query_params.get("collection", ""),
                           max_bytes=self.settings.portal.max_upload_bytes)

    def h_job(self, request: Request, form: FormData | None, who: Principal | None = None,
              **extra: Any) -> Response:
        who = who or self.require(request)
        job = self._job(who, request.path_params["jid"])
        manifest = load_manifest(self.settings.path(self.settings.collections_dir), job["collection"])
        org = self.accounts.org(job["org_id"]) or {"name": job["org_id"]}
        upload = self.accounts.upload(job["upload_id"])
        values = extra.pop("values", None) or _form_values(manifest, job["collection"], org["name"])
        status = extra.pop("status", 200)
        return self.render(request, "job.html", status=status, who=who, job=job, upload=upload,
                           values=values, report=(job["result"] or {}).get("report"), org=org,
                           map_problem=self._map_problem(job["collection"], job["version"]), **extra)

    def _map_problem(self, cid: str, version: int | None) -> dict[str, Any] | None:
        """Why the served map draws version ``version`` of ``cid`` otherwise than styled, if it does."""
        from geo_publish.publish.viewer.problems import map_problems

        problem = map_problems(self.settings).get(cid)
        return problem if problem and version is not None and problem.get("version") == version else None

    def h_rerun(self, request: Request, form: FormData | None) -> Response:
        who = self.require(request, form)
        jid = request.path_params["jid"]
        self.op_rerun(request, who, jid, dict(form or {}))
        return RedirectResponse(f"/publish/jobs/{jid}", 303)

    def h_publish(self, request: Request, form: FormData | None) -> Response:
        who = self.require(request, form)
        jid = request.path_params["jid"]
        fields = {k: v for k, v in (form or {}).items() if isinstance(v, str) and k != "csrf"}
        try:
            out = self.op_publish(request, who, jid, fields)
        except (UsageError, ValidationError) as err:
            _, text = self._status(err)
            return self.h_job(request, None, who, values=fields, error=text, status=400)
        return RedirectResponse(f"/publish/collections/{out['collection']}?published={out['version']}", 303)

    def h_collection(self, request: Request, form: FormData | None) -> Response:
        who = self.require(request)
        cid = request.path_params["cid"]
        org = self._owned(who, cid)
        try:
            history = self.store.history(cid)
        except NotFound:
            history = []
        drafts = {j["version"]: j for j in self.accounts.jobs(org, 200)
                  if j["collection"] == cid and j["status"] == "ready"}
        current = next((v.version for v in history if v.published), None)
        return self.render(request, "collection.html", who=who, cid=cid, history=history[::-1],
                           drafts=drafts, org=self.accounts.org(org),
                           map_problem=self._map_problem(cid, current),
                           published=request.query_params.get("published"))

    def h_rollback(self, request: Request, form: FormData | None) -> Response:
        who = self.require(request, form)
        cid = request.path_params["cid"]
        out = self.op_rollback(request, who, cid, (form or {}).get("version"))
        return RedirectResponse(f"/publish/collections/{cid}?published={out['version']}", 303)

    def _org_for(self, who: Principal, org: str) -> dict[str, Any]:
        row = self.accounts.org(org)
        if row is None or who.role(org) is None:
            raise NotFound(f"no organisation {org!r} among yours")
        return row

    def h_org(self, request: Request, form: FormData | None, who: Principal | None = None,
              **extra: Any) -> Response:
        who = who or self.require(request)
        org = request.path_params["org"]
        row = self._org_for(who, org)
        admin = who.can_admin(org)
        tokens = [t for t in self.accounts.tokens(org) if admin or t["email"] == who.email]
        return self.render(request, "org.html", who=who, org=row, admin=admin, tokens=tokens,
                           members=self.accounts.members(org) if admin else [],
                           audit=self.accounts.audit_log(org) if admin else [], **extra)

    def _org_form(self, request: Request, form: FormData | None, admin: bool) -> tuple[Principal, str, FormData]:
        """Who posts a form of an organisation's page, which organisation, and the form; 404
        outside their organisations, 403 without the role the form needs."""
        who = self.require(request, form)
        org = request.path_params["org"]
        self._org_for(who, org)
        if not (who.can_admin(org) if admin else who.can_publish(org)):
            raise Refused(403, "only the organisation's admins add people" if admin else
                          "only the organisation's publishers and admins hold tokens")
        return who, org, form or FormData()

    def h_member(self, request: Request, form: FormData | None) -> Response:
        who, org, f = self._org_form(request, form, admin=True)
        email, name, role = (str(f.get(k) or "").strip() for k in ("email", "name", "role"))
        password = add_person(self.accounts, org, email, name, role or None)
        self._audit(request, who, "person added" if role else "person removed", org,
                    detail=f"{email} {role or ''}".strip())
        if password is not None and self.settings.mail.host:  # they set it themselves, by mail
            self.send_password_link(self.accounts.user_by_email(email), "invite", self.lang(request))
            return self.h_org(request, None, who, invited=email)
        return self.h_org(request, None, who, new_password=password, new_email=email)

    def h_token(self, request: Request, form: FormData | None) -> Response:
        who, org, f = self._org_form(request, form, admin=False)
        name = str(f.get("name") or "").strip()[:100] or "token"
        try:
            days = int(str(f.get("days") or self.settings.portal.token_days))
        except ValueError:
            raise UsageError("days must be a number") from None
        token, tid = auth.issue_token(self.accounts, who.user_id, org, name, days)
        self._audit(request, who, "token created", org, detail=f"{name} ({tid}, {days} days)")
        return self.h_org(request, None, who, new_token=token)

    def h_revoke(self, request: Request, form: FormData | None) -> Response:
        who = self.require(request, form)
        org, tid = request.path_params["org"], request.path_params["tid"]
        self._org_for(who, org)
        row = self.accounts.token(tid)
        mine = row is not None and row["user_id"] == who.user_id
        if row is None or row["org_id"] != org or not (mine or who.can_admin(org)):
            raise NotFound("no such token")
        self.accounts.revoke_token(tid)
        self._audit(request, who, "token revoked", org, detail=f"{row['name']} ({tid})")
        return RedirectResponse(f"/publish/orgs/{org}", 303)

    def h_admin(self, request: Request, form: FormData | None) -> Response:
        who = self.require(request, form)
        if not who.site_admin or who.token_org is not None:
            raise NotFound("no such page")
        message = None
        if form is not None:
            org_id, name = str(form.get("id") or "").strip(), str(form.get("name") or "").strip()
            create_org(self.accounts, org_id, name, str(form.get("email") or "").strip())
            self._audit(request, who, "organisation created", org_id, detail=name)
            message = org_id
        unowned = sorted({v.collection for v in self.store.collections()} - set(self.accounts.owners()))
        return self.render(request, "admin.html", who=who, orgs=self.accounts.orgs(),
                           created=message, unowned=unowned)

    # -- API -------------------------------------------------------------------------------------
    @staticmethod
    async def _body(request: Request, limit: int, what: str = "the body") -> bytes:
        """The request body, refused (413) as soon as it is known to exceed ``limit``."""
        too_large = BodyTooLarge(f"{what} is larger than {limit:,} bytes")
        if int(request.headers.get("content-length") or 0) > limit:
            raise too_large
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks)

    async def _json(self, request: Request) -> dict[str, Any]:
        body = await self._body(request, MAX_JSON)
        try:
            data = json.loads(body or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise UsageError("the body is not JSON") from None
        if not isinstance(data, dict):
            raise UsageError("the body must be a JSON object")
        return data

    async def _who(self, request: Request) -> Principal:
        return await run_in_threadpool(self.require, request)

    async def a_uploads(self, request: Request) -> Response:
        if request.method == "GET":  # the caller's unfinished uploads (to resume one)
            who = await self._who(request)
            org = request.query_params.get("org", "")
            rows = await run_in_threadpool(self.accounts.uploads, org, who.user_id)
            return JSONResponse({"uploads": [self._upload_json(r) for r in rows]})
        data = await self._json(request)
        who = await self._who(request)
        out = await run_in_threadpool(self.op_new_upload, request, who, str(data.get("org") or ""),
                                      str(data.get("filename") or ""), data.get("size"))
        return JSONResponse(out, 201, headers={"location": out["location"]})

    async def a_upload(self, request: Request) -> Response:
        who = await self._who(request)
        row = await run_in_threadpool(self._upload_row, who, request.path_params["uid"])
        if request.method in ("GET", "HEAD"):
            out = self._upload_json(row)
            headers = {"upload-offset": str(out["offset"]), "upload-length": str(row["size"])}
            if request.method == "HEAD":
                return Response(status_code=200, headers=headers)
            return JSONResponse(out, headers=headers)
        if row["completed"]:
            raise Conflict("the upload is complete")
        try:
            offset = int(request.headers.get("upload-offset", ""))
        except ValueError:
            raise UsageError("send the Upload-Offset header (HEAD tells how many bytes arrived)") from None
        path = self._upload_file(row)
        have = await uploads.append(path, offset, row["size"], request.stream())
        done = have == row["size"]
        await run_in_threadpool(self.accounts.set_received, row["id"], have, done)
        if done:
            digest = await run_in_threadpool(_sha256, path)
            await run_in_threadpool(self._audit, request, who, "upload complete", row["org_id"],
                                    checksum=digest, detail=row["filename"])
        return Response(status_code=204, headers={"upload-offset": str(have)})

    async def a_jobs(self, request: Request) -> Response:
        data = await self._json(request)
        who = await self._who(request)
        out = await run_in_threadpool(self.op_new_job, request, who, str(data.get("upload") or ""),
                                      str(data.get("collection") or ""), data)
        return JSONResponse(out, 202, headers={"location": out["links"]["self"]})

    async def a_job(self, request: Request) -> Response:
        who = await self._who(request)
        job = await run_in_threadpool(self._job, who, request.path_params["jid"])
        return JSONResponse(self._job_json(job))

    async def a_rerun(self, request: Request) -> Response:
        data = await self._json(request)
        who = await self._who(request)
        out = await run_in_threadpool(self.op_rerun, request, who, request.path_params["jid"], data)
        return JSONResponse(out, 202)

    async def a_publish(self, request: Request) -> Response:
        data = await self._json(request)
        who = await self._who(request)
        fields = data.get("passport")
        if fields is not None and not isinstance(fields, dict):
            raise UsageError("passport must be an object of the passport form's fields")
        out = await run_in_threadpool(self.op_publish, request, who, request.path_params["jid"], fields)
        return JSONResponse(out)

    async def a_versions(self, request: Request) -> Response:
        who = await self._who(request)
        cid = request.path_params["cid"]

        def versions() -> list[dict[str, Any]]:
            self._owned(who, cid)
            return [{"version": v.version, "created": v.created, "features": v.feature_count,
                     "quarantined": v.quarantined, "sha256": v.sha256, "published": v.published,
                     "pruned": v.pruned}
                    for v in self.store.history(cid)]

        return JSONResponse({"collection": cid, "versions": await run_in_threadpool(versions)})

    async def a_rollback(self, request: Request) -> Response:
        data = await self._json(request)
        who = await self._who(request)
        out = await run_in_threadpool(self.op_rollback, request, who, request.path_params["cid"],
                                      data.get("version"))
        return JSONResponse(out)

    async def a_items(self, request: Request) -> Response:
        """Part 4: POST a feature to items; PUT, PATCH or DELETE one item. Only on collections
        whose manifest says ``editable: true``, only by the owning organisation's people; each
        accepted write is a new version. ``If-Match`` (the item's ETag) makes it conditional."""
        from geo_publish.store import features as ft

        cid, fid = request.path_params["cid"], request.path_params.get("fid")
        method = request.method
        kind = {"POST": "create", "PUT": "replace", "PATCH": "update", "DELETE": "delete"}[method]
        if (fid is None) != (kind == "create"):
            raise MethodNotAllowed(f"{method} is not allowed here", "GET, HEAD, OPTIONS" if fid else
                                   "GET, HEAD, POST, OPTIONS")
        manifest = await run_in_threadpool(self._editable, cid, fid is None)
        who = await self._who(request)
        org = await run_in_threadpool(self.accounts.owner, cid)
        if not who.can_publish(org):
            raise Refused(403, f"{cid} belongs to another organisation")
        body = b""
        if kind != "delete":
            ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
            allowed = _FEATURE_TYPES + (("application/merge-patch+json",) if kind == "update" else ())
            if ctype not in allowed:
                raise UnsupportedMediaType(f"send the feature as {' or '.join(allowed)} (got {ctype or 'none'})")
            crs = request.headers.get("content-crs", "").strip("<> ")
            if crs and crs not in _CRS84:
                raise UsageError("Content-Crs: features are written in CRS84 (longitude, latitude)")
            body = await self._body(request, self.settings.server.max_body_bytes, "the feature")
        try:
            doc = json.loads(body) if body else None
        except (ValueError, UnicodeDecodeError):
            raise UsageError("the body is not JSON") from None
        id_field = manifest.schema_.id_field
        edit = ft.parse_feature(doc, kind, fid, request.headers.get("if-match"), id_field)
        checksum = hashlib.sha256(body or f"DELETE {cid}/{fid}".encode()).hexdigest()
        (applied,) = await run_in_threadpool(self.store.edit, cid, [edit], id_field, checksum)
        await run_in_threadpool(self._audit, request, who, f"feature {kind}d",
                                org, collection=cid, version=applied.version, checksum=checksum,
                                detail=f"{id_field or 'fid'} {applied.key}")
        headers = {"etag": applied.etag} if applied.etag else {}
        base = (self.settings.server.url or "").rstrip("/")
        if kind == "create":
            headers["location"] = f"{base}/collections/{cid}/items/{urlquote(applied.key, safe='')}"
            return Response(status_code=201, headers=headers)
        return Response(status_code=204, headers=headers)

    def _editable(self, cid: str, collection_path: bool) -> Manifest:
        check_collection_id(cid)
        manifest = load_manifest(self.settings.path(self.settings.collections_dir), cid)
        if manifest is None or not manifest.editable:
            allow = "GET, HEAD, POST, OPTIONS" if collection_path else "GET, HEAD, OPTIONS"
            raise MethodNotAllowed(f"{cid} is read-only (its manifest does not say editable: true)",
                                   allow)
        return manifest

    # -- problem reports ---------------------------------------------------------------------
    async def a_feedback(self, request: Request) -> Response:
        """Anyone may report a problem (POST, JSON or a form) and read a layer's reports (GET)."""
        cid = request.path_params["cid"]
        check_collection_id(cid)
        if request.method == "GET":
            if _wants_html(request):
                return await run_in_threadpool(self._public_reports, request, cid)
            return JSONResponse(await run_in_threadpool(feedback.public, self.accounts, cid))
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype == "application/json":
            data: Any = await self._json(request)
        elif ctype == "application/x-www-form-urlencoded":
            if int(request.headers.get("content-length") or 0) > MAX_JSON:
                raise BodyTooLarge(f"the report is larger than {MAX_JSON} bytes")
            data = {k: v for k, v in (await request.form(max_files=0, max_fields=20)).items()
                    if isinstance(v, str)}
        else:
            raise UnsupportedMediaType("send the report as application/json or "
                                       "application/x-www-form-urlencoded")
        out = await run_in_threadpool(feedback.submit, self.settings, self.accounts, self.store,
                                      cid, data, self.address(request), self.settings.server.url or "")
        return JSONResponse(out, 201)

    def _public_reports(self, request: Request, cid: str) -> Response:
        """A layer's public page of reports: what was reported, its status (to the version that
        fixed it) and the answer; never an e-mail. No session: a citizen's page sets no cookie."""
        from geo_publish import freshness
        from geo_publish.publish.viewer.i18n import UI

        try:  # (the store's own message names its file: not for the public)
            info = self.store.version(cid)
            passport = self.store.passport(cid, info.version)
        except NotFound:
            raise NotFound(f"no published collection {cid!r}") from None
        lang = pick(request.headers.get("accept-language", ""), request.query_params.get("lang"))
        title = passport.get("title") or {}
        html = self.env.get_template("public_reports.html").render(
            lang=lang, langs=NAMES, t=lambda key: T[key][lang], ui=lambda key: UI[key][lang],
            cid=cid, title=title.get(lang) or title.get("en") or cid, passport=passport,
            fresh=freshness.rate(passport.get("update_frequency"), info.created),
            data=feedback.public(self.accounts, cid))
        return Response(html, media_type="text/html; charset=utf-8",
                        headers={"cache-control": "no-cache", "vary": "Accept, Accept-Language"})

    def _feedback_row(self, who: Principal, fid: str) -> dict[str, Any]:
        row = self.accounts.feedback(fid)
        if row is None or not who.can_publish(self.accounts.owner(row["collection"])):
            raise NotFound("no such report")
        return row

    def _reports(self, who: Principal) -> list[dict[str, Any]]:
        owners = self.accounts.owners()
        mine = [c for c, org in owners.items() if who.can_publish(org)]
        return self.accounts.feedback_of(mine)

    def op_answer(self, request: Request, who: Principal, row: dict[str, Any],
                  fields: dict[str, Any]) -> dict[str, Any]:
        """Answer a report of the caller's organisation and move it on; in the audit log."""
        version = fields.get("fixed_version")
        row = feedback.answer(self.accounts, self.store, row["id"], str(fields.get("status") or ""),
                              str(fields.get("answer") or ""), None if version == "" else version)
        self._audit(request, who, f"report {row['status']}", self.accounts.owner(row["collection"]),
                    collection=row["collection"], version=row["fixed_version"], detail=row["id"])
        return row

    def h_feedback_list(self, request: Request, form: FormData | None) -> Response:
        who = self.require(request)
        return self.render(request, "feedback_list.html", who=who, reports=self._reports(who),
                           categories=feedback.CATEGORIES)

    def h_feedback(self, request: Request, form: FormData | None) -> Response:
        who = self.require(request, form)
        row = self._feedback_row(who, request.path_params["fid"])
        error = None
        if form is not None:
            try:
                row = self.op_answer(request, who, row, dict(form))
            except (UsageError, NotFound) as err:
                error = err.one_line()
        try:
            versions = [v.version for v in self.store.history(row["collection"])]
        except NotFound:
            versions = []
        return self.render(request, "feedback.html", status=400 if error else 200, who=who, r=row,
                           error=error, categories=feedback.CATEGORIES, versions=versions,
                           next_statuses=sorted(feedback.NEXT[row["status"]]))

    async def a_feedback_list(self, request: Request) -> Response:
        who = await self._who(request)
        return JSONResponse({"reports": await run_in_threadpool(self._reports, who)})

    async def a_feedback_answer(self, request: Request) -> Response:
        data = await self._json(request)
        who = await self._who(request)

        def work() -> dict[str, Any]:
            return self.op_answer(request, who, self._feedback_row(who, request.path_params["fid"]), data)

        return JSONResponse(await run_in_threadpool(work))

    async def a_audit(self, request: Request) -> Response:
        who = await self._who(request)
        org = request.query_params.get("org", "")
        if not who.can_admin(org):
            raise NotFound(f"no organisation {org!r} you administer")
        rows = await run_in_threadpool(self.accounts.audit_log, org)
        return JSONResponse({"org": org, "entries": rows})


_CODES = {400: "InvalidParameterValue", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
          405: "MethodNotAllowed", 409: "Conflict", 415: "UnsupportedMediaType", 412: "PreconditionFailed", 413: "PayloadTooLarge", 429: "TooManyRequests",
          503: "ServiceUnavailable"}
_FEATURE_TYPES = ("application/geo+json", "application/json")
_CRS84 = ("http://www.opengis.net/def/crs/OGC/1.3/CRS84", "OGC:CRS84")
_CRS = re.compile(r"^[A-Za-z0-9:_.\- +=,]{1,100}$")


def _wants_html(request: Request) -> bool:
    """``f=html``, or a browser's Accept (HTML before JSON); scripts get JSON."""
    f = request.query_params.get("f")
    if f:
        return f == "html"
    accept = request.headers.get("accept", "").lower()
    html, json_at = accept.find("text/html"), accept.find("json")
    return html >= 0 and (json_at < 0 or html < json_at)


def _options(data: dict[str, Any]) -> dict[str, str]:
    """The officer's overrides, checked: a known encoding, a plausible CRS text, a layer name."""
    out: dict[str, str] = {}
    enc = str(data.get("encoding") or "").strip()
    if enc:
        try:
            codecs.lookup(enc)
        except LookupError:
            raise UsageError(f"encoding {enc[:40]!r} is not one this server knows") from None
        out["encoding"] = enc
    crs = str(data.get("crs") or "").strip()
    if crs:
        if not _CRS.match(crs):
            raise UsageError("crs must be like EPSG:28406 (or a PROJ string)")
        out["crs"] = crs
    layer = str(data.get("layer") or "").strip()
    if layer:
        if len(layer) > 200:
            raise UsageError("layer is longer than 200 characters")
        out["layer"] = layer
    return out


def _require_passport(manifest: Manifest) -> None:
    """What a layer needs before the public sees it: a title and a person to answer for it."""
    p = manifest.passport
    missing = [name for name, value in (
        ("title", any(manifest.title.values())), ("organization", p.organization),
        ("responsible_name", p.responsible.name), ("responsible_email", p.responsible.email),
        ("license", p.license)) if not value]
    if missing:
        raise UsageError(f"the passport needs: {', '.join(missing)}")


def _form_values(manifest: Manifest | None, cid: str, org_name: str) -> dict[str, str]:
    m = manifest or template(cid, SourceSpec())
    p = m.passport
    out = {f"title_{lang}": m.title.get(lang, "") for lang in LANGS}
    out |= {f"description_{lang}": m.description.get(lang, "") for lang in LANGS}
    out |= {"keywords": ", ".join(m.keywords), "organization": p.organization or org_name,
            "responsible_name": p.responsible.name, "responsible_email": p.responsible.email,
            "responsible_phone": p.responsible.phone, "license": p.license,
            "update_frequency": p.update_frequency, "lineage": p.lineage,
            "id_field": m.schema_.id_field or ""}
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_ORG_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def create_org(accounts: Any, org_id: str, name: str, email: str = "") -> None:
    if not _ORG_ID.match(org_id):
        raise UsageError(f"organisation id {org_id[:70]!r} is not allowed",
                         hint="lower-case letters, digits, '_' and '-', up to 63")
    if not name or len(name) > 300:
        raise UsageError("the organisation needs a name (up to 300 characters)")
    if accounts.org(org_id) is not None:
        raise UsageError(f"organisation {org_id!r} exists already")
    accounts.create_org(org_id, name, email[:254])


def send_password_link(accounts: Any, settings: Settings, user: dict[str, Any], kind: str,
                       lang: str = "uz") -> None:
    """Mail (through the outbox) a one-time link that sets ``user``'s password (kind: invite or
    reset). The link is made from server.url, never from a request's Host (which an attacker
    chooses)."""
    from geo_publish.mail import message_id
    from geo_publish.publish.config import public_url

    token = auth.issue_password_link(accounts, user["id"], kind)
    url = f"{public_url(settings)}/publish/password/{token}"
    accounts.enqueue(message_id(f"password.{kind}", auth.token_digest(token)[:24]), user["email"],
                     T[f"mail_{kind}_subject"][lang], f"{T[f'mail_{kind}'][lang]}\n\n{url}\n")


_EMAIL = re.compile(r"^[^@\s<>\"']{1,64}@[^@\s<>\"']{1,190}$")


def add_person(accounts: Any, org: str, email: str, name: str, role: str | None,
               password: str | None = None) -> str | None:
    """Give a person a role in ``org`` (None: remove them), creating their account if it is new.
    Returns the new account's first password (generated unless given), else None."""
    if not _EMAIL.match(email):
        raise UsageError(f"{email[:80]!r} is not an e-mail address")
    if role is not None and role not in ("publisher", "admin"):
        raise UsageError("role must be publisher or admin")
    user = accounts.user_by_email(email)
    first = None
    if user is None:
        if role is None:
            raise NotFound(f"no person {email!r}")
        if not name or len(name) > 200:
            raise UsageError("a new person needs a name (up to 200 characters)")
        first = password or auth.new_password()
        uid = accounts.create_user(email, name, auth.hash_password(first))
    else:
        uid = user["id"]
    accounts.set_member(uid, org, role)
    return first if password is None else None
