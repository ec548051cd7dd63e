"""The portal's JSON API for scripts (``/publish/api/...``), with a bearer token or a session
(and its CSRF token): uploads resumable by offset, jobs, publish, versions, rollback, reports,
the audit log. Errors are ``{"code", "description"}`` with their status (``Portal.api``)."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from geo_publish.errors import Conflict, NotFound, UsageError
from geo_publish.portal import uploads
from geo_publish.portal.ops import sha256_of
from geo_publish.portal.requests import Part, address, read_json


class Api(Part):
    async def a_uploads(self, request: Request) -> Response:
        if request.method == "GET":  # the caller's unfinished uploads (to resume one)
            who = await self.sessions.require_async(request)
            org = request.query_params.get("org", "")
            rows = await run_in_threadpool(self.accounts.uploads, org, who.user_id)
            return JSONResponse({"uploads": [self.ops.upload_json(r) for r in rows]})
        data = await read_json(request)
        who = await self.sessions.require_async(request)
        out = await run_in_threadpool(self.ops.new_upload, address(request), who, str(data.get("org") or ""),
                                      str(data.get("filename") or ""), data.get("size"))
        return JSONResponse(out, 201, headers={"location": out["location"]})

    async def a_upload(self, request: Request) -> Response:
        who = await self.sessions.require_async(request)
        row = await run_in_threadpool(self.ops.upload_row, who, request.path_params["uid"])
        if request.method in ("GET", "HEAD"):
            out = self.ops.upload_json(row)
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
        path = self.ops.upload_file(row)
        have = await uploads.append(path, offset, row["size"], request.stream())
        done = have == row["size"]
        await run_in_threadpool(self.accounts.set_received, row["id"], have, done)
        if done:
            digest = await run_in_threadpool(sha256_of, path)
            await run_in_threadpool(self.ops.audit, address(request), who, "upload complete", row["org_id"],
                                    checksum=digest, detail=row["filename"])
        return Response(status_code=204, headers={"upload-offset": str(have)})

    async def a_jobs(self, request: Request) -> Response:
        data = await read_json(request)
        who = await self.sessions.require_async(request)
        out = await run_in_threadpool(self.ops.new_job, address(request), who, str(data.get("upload") or ""),
                                      str(data.get("collection") or ""), data)
        return JSONResponse(out, 202, headers={"location": out["links"]["self"]})

    async def a_job(self, request: Request) -> Response:
        who = await self.sessions.require_async(request)
        job = await run_in_threadpool(self.ops.job, who, request.path_params["jid"])
        return JSONResponse(self.ops.job_json(job))

    async def a_rerun(self, request: Request) -> Response:
        data = await read_json(request)
        who = await self.sessions.require_async(request)
        out = await run_in_threadpool(self.ops.rerun, address(request), who, request.path_params["jid"], data)
        return JSONResponse(out, 202)

    async def a_publish(self, request: Request) -> Response:
        data = await read_json(request)
        who = await self.sessions.require_async(request)
        fields = data.get("passport")
        if fields is not None and not isinstance(fields, dict):
            raise UsageError("passport must be an object of the passport form's fields")
        out = await run_in_threadpool(self.ops.publish, address(request), who, request.path_params["jid"], fields)
        return JSONResponse(out)

    async def a_versions(self, request: Request) -> Response:
        who = await self.sessions.require_async(request)
        cid = request.path_params["cid"]

        def versions() -> list[dict[str, Any]]:
            self.ops.owned(who, cid)
            return [{"version": v.version, "created": v.created, "features": v.feature_count,
                     "quarantined": v.quarantined, "sha256": v.sha256, "published": v.published,
                     "pruned": v.pruned}
                    for v in self.store.history(cid)]

        return JSONResponse({"collection": cid, "versions": await run_in_threadpool(versions)})

    async def a_rollback(self, request: Request) -> Response:
        data = await read_json(request)
        who = await self.sessions.require_async(request)
        out = await run_in_threadpool(self.ops.rollback, address(request), who, request.path_params["cid"],
                                      data.get("version"))
        return JSONResponse(out)

    async def a_feedback_list(self, request: Request) -> Response:
        who = await self.sessions.require_async(request)
        return JSONResponse({"reports": await run_in_threadpool(self.ops.reports, who)})

    async def a_feedback_answer(self, request: Request) -> Response:
        data = await read_json(request)
        who = await self.sessions.require_async(request)

        def work() -> dict[str, Any]:
            return self.ops.answer(address(request), who, self.ops.feedback_row(who, request.path_params["fid"]), data)

        return JSONResponse(await run_in_threadpool(work))

    async def a_audit(self, request: Request) -> Response:
        who = await self.sessions.require_async(request)
        org = request.query_params.get("org", "")
        if not who.can_admin(org):
            raise NotFound(f"no organisation {org!r} you administer")
        rows = await run_in_threadpool(self.accounts.audit_log, org)
        return JSONResponse({"org": org, "entries": rows})
