"""The server's own documents beside the OGC API: each layer's passport (JSON; its DCAT forms
come from the catalogue, ``serve/routes/catalog.py``) and its public validation report (JSON, HTML),
read through the same reader pool as the features (so from the replica when ``read_dsn`` is
set, and a 503 in an outage rather than a 404)."""

from __future__ import annotations

import json
import re
from pathlib import PurePath
from typing import Any

from geo_publish.http.asgi import VARY, cors, exception, json_response
from geo_publish.passport import dcat
from geo_publish.read.readers import Reader

PATH = re.compile(r"^/(passports|reports)/([a-z0-9_-]+)\.(json|jsonld|ttl|rdf|html)$")
# the passports' DCAT forms (jsonld, ttl, rdf) are the catalogue's (serve/routes/catalog.py)
KINDS = {("passports", "json"), ("reports", "json"), ("reports", "html")}


def public_report(report: dict[str, Any]) -> dict[str, Any]:
    """The report as the public sees it: the source named by its file name, never by a path of
    the server (reports stored before 0.2 kept the full path)."""
    source = dict(report.get("source") or {})
    if source.get("path"):
        source["path"] = PurePath(str(source["path"]).replace("\\", "/")).name
    return {**report, "source": source}


def document(reader: Reader, kind: str, cid: str, ext: str) -> tuple[str, str] | None:
    """(media type, body) of a published layer's passport or report; None when there is none."""
    doc = reader.document(cid, "passport" if kind == "passports" else "report")
    if doc is None:
        return None
    if kind == "passports":
        return "application/json", json.dumps(doc, ensure_ascii=False)
    report = public_report(doc)
    if ext == "json":
        return "application/json", json.dumps(report, ensure_ascii=False)
    from geo_publish.ingest.report import Report, render_html

    return "text/html", render_html(Report(**report))


def answer(reader: Reader, catalogue: Any, m: re.Match[str]) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """``/passports/{id}.{ext}`` and ``/reports/{id}.{ext}``: the document, or a 404 that says
    whether the layer or the form is unknown."""
    kind, cid, ext = m.groups()
    found = None
    rdf_form = kind == "passports" and ext in dcat.SERIALISATIONS
    known = (kind, ext) in KINDS or rdf_form
    if rdf_form:
        rdf = catalogue.one(cid, ext)
        found = (dcat.SERIALISATIONS[ext][1], rdf.decode()) if rdf is not None else None
    elif known:
        found = document(reader, kind, cid, ext)
    if found is None:
        status, hdrs, body = exception(404, "NotFound", f"no published collection {cid!r}"
                                       if known else "not found")
    else:
        status, hdrs, body = json_response(200, found[1], found[0])
    return status, hdrs + cors() + [VARY], body
