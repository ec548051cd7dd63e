"""The portal's HTML pages (``/publish/...``): each a method ``h_*(request, form)`` run on a worker
thread by ``Portal.page`` (which reads the form, bounded, and turns errors into a page)."""

from __future__ import annotations

import time
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from geo_publish import feedback
from geo_publish.errors import NotFound, Refused, UsageError
from geo_publish.http.errors import describe
from geo_publish.manifest import load_manifest
from geo_publish.portal import auth
from geo_publish.portal.auth import Principal
from geo_publish.portal.i18n import T
from geo_publish.portal.ops import form_values
from geo_publish.portal.people import add_person, create_org, send_password_link
from geo_publish.portal.requests import Part, address
from geo_publish.portal.session import STALE, csrf_ok


class Pages(Part):
    def h_home(self, request: Request, form: FormData | None) -> Response:
        who = self.sessions.require(request)
        owners = self.accounts.owners()
        orgs = [(o, self.accounts.org(o), who.role(o)) for o in who.orgs(self.accounts)]
        published = {v.collection: v for v in self.store.collections()}
        layers = {o: sorted(c for c, org in owners.items() if org == o) for o, _, _ in orgs}
        jobs = [j for o, _, _ in orgs for j in self.accounts.jobs(o, 20)]
        jobs.sort(key=lambda j: j["created"], reverse=True)
        return self.web.render(request, "home.html", who=who, orgs=orgs, layers=layers,
                           published=published, jobs=jobs[:30])

    def h_login(self, request: Request, form: FormData | None) -> Response:
        target = request.query_params.get("next", "/publish/")
        if not target.startswith("/publish/") or "//" in target:  # no open redirect
            target = "/publish/"
        if form is None:
            return self.web.render(request, "login.html", next=target)
        if not csrf_ok(request, form):
            return self.web.render(request, "login.html", status=403, next=target,
                               error=STALE)
        email, password = str(form.get("email") or "")[:254], str(form.get("password") or "")[:1024]
        try:
            who = auth.login(self.accounts, email, password, address(request))
        except Refused as err:
            return self.web.render(request, "login.html", status=err.status, next=target,
                               error=err.message, email=email)
        self.sessions.begin(request, who)
        self.ops.audit(address(request), who, "sign in", None)
        return RedirectResponse(target, 303)

    def h_forgot(self, request: Request, form: FormData | None) -> Response:
        """A link to set a new password, by mail; the same answer whether the address has an
        account or not."""
        if form is None:
            return self.web.render(request, "password_forgot.html")
        if not csrf_ok(request, form):
            return self.web.render(request, "password_forgot.html", status=403,
                               error=STALE)
        email = str(form.get("email") or "").strip()[:254]
        t = time.time()
        if not self.accounts.take({f"reset:{email.lower()}": 3, f"reset-from:{address(request)}": 10},
                                  t, t - auth.THROTTLE_WINDOW):  # (the window old entries are kept)
            raise Refused(429, "too many requests for a password link; try again in 15 minutes")
        user = self.accounts.user_by_email(email) if email else None
        if user is not None and not user["disabled"]:
            send_password_link(self.accounts, self.settings, user, "reset", self.web.lang(request))
            self.accounts.audit("password link sent", user_id=user["id"], org_id=None,
                                address=address(request))
        return self.web.render(request, "password_forgot.html", sent=True, no_mail=not self.settings.mail.host)

    def h_set_password(self, request: Request, form: FormData | None) -> Response:
        """The page a password link opens: a new password, set once."""
        token = request.path_params["token"]
        row = auth.password_link(self.accounts, token)
        user = self.accounts.user(row["user_id"]) or {}
        ctx = {"email": user.get("email", ""), "min_length": auth.MIN_PASSWORD}
        if form is not None:
            error = None
            password = str(form.get("password") or "")[:1024]
            if not csrf_ok(request, form):
                error, status = STALE, 403
            elif password != str(form.get("again") or "")[:1024]:
                error, status = T["not_same"][self.web.lang(request)], 400
            if error is None:
                try:
                    user = auth.set_password_by_link(self.accounts, token, password)
                except UsageError as err:
                    error, status = err.one_line(), 400
            if error is not None:
                response = self.web.render(request, "password_set.html", status=status, error=error, **ctx)
            else:
                self.accounts.audit("password set", user_id=user["id"], org_id=None,
                                    address=address(request), detail=row["kind"])
                request.session.clear()  # whoever was signed in here: sign in again
                response = self.web.render(request, "message_ok.html", message=T["password_set"][self.web.lang(request)],
                                       link="/publish/login")
        else:
            response = self.web.render(request, "password_set.html", **ctx)
        response.headers["referrer-policy"] = "no-referrer"  # the link is in the address
        response.headers["cache-control"] = "no-store"
        return response

    def h_logout(self, request: Request, form: FormData | None) -> Response:
        who = self.sessions.require(request, form)
        row = self.sessions.row(request)
        if row is not None:
            self.accounts.end_session(row["id"])
        self.ops.audit(address(request), who, "sign out", None)
        request.session.clear()
        return RedirectResponse("/publish/login", 303)

    def h_sessions(self, request: Request, form: FormData | None) -> Response:
        """The signed-in person's open sessions (when, from where), each of which they may end."""
        who = self.sessions.require(request, form)
        row = self.sessions.row(request)
        if who.token_org is not None or row is None:
            raise NotFound("no such page")
        since = time.time() - self.settings.portal.session_idle_minutes * 60
        return self.web.render(request, "sessions.html", who=who, current=row["id"],
                           sessions=self.accounts.sessions(who.user_id, since))

    def h_end_session(self, request: Request, form: FormData | None) -> Response:
        who = self.sessions.require(request, form)
        sid = request.path_params["sid"]
        if who.token_org is not None or not self.accounts.end_session(sid, who.user_id):
            raise NotFound("no such session")  # another person's, or ended: as if it did not exist
        self.ops.audit(address(request), who, "session ended", None)
        if sid == (self.sessions.row(request) or {}).get("id"):
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
        self.ops.audit(address(request), who, "sessions ended", org, detail=f"{person.get('email', uid)} ({n})")
        return self.h_org(request, None, who, sessions_ended=person.get("email", uid))

    def h_upload_page(self, request: Request, form: FormData | None) -> Response:
        who = self.sessions.require(request)
        orgs = [o for o in who.orgs(self.accounts) if who.can_publish(o)]
        owners = self.accounts.owners()
        return self.web.render(request, "upload.html", who=who, orgs=[(o, self.accounts.org(o)) for o in orgs],
                           layers=sorted(c for c, o in owners.items() if o in orgs),
                           chosen=request.query_params.get("collection", ""),
                           max_bytes=self.settings.portal.max_upload_bytes)

    def h_job(self, request: Request, form: FormData | None, who: Principal | None = None,
              **extra: Any) -> Response:
        who = who or self.sessions.require(request)
        job = self.ops.job(who, request.path_params["jid"])
        manifest = load_manifest(self.settings.path(self.settings.collections_dir), job["collection"])
        org = self.accounts.org(job["org_id"]) or {"name": job["org_id"]}
        upload = self.accounts.upload(job["upload_id"])
        values = extra.pop("values", None) or form_values(manifest, job["collection"], org["name"])
        status = extra.pop("status", 200)
        return self.web.render(request, "job.html", status=status, who=who, job=job, upload=upload,
                           values=values, report=(job["result"] or {}).get("report"), org=org,
                           map_problem=self._map_problem(job["collection"], job["version"]), **extra)

    def _map_problem(self, cid: str, version: int | None) -> dict[str, Any] | None:
        """Why the served map draws version ``version`` of ``cid`` otherwise than styled, if it does."""
        from geo_publish.publish.viewer.problems import map_problems

        problem = map_problems(self.settings).get(cid)
        return problem if problem and version is not None and problem.get("version") == version else None

    def h_rerun(self, request: Request, form: FormData | None) -> Response:
        who = self.sessions.require(request, form)
        jid = request.path_params["jid"]
        self.ops.rerun(address(request), who, jid, dict(form or {}))
        return RedirectResponse(f"/publish/jobs/{jid}", 303)

    def h_publish(self, request: Request, form: FormData | None) -> Response:
        who = self.sessions.require(request, form)
        jid = request.path_params["jid"]
        fields = {k: v for k, v in (form or {}).items() if isinstance(v, str) and k != "csrf"}
        try:
            out = self.ops.publish(address(request), who, jid, fields)
        except (UsageError, ValidationError) as err:
            _, _, text = describe(err)
            return self.h_job(request, None, who, values=fields, error=text, status=400)
        return RedirectResponse(f"/publish/collections/{out['collection']}?published={out['version']}", 303)

    def h_collection(self, request: Request, form: FormData | None) -> Response:
        who = self.sessions.require(request)
        cid = request.path_params["cid"]
        org = self.ops.owned(who, cid)
        try:
            history = self.store.history(cid)
        except NotFound:
            history = []
        drafts = {j["version"]: j for j in self.accounts.jobs(org, 200)
                  if j["collection"] == cid and j["status"] == "ready"}
        current = next((v.version for v in history if v.published), None)
        return self.web.render(request, "collection.html", who=who, cid=cid, history=history[::-1],
                           drafts=drafts, org=self.accounts.org(org),
                           map_problem=self._map_problem(cid, current),
                           published=request.query_params.get("published"))

    def h_rollback(self, request: Request, form: FormData | None) -> Response:
        who = self.sessions.require(request, form)
        cid = request.path_params["cid"]
        out = self.ops.rollback(address(request), who, cid, (form or {}).get("version"))
        return RedirectResponse(f"/publish/collections/{cid}?published={out['version']}", 303)

    def _org_for(self, who: Principal, org: str) -> dict[str, Any]:
        row = self.accounts.org(org)
        if row is None or who.role(org) is None:
            raise NotFound(f"no organisation {org!r} among yours")
        return row

    def h_org(self, request: Request, form: FormData | None, who: Principal | None = None,
              **extra: Any) -> Response:
        who = who or self.sessions.require(request)
        org = request.path_params["org"]
        row = self._org_for(who, org)
        admin = who.can_admin(org)
        tokens = [t for t in self.accounts.tokens(org) if admin or t["email"] == who.email]
        return self.web.render(request, "org.html", who=who, org=row, admin=admin, tokens=tokens,
                           members=self.accounts.members(org) if admin else [],
                           audit=self.accounts.audit_log(org) if admin else [], **extra)

    def _org_form(self, request: Request, form: FormData | None, admin: bool) -> tuple[Principal, str, FormData]:
        """Who posts a form of an organisation's page, which organisation, and the form; 404
        outside their organisations, 403 without the role the form needs."""
        who = self.sessions.require(request, form)
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
        self.ops.audit(address(request), who, "person added" if role else "person removed", org,
                    detail=f"{email} {role or ''}".strip())
        if password is not None and self.settings.mail.host:  # they set it themselves, by mail
            send_password_link(self.accounts, self.settings, self.accounts.user_by_email(email), "invite", self.web.lang(request))
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
        self.ops.audit(address(request), who, "token created", org, detail=f"{name} ({tid}, {days} days)")
        return self.h_org(request, None, who, new_token=token)

    def h_revoke(self, request: Request, form: FormData | None) -> Response:
        who = self.sessions.require(request, form)
        org, tid = request.path_params["org"], request.path_params["tid"]
        self._org_for(who, org)
        row = self.accounts.token(tid)
        mine = row is not None and row["user_id"] == who.user_id
        if row is None or row["org_id"] != org or not (mine or who.can_admin(org)):
            raise NotFound("no such token")
        self.accounts.revoke_token(tid)
        self.ops.audit(address(request), who, "token revoked", org, detail=f"{row['name']} ({tid})")
        return RedirectResponse(f"/publish/orgs/{org}", 303)

    def h_admin(self, request: Request, form: FormData | None) -> Response:
        who = self.sessions.require(request, form)
        if not who.site_admin or who.token_org is not None:
            raise NotFound("no such page")
        message = None
        if form is not None:
            org_id, name = str(form.get("id") or "").strip(), str(form.get("name") or "").strip()
            create_org(self.accounts, org_id, name, str(form.get("email") or "").strip())
            self.ops.audit(address(request), who, "organisation created", org_id, detail=name)
            message = org_id
        unowned = sorted({v.collection for v in self.store.collections()} - set(self.accounts.owners()))
        return self.web.render(request, "admin.html", who=who, orgs=self.accounts.orgs(),
                           created=message, unowned=unowned)

    def h_feedback_list(self, request: Request, form: FormData | None) -> Response:
        who = self.sessions.require(request)
        return self.web.render(request, "feedback_list.html", who=who, reports=self.ops.reports(who),
                           categories=feedback.CATEGORIES)

    def h_feedback(self, request: Request, form: FormData | None) -> Response:
        who = self.sessions.require(request, form)
        row = self.ops.feedback_row(who, request.path_params["fid"])
        error = None
        if form is not None:
            try:
                row = self.ops.answer(address(request), who, row, dict(form))
            except (UsageError, NotFound) as err:
                error = err.one_line()
        try:
            versions = [v.version for v in self.store.history(row["collection"])]
        except NotFound:
            versions = []
        return self.web.render(request, "feedback.html", status=400 if error else 200, who=who, r=row,
                           error=error, categories=feedback.CATEGORIES, versions=versions,
                           next_statuses=sorted(feedback.NEXT[row["status"]]))
