"""Who is asking the portal, and whether a form is theirs.

A session is a signed HttpOnly cookie (SameSite=Lax, Secure over https) holding a random
secret whose SHA-256 names the session's row in the store, so that sign-out, a new password,
an admin or idleness end it on every worker at once; or a bearer token. Every state-changing
request made with a session carries the session's CSRF token (form field ``csrf`` or header
``X-CSRF-Token``) and, when the browser sends one, an ``Origin`` of this server: one check,
``csrf_ok``, for signed-in and anonymous forms alike."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request

from geo_publish.errors import Refused
from geo_publish.portal import auth
from geo_publish.portal.auth import Principal
from geo_publish.portal.requests import address
from geo_publish.settings import Settings

SESSION_COOKIE = "gp_session"



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
        time.sleep(0.2)
        key = path.read_text().strip()
    return key


def digest(secret: str) -> str:
    """What the store keeps of a session's secret: its SHA-256 (the secret is 256 random bits)."""
    return hashlib.sha256(secret.encode()).hexdigest()


STALE = "the form's security token is missing or stale; reload the page"


def csrf_problem(request: Request, form: FormData | None) -> str | None:
    """Why a state-changing request by session (or an anonymous form: sign-in, password links)
    is not this site's own, or None: its CSRF token (form field or header) must be the
    session's, and its Origin, when the browser sends one, this server."""
    sent = (form.get("csrf") if form is not None else None) or request.headers.get("x-csrf-token")
    if not isinstance(sent, str) or not hmac.compare_digest(sent, request.session.get("csrf", "")):
        return STALE
    origin = request.headers.get("origin")
    if origin and origin.split("://", 1)[-1] != request.headers.get("host", ""):
        return "a request from another site was refused"
    return None


def csrf_ok(request: Request, form: FormData | None) -> bool:
    return csrf_problem(request, form) is None


class Sessions:
    def __init__(self, settings: Settings, accounts: Any) -> None:
        self.settings = settings
        self.accounts = accounts

    def who(self, request: Request) -> Principal | None:
        header = request.headers.get("authorization")
        if header is not None:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Refused(401, "send the token as `Authorization: Bearer gpt_...`")
            return auth.from_token(self.accounts, token)
        row = self.row(request)
        if row is None:
            return None
        user = self.accounts.user(row["user_id"])
        if user is None or user["disabled"]:
            request.session.clear()
            return None
        return auth.principal(self.accounts, user)

    def row(self, request: Request) -> dict[str, Any] | None:
        """The server's row of this browser's session, while it is open: the cookie holds only a
        random secret, so sign-out, a new password, an admin, or ``session_idle_minutes`` without
        a request end it on every worker at once, and a copied cookie opens nothing after that."""
        if "session_row" in request.scope:
            return request.scope["session_row"]  # type: ignore[no-any-return]
        secret = request.session.get("sid")
        row = self.accounts.session_by_hash(digest(secret)) if isinstance(secret, str) else None
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
            problem = csrf_problem(request, form)
            if problem:
                raise Refused(403, problem)
        return who

    async def require_async(self, request: Request) -> Principal:
        return await run_in_threadpool(self.require, request)

    def begin(self, request: Request, who: Principal) -> None:
        """A new session for ``who`` (signed in): nothing of the anonymous one carries over but
        the language."""
        lang = request.session.get("lang")
        request.session.clear()
        secret = secrets.token_urlsafe(32)
        self.accounts.create_session(who.user_id, digest(secret), time.time(), address(request),
                                     request.headers.get("user-agent", ""))
        request.session.update(sid=secret, csrf=secrets.token_urlsafe(24), **({"lang": lang} if lang else {}))
