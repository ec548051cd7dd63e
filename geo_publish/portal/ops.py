"""What an officer does in the portal, the same from a page, the JSON API or a script: start an
upload, check it (a job), check again, publish with a passport, roll back, answer a citizen's
report. Each takes who is asking and the address they ask from (for the audit log), never a
web request; resources of another organisation are NotFound, as if they did not exist. The
work itself is done by the same functions as the CLI's (``workflow``)."""

from __future__ import annotations

import codecs
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from geo_publish import feedback
from geo_publish.errors import Conflict, NotFound, Refused, UsageError
from geo_publish.manifest import (
    LANGS, Contact, Manifest, PassportSpec, SourceSpec, check_collection_id, load_manifest,
    template,
)
from geo_publish.portal import uploads
from geo_publish.portal.auth import Principal
from geo_publish.settings import Settings

MAX_TEXT = 2000  # longest free text in a form field (descriptions: 4x)
FREQUENCIES = ("continual", "daily", "weekly", "fortnightly", "monthly", "quarterly",
               "biannually", "annually", "asNeeded", "irregular", "notPlanned", "unknown")
LICENSES = ("CC-BY-4.0", "CC0-1.0", "ODbL-1.0", "CC-BY-SA-4.0")
_CRS = re.compile(r"^[A-Za-z0-9:_.\- +=,]{1,100}$")


class Ops:
    def __init__(self, settings: Settings, store: Any, accounts: Any) -> None:
        self.settings = settings
        self.store = store
        self.accounts = accounts
        self.uploads_dir = settings.path(settings.portal.uploads_dir)

    def audit(self, address: str, who: Principal, action: str, org: str | None, **kw: Any) -> None:
        """An entry in the organisation's audit log: who, from which address, did what."""
        self.accounts.audit(action, user_id=who.user_id, org_id=org, address=address, **kw)

    def job(self, who: Principal, jid: str) -> dict[str, Any]:
        job = self.accounts.job(jid)
        if job is None or not who.can_publish(job["org_id"]):
            raise NotFound("no such job")
        return job

    def owned(self, who: Principal, cid: str) -> str:
        check_collection_id(cid)
        org = self.accounts.owner(cid)
        if not who.can_publish(org):
            raise NotFound(f"no layer {cid!r} in your organisations")
        return org  # type: ignore[return-value]

    def new_upload(self, address: str, who: Principal, org: str, filename: str, size: Any) -> dict[str, Any]:
        if not who.can_publish(org):
            raise NotFound(f"no organisation {org!r} among yours")
        try:
            size = int(size)
        except (TypeError, ValueError):
            raise UsageError("size must be the file's size in bytes") from None
        name = uploads.check_declared(filename, size, self.settings.portal.max_upload_bytes)
        uid = self.accounts.create_upload(org, who.user_id, name, size)
        self.audit(address, who, "upload started", org, detail=f"{name} ({size} bytes)")
        return self.upload_json(self.accounts.upload(uid))  # type: ignore[arg-type]

    def upload_json(self, row: dict[str, Any]) -> dict[str, Any]:
        path = self.upload_file(row)
        return {"id": row["id"], "org": row["org_id"], "filename": row["filename"], "size": row["size"],
                "offset": path.stat().st_size if path.exists() else 0,
                "complete": bool(row["completed"]), "created": row["created"],
                "location": f"/publish/api/uploads/{row['id']}"}

    def upload_file(self, row: dict[str, Any]) -> Path:
        return self.uploads_dir / row["id"] / uploads.safe_name(row["filename"])

    def upload_row(self, who: Principal, uid: str) -> dict[str, Any]:
        row = self.accounts.upload(uid)
        if row is None or row["user_id"] != who.user_id or not who.can_publish(row["org_id"]):
            raise NotFound("no such upload")
        return row

    def new_job(self, address: str, who: Principal, upload_id: str, collection: str,
                   options: dict[str, Any]) -> dict[str, Any]:
        row = self.upload_row(who, upload_id)
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
        self.audit(address, who, "check", org, collection=collection,
                    detail=f"{row['filename']} {json.dumps(opts, ensure_ascii=False)}")
        return self.job_json(self.accounts.job(jid))  # type: ignore[arg-type]

    def rerun(self, address: str, who: Principal, jid: str, options: dict[str, Any]) -> dict[str, Any]:
        job = self.job(who, jid)
        if job["status"] in ("queued", "running"):
            raise Conflict("the job is still running")
        if job["status"] == "published":
            raise Conflict("this upload is published; upload the file again to make a new version")
        opts = _options(options)
        self.accounts.update_job(jid, status="queued", options=opts, result=None, version=None,
                                 done=0, total=None, message="")
        self.audit(address, who, "check again", job["org_id"], collection=job["collection"],
                    detail=json.dumps(opts, ensure_ascii=False))
        return self.job_json(self.accounts.job(jid))  # type: ignore[arg-type]

    def publish(self, address: str, who: Principal, jid: str,
                   fields: dict[str, Any] | None) -> dict[str, Any]:
        from geo_publish.workflow import publish_version

        job = self.job(who, jid)
        if job["status"] != "ready" or job["version"] is None:
            raise Conflict(f"the job is {job['status']}, not ready to publish")
        if self.accounts.owner(job["collection"]) != job["org_id"]:
            raise Refused(403, "the layer now belongs to another organisation")
        manifest = self._manifest(job, fields) if fields is not None else None
        if manifest is not None:
            _require_passport(manifest)
        info = publish_version(self.settings, job["collection"], job["version"], manifest)
        self.accounts.update_job(jid, status="published")
        self.audit(address, who, "publish", job["org_id"], collection=job["collection"],
                    version=info.version, checksum=info.sha256)
        return {"collection": info.collection, "version": info.version, "published": True,
                "features": info.feature_count}

    def rollback(self, address: str, who: Principal, cid: str, version: Any) -> dict[str, Any]:
        from geo_publish.workflow import publish_version

        org = self.owned(who, cid)
        try:
            version = int(version)
        except (TypeError, ValueError):
            raise UsageError("version must be a version number") from None
        info = publish_version(self.settings, cid, version)
        self.audit(address, who, "rollback", org, collection=cid, version=info.version,
                    checksum=info.sha256)
        return {"collection": cid, "version": info.version, "published": True}

    def _manifest(self, job: dict[str, Any], patch: dict[str, Any]) -> Manifest:
        """The manifest the passport form describes: the current one (or a template) with the
        form's values merged in as a JSON merge patch (RFC 7396): a field left out keeps its
        value, an explicit null (or an empty text) clears it. Validated by the manifest's model
        (e-mail, frequency, id)."""
        cid = job["collection"]
        current = load_manifest(self.settings.path(self.settings.collections_dir), cid)
        kept = form_values(current, cid, "")
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

    def job_json(self, job: dict[str, Any]) -> dict[str, Any]:
        return {k: job[k] for k in ("id", "org_id", "collection", "upload_id", "options", "status",
                                    "done", "total", "message", "version", "created", "updated")} | {
            "org": job["org_id"], "result": job["result"],
            "links": {"page": f"/publish/jobs/{job['id']}", "self": f"/publish/api/jobs/{job['id']}"}}

    def feedback_row(self, who: Principal, fid: str) -> dict[str, Any]:
        row = self.accounts.feedback(fid)
        if row is None or not who.can_publish(self.accounts.owner(row["collection"])):
            raise NotFound("no such report")
        return row

    def reports(self, who: Principal) -> list[dict[str, Any]]:
        owners = self.accounts.owners()
        mine = [c for c, org in owners.items() if who.can_publish(org)]
        return self.accounts.feedback_of(mine)

    def answer(self, address: str, who: Principal, row: dict[str, Any],
                  fields: dict[str, Any]) -> dict[str, Any]:
        """Answer a report of the caller's organisation and move it on; in the audit log."""
        version = fields.get("fixed_version")
        row = feedback.answer(self.accounts, self.store, row["id"], str(fields.get("status") or ""),
                              str(fields.get("answer") or ""), None if version == "" else version)
        self.audit(address, who, f"report {row['status']}", self.accounts.owner(row["collection"]),
                    collection=row["collection"], version=row["fixed_version"], detail=row["id"])
        return row


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


def form_values(manifest: Manifest | None, cid: str, org_name: str) -> dict[str, str]:
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


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
