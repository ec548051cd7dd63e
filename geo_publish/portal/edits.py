"""OGC API - Features Part 4 on editable collections: POST a feature to items; PUT, PATCH or
DELETE one item, each accepted write a new version (``store/features.py``).

The API routes these requests here (``serve/app.py``) because who may write is the portal's
question: a bearer token or a session of the owning organisation, with the session's CSRF
token, under the portal's security headers."""

from __future__ import annotations

import hashlib
import json
from urllib.parse import quote as urlquote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from geo_publish.errors import MethodNotAllowed, Refused, UnsupportedMediaType, UsageError
from geo_publish.manifest import Manifest, check_collection_id, load_manifest
from geo_publish.portal.requests import Part, address, read_body

_FEATURE_TYPES = ("application/geo+json", "application/json")
_CRS84 = ("http://www.opengis.net/def/crs/OGC/1.3/CRS84", "OGC:CRS84")


class Edits(Part):
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
        who = await self.sessions.require_async(request)
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
            body = await read_body(request, self.settings.server.max_body_bytes, "the feature")
        try:
            doc = json.loads(body) if body else None
        except (ValueError, UnicodeDecodeError):
            raise UsageError("the body is not JSON") from None
        id_field = manifest.schema_.id_field
        edit = ft.parse_feature(doc, kind, fid, request.headers.get("if-match"), id_field)
        checksum = hashlib.sha256(body or f"DELETE {cid}/{fid}".encode()).hexdigest()
        (applied,) = await run_in_threadpool(self.store.edit, cid, [edit], id_field, checksum)
        await run_in_threadpool(self.ops.audit, address(request), who, f"feature {kind}d",
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
