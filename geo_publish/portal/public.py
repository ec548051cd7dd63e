"""What the public does with the portal: report a problem with a layer (``POST /feedback/{id}``,
JSON or a form, anonymous, limited per address) and read a layer's reports (``GET``, JSON or a
page in their language; never an e-mail, no session, no cookie)."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from geo_publish import feedback
from geo_publish.errors import BodyTooLarge, NotFound, UnsupportedMediaType
from geo_publish.manifest import check_collection_id
from geo_publish.portal.i18n import NAMES, T, pick
from geo_publish.portal.requests import MAX_JSON, Part, address, read_json, wants_html


class Public(Part):
    async def a_feedback(self, request: Request) -> Response:
        """Anyone may report a problem (POST, JSON or a form) and read a layer's reports (GET)."""
        cid = request.path_params["cid"]
        check_collection_id(cid)
        if request.method == "GET":
            if wants_html(request):
                return await run_in_threadpool(self._public_reports, request, cid)
            return JSONResponse(await run_in_threadpool(feedback.public, self.accounts, cid))
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype == "application/json":
            data: Any = await read_json(request)
        elif ctype == "application/x-www-form-urlencoded":
            if int(request.headers.get("content-length") or 0) > MAX_JSON:
                raise BodyTooLarge(f"the report is larger than {MAX_JSON} bytes")
            data = {k: v for k, v in (await request.form(max_files=0, max_fields=20)).items()
                    if isinstance(v, str)}
        else:
            raise UnsupportedMediaType("send the report as application/json or "
                                       "application/x-www-form-urlencoded")
        out = await run_in_threadpool(feedback.submit, self.settings, self.accounts, self.store,
                                      cid, data, address(request), self.settings.server.url or "")
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
        html = self.web.env.get_template("public_reports.html").render(
            lang=lang, langs=NAMES, t=lambda key: T[key][lang], ui=lambda key: UI[key][lang],
            cid=cid, title=title.get(lang) or title.get("en") or cid, passport=passport,
            fresh=freshness.rate(passport.get("update_frequency"), info.created),
            data=feedback.public(self.accounts, cid))
        return Response(html, media_type="text/html; charset=utf-8",
                        headers={"cache-control": "no-cache", "vary": "Accept, Accept-Language"})
