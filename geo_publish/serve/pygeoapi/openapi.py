"""The OpenAPI document: pygeoapi's, made self-contained.

pygeoapi's document points at schemas on schemas.opengis.net and GitHub; offline (and for a
validator that will not fetch), every such reference must resolve inside the document. The
components below restate, briefly, what the OGC API - Features Part 1 / Records / CQL2 documents
define; a reference we do not know becomes a generic object schema rather than a dangling link.
"""

from __future__ import annotations

import re
from typing import Any

from pygeoapi.openapi import get_oas

_LINK = {"type": "object", "required": ["href", "rel"], "properties": {
    "href": {"type": "string"}, "rel": {"type": "string"}, "type": {"type": "string"},
    "hreflang": {"type": "string"}, "title": {"type": "string"}, "length": {"type": "integer"}}}
_LINKS = {"type": "array", "items": {"$ref": "#/components/schemas/gp-link"}}
_GEOMETRY = {"type": "object", "nullable": True, "required": ["type"], "properties": {
    "type": {"type": "string", "enum": ["Point", "MultiPoint", "LineString", "MultiLineString",
                                         "Polygon", "MultiPolygon", "GeometryCollection"]},
    "coordinates": {"type": "array"}, "geometries": {"type": "array"}}}
_FEATURE = {"type": "object", "required": ["type", "geometry", "properties"], "properties": {
    "type": {"type": "string", "enum": ["Feature"]},
    "geometry": {"$ref": "#/components/schemas/gp-geometry"},
    "properties": {"type": "object", "nullable": True},
    "id": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
    "links": {"$ref": "#/components/schemas/gp-links"}}}
_FEATURES = {"type": "object", "required": ["type", "features"], "properties": {
    "type": {"type": "string", "enum": ["FeatureCollection"]},
    "features": {"type": "array", "items": {"$ref": "#/components/schemas/gp-feature"}},
    "links": {"$ref": "#/components/schemas/gp-links"},
    "timeStamp": {"type": "string", "format": "date-time"},
    "numberMatched": {"type": "integer", "minimum": 0},
    "numberReturned": {"type": "integer", "minimum": 0}}}
_EXCEPTION = {"type": "object", "required": ["code"], "properties": {
    "code": {"type": "string"}, "description": {"type": "string"}}}
_COLLECTION = {"type": "object", "required": ["id", "links"], "properties": {
    "id": {"type": "string"}, "title": {"type": "string"}, "description": {"type": "string"},
    "links": {"$ref": "#/components/schemas/gp-links"}, "extent": {"type": "object"},
    "itemType": {"type": "string"}, "crs": {"type": "array", "items": {"type": "string"}},
    "storageCrs": {"type": "string"}}}
_LANDING = {"type": "object", "required": ["links"], "properties": {
    "title": {"type": "string"}, "description": {"type": "string"},
    "links": {"$ref": "#/components/schemas/gp-links"}}}

_CONFORMANCE = {"type": "object", "required": ["conformsTo"], "properties": {
    "conformsTo": {"type": "array", "items": {"type": "string"}}}}

SCHEMAS = {"gp-conformance": _CONFORMANCE, "gp-link": _LINK, "gp-links": _LINKS, "gp-geometry": _GEOMETRY, "gp-feature": _FEATURE,
           "gp-features": _FEATURES, "gp-exception": _EXCEPTION, "gp-collection": _COLLECTION,
           "gp-landing-page": _LANDING,
           "gp-cql2": {"type": "object", "description": "A CQL2 JSON expression (OGC 21-065)"}}


def _response(description: str, schema: str, media: str = "application/json") -> dict[str, Any]:
    return {"description": description,
            "content": {media: {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


RESPONSES = {
    "gp-LandingPage": _response("The landing page", "gp-landing-page"),
    "gp-Conformance": _response("The conformance classes this server implements", "gp-conformance"),
    "gp-Collection": _response("Information about the collection", "gp-collection"),
    "gp-Feature": _response("A feature", "gp-feature", "application/geo+json"),
    "gp-Features": _response("The features of the collection that match the query",
                             "gp-features", "application/geo+json"),
    "gp-InvalidParameter": _response("A query parameter has an invalid value", "gp-exception"),
    "gp-NotFound": _response("The requested resource does not exist", "gp-exception"),
    "gp-ServerError": _response("A server error occurred", "gp-exception"),
}
PARAMETERS = {
    "gp-datetime": {"name": "datetime", "in": "query", "required": False, "style": "form",
                    "explode": False, "description": "An instant or interval (RFC 3339), "
                    "open ends as '..'", "schema": {"type": "string"}},
    "gp-featureId": {"name": "featureId", "in": "path", "required": True,
                     "description": "local identifier of a feature", "schema": {"type": "string"}},
    "gp-q": {"name": "q", "in": "query", "required": False, "style": "form", "explode": False,
             "description": "free-text search", "schema": {"type": "array", "items": {"type": "string"}}},
    "gp-subset": {"name": "subset", "in": "query", "required": False, "style": "form",
                  "explode": False, "description": "subset by axis, e.g. Lat(40:41),Lon(69:70)",
                  "schema": {"type": "array", "items": {"type": "string"}}},
    "gp-sortby": {"name": "sortby", "in": "query", "required": False, "style": "form",
                  "explode": False, "schema": {"type": "array", "minItems": 1, "items": {
                      "type": "string", "pattern": "[+|-]?[A-Za-z_].*"}}},
}
_KNOWN = {
    "#/components/parameters/datetime": "#/components/parameters/gp-datetime",
    "#/components/parameters/featureId": "#/components/parameters/gp-featureId",
    "parameters/q.yaml": "#/components/parameters/gp-q",
    "parameters/sortby.yaml": "#/components/parameters/gp-sortby",
    "#/components/parameters/subset": "#/components/parameters/gp-subset",
    "cql2.json": "#/components/schemas/gp-cql2",
    "exception.yaml": "#/components/schemas/gp-exception",
    "#/components/schemas/link": "#/components/schemas/gp-link",
    **{f"#/components/responses/{k[3:]}": f"#/components/responses/{k}" for k in RESPONSES},
}


_CONTAINS = {"parameters": "parameter", "responses": "response"}  # key -> what its members are


def localise(doc: Any, where: str = "") -> Any:
    """Replace every reference to an outside document with a local component. A reference we do
    not know becomes what its place needs (``where``): a query parameter named after the
    reference, a response, or else a generic object schema, each saying what it stands for."""
    if isinstance(doc, dict):
        ref = doc.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            rest = {k: localise(v) for k, v in doc.items() if k != "$ref"}
            for suffix, local in _KNOWN.items():
                if ref.endswith(suffix):
                    return {**rest, "$ref": local}
            if where == "parameter":
                name = ref.rstrip("/").rsplit("/", 1)[-1].removesuffix(".yaml")
                return {"name": name, "in": "query", "required": False, "style": "form",
                        "explode": False, "schema": {"type": "string"},
                        "description": f"see {ref}", **rest}
            if where == "response":
                return {"description": f"see {ref}", **rest}
            return {**rest, "type": "object", "description": f"see {ref}"}
        if where in ("parameter-members", "response-members"):  # a map of members
            return {k: localise(v, where.removesuffix("-members")) for k, v in doc.items()}
        return {k: localise(v, _CONTAINS[k] + "-members" if k in _CONTAINS else "")
                for k, v in doc.items()}
    if isinstance(doc, list):
        return [localise(v, where.removesuffix("-members")) for v in doc]
    return doc


_TEXT = {"schema": {"type": "string"}}
_OBJECT = {"schema": {"type": "object"}}
# what our middleware answers on every path besides pygeoapi's own statuses
_ERRORS = {"400": "A parameter or the body is invalid", "404": "No such resource",
           "503": "The store is unavailable or the query ran past its time limit"}
_POST_ERRORS = {"413": "The request body is too large", "415": "The body is not CQL2 JSON"}
CQL2_BODY_TYPES = ("application/query-cql-json", "application/json")


def _error(description: str) -> dict[str, Any]:
    # pygeoapi words errors as HTML when the request asked for HTML
    return {"description": description, "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/gp-exception"}},
        "text/html": _TEXT}}


def _formats(path: str) -> dict[str, dict[str, Any]]:
    """The media types a GET on ``path`` can answer with besides JSON (the ``f`` parameter)."""
    extra: dict[str, dict[str, Any]] = {"text/html": _TEXT, "application/ld+json": _OBJECT}
    if path.endswith("/items"):
        extra["text/csv"] = _TEXT
    if path.endswith(("/queryables", "/schema")):
        extra["application/schema+json"] = _OBJECT
    if path.endswith("/coverage"):
        extra = {"image/tiff": {"schema": {"type": "string", "format": "binary"}},
                 "application/prs.coverage+json": _OBJECT, "text/html": _TEXT}
    return extra


def truthful(oas: dict[str, Any]) -> dict[str, Any]:
    """Make the document say what the server does: every media type a response can have, every
    status our layer adds (400, 404, 503; 413 and 415 on POST), the CQL2 JSON body types, and
    no OPTIONS operations (CORS preflights, answered 204 by the middleware)."""
    responses = oas.get("components", {}).get("responses", {})
    conformance = oas.get("paths", {}).get("/conformance", {}).get("get", {}).get("responses", {})
    if "200" in conformance:  # pygeoapi documents it as a landing page
        conformance["200"] = {"$ref": "#/components/responses/gp-Conformance"}
    for path, item in oas.get("paths", {}).items():
        if not isinstance(item, dict):
            continue
        item.pop("options", None)
        for method, op in item.items():
            if method not in ("get", "post") or not isinstance(op, dict):
                continue
            res = op.setdefault("responses", {})
            for code, text in {**_ERRORS, **(_POST_ERRORS if method == "post" else {})}.items():
                res.setdefault(code, _error(text))
            for code, answer in list(res.items()):
                if "$ref" in answer:  # a shared response: a copy to add to
                    shared = responses.get(answer["$ref"].rsplit("/", 1)[-1], {})
                    answer = res[code] = {**shared, "content": dict(shared.get("content") or {})}
                    answer.setdefault("description", code)
                content = answer.setdefault("content", {"application/json": _OBJECT})
                if not str(code).startswith("2"):  # worded in the format asked for
                    content.setdefault("text/html", _TEXT)
                    content.setdefault("application/ld+json", _OBJECT)
                elif method == "get":
                    for media, spec in _formats(path).items():
                        content.setdefault(media, spec)
            body = op.get("requestBody", {}).get("content")
            if method == "post" and body:
                schema = next(iter(body.values())).get("schema", _OBJECT["schema"])
                op["requestBody"]["content"] = {t: {"schema": schema} for t in CQL2_BODY_TYPES}
    return oas


CID = "{collectionId}"
# parameters of pygeoapi's collection operations that every collection takes (the others it
# lists are the representative collection's own properties: see /collections/{id}/queryables)
_GENERIC = {"f", "limit", "properties", "profile", "offset", "sortby", "skipGeometry"}


def _kinds(config: dict[str, Any]) -> dict[str, list[str]]:
    """The collection ids of each kind: feature, coverage, editable (the catalogue apart)."""
    out: dict[str, list[str]] = {"feature": [], "coverage": [], "editable": []}
    # a loop over every collection: the document names which ids each path takes
    for cid, r in config.get("resources", {}).items():
        if r.get("type") != "collection" or cid == "catalogue":
            continue
        kind = (r.get("providers") or [{}])[0].get("type")
        if kind in out:
            out[kind].append(cid)
        if (r.get("geo_publish") or {}).get("editable"):
            out["editable"].append(cid)
    return {k: sorted(v) for k, v in out.items()}


def collection_param(ids: list[str]) -> dict[str, Any]:
    return {"name": "collectionId", "in": "path", "required": True,
            "description": "a collection's id (see /collections)",
            "schema": {"type": "string", "enum": ids} if ids else {"type": "string"}}


def _template(oas: dict[str, Any], rep: str, title: str, ids: list[str], every: list[str]) -> None:
    """The paths pygeoapi wrote for collection ``rep`` made into one template for all of them
    (``/collections/{collectionId}/...``): a document of the same size with 10 layers or 10,000."""
    paths = oas["paths"]
    prefix = f"/collections/{rep}"
    for path in [p for p in list(paths) if p == prefix or p.startswith(prefix + "/")]:
        item = paths.pop(path)
        new = "/collections/" + CID + path[len(prefix):]
        target = paths.setdefault(new, {})
        for method, op in item.items():
            if method in target or not isinstance(op, dict):
                target.setdefault(method, op)
                continue
            params = [p for p in op.get("parameters", []) if "$ref" in p or p.get("name") in _GENERIC]
            for p in params:  # property names differ between collections: any is taken
                if p.get("name") == "properties":
                    p["schema"] = {"type": "array", "items": {"type": "string"}}
            op["parameters"] = [collection_param(every if new == "/collections/" + CID else ids)] + params
            op["tags"] = ["collections"]
            op["summary"] = str(op.get("summary", "")).replace(title, "a collection's")
            op.pop("description", None)
            op["operationId"] = method + "".join(
                w[:1].upper() + w[1:] for w in re.split(r"[^A-Za-z]+", new.replace(CID, "Collection")) if w)
            target[method] = op


def generate(config: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document: each kind of collection's paths written once, with the collection
    id as a path parameter, from pygeoapi's document for one collection of that kind."""
    kinds = _kinds(config)
    reps = [ids[0] for ids in (kinds["feature"], kinds["coverage"]) if ids]
    resources = config.get("resources", {})
    small = {**config, "resources": {k: v for k, v in resources.items() if k in reps or k == "catalogue"}}
    oas = get_oas(small, fail_on_invalid_collection=False)
    oas = localise(oas)
    every = sorted(kinds["feature"] + kinds["coverage"])
    for rep, ids in ((kinds["feature"][:1], kinds["feature"]), (kinds["coverage"][:1], kinds["coverage"])):
        if rep:
            title = resources[rep[0]].get("title")
            title = title.get("en", rep[0]) if isinstance(title, dict) else str(title or rep[0])
            _template(oas, rep[0], title, ids, every)
    oas["tags"] = [t for t in oas.get("tags", []) if t.get("name") not in reps] + [
        {"name": "collections", "description": "The published layers (see /collections)"}]
    comp = oas.setdefault("components", {})
    comp.setdefault("schemas", {}).update(SCHEMAS)
    comp.setdefault("responses", {}).update(RESPONSES)
    comp.setdefault("parameters", {}).update(PARAMETERS)
    comp.setdefault("securitySchemes", {})["gp-token"] = {
        "type": "http", "scheme": "bearer",
        "description": "a personal API token (gpt_...), issued in the publishing portal or by "
                       "`geo-publish admin token`"}
    oas = truthful(oas)
    oas["paths"].update(portal_paths())
    oas["paths"].update(catalog_paths())
    oas["paths"].update(tile_paths(kinds["feature"]))
    return add_writes(oas, kinds["editable"])


# -- the publishing portal's API and Part 4 writes ---------------------------------------------
_AUTH_ERRORS = {"400": "A parameter or the body is invalid",
                "401": "No token, or an unknown, expired or revoked one",
                "403": "The token's organisation may not do this",
                "404": "No such resource in the token's organisations",
                "409": "The resource is not in a state that allows this",
                "413": "The body is too large", "429": "Too many requests",
                "503": "The store is unavailable"}
_JSON_OBJ = {"application/json": _OBJECT}


def _op(summary: str, ok: str, *, body: dict[str, Any] | None = None, status: str = "200",
        params: tuple[str, ...] | list[str] = (), ok_content: dict[str, Any] | None = None,
        headers: dict[str, Any] | None = None) -> dict[str, Any]:
    responses: dict[str, Any] = {status: {"description": ok}}
    if status != "204":
        responses[status]["content"] = ok_content if ok_content is not None else _JSON_OBJ
    if headers:
        responses[status]["headers"] = headers
    for code, text in _AUTH_ERRORS.items():
        responses[code] = {"description": text, "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/gp-exception"}}}}
    op: dict[str, Any] = {"summary": summary, "tags": ["publishing"], "responses": responses,
                          "security": [{"gp-token": []}],
                          "parameters": [{"name": p, "in": "path", "required": True,
                                          "schema": {"type": "string"}} for p in params]}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


def _obj(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props}


_S, _I = {"type": "string"}, {"type": "integer"}
_OPTIONS = {"encoding": _S, "crs": _S, "layer": _S}


_CID = {"name": "collectionId", "in": "path", "required": True, "schema": {"type": "string"}}
_REPORT = {"type": "object", "required": ["category", "text"], "properties": {
    "category": {"type": "string", "enum": ["wrong_location", "closed_or_moved", "wrong_information",
                                            "missing_feature", "other"]},
    "text": {"type": "string", "maxLength": 2000}, "email": {"type": "string"},
    "feature": {"type": "string"}, "lon": {"type": "number"}, "lat": {"type": "number"},
    "website": {"type": "string", "description": "leave empty (a field robots fill in)"}}}


def _public(summary: str, ok: str, status: str = "200") -> dict[str, Any]:
    op = _op(summary, ok, status=status)
    op.pop("security")
    op["tags"] = ["feedback"]
    for code in ("401", "403", "409"):
        op["responses"].pop(code)
    op["responses"]["415"] = {"description": "Not JSON or a form", "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/gp-exception"}}}}
    return op


def portal_paths() -> dict[str, Any]:
    """The token API for scripts: upload (resumable), job, report, publish, rollback, audit."""
    paths = _portal_paths()
    reports = paths["/feedback/{collectionId}"]["get"]["responses"]["200"]
    reports["content"] = {**reports["content"], "text/html": {"schema": {"type": "string"}}}
    return paths


def _portal_paths() -> dict[str, Any]:
    offset = {"Upload-Offset": {"schema": _I, "description": "bytes the server has"}}
    return {
        "/publish/api/uploads": {
            "get": _op("Unfinished uploads of the caller in an organisation (to resume one)",
                       "The uploads"),
            "post": _op("Declare an upload (file name and size); send its bytes with PATCH",
                        "The upload, with the address to PATCH", status="201",
                        body={**_obj(org=_S, filename=_S, size=_I), "required": ["org", "filename", "size"]}),
        },
        "/publish/api/uploads/{uploadId}": {
            "get": _op("An upload and how many bytes arrived", "The upload", params=["uploadId"],
                       headers=offset),
            "patch": {**_op("Append bytes at Upload-Offset (streamed to disk); repeat until complete",
                            "Appended", status="204", params=["uploadId"], headers=offset),
                      "requestBody": {"required": True, "description": "the next bytes of the "
                                      "file (tus clients' application/offset+octet-stream is taken too)",
                                      "content": {"application/octet-stream": {
                                          "schema": {"type": "string", "format": "binary"}}}}},
        },
        "/publish/api/jobs": {
            "post": _op("Check an upload as a draft version of a collection (a background job)",
                        "The job, queued", status="202",
                        body={**_obj(upload=_S, collection=_S, **_OPTIONS),
                              "required": ["upload", "collection"]}),
        },
        "/publish/api/jobs/{jobId}": {
            "get": _op("A job: status, progress, report, problems, diff against the published version",
                       "The job", params=["jobId"]),
        },
        "/publish/api/jobs/{jobId}/rerun": {
            "post": _op("Check again with another encoding, source CRS or layer", "The job, queued",
                        status="202", params=["jobId"], body=_obj(**_OPTIONS)),
        },
        "/publish/api/jobs/{jobId}/publish": {
            "post": _op("Publish the job's draft; with a passport, write it to the manifest first",
                        "The published version", params=["jobId"],
                        body=_obj(passport={"type": "object", "description":
                                            "title_uz/ru/en, description_*, organization, "
                                            "responsible_name, responsible_email, "
                                            "responsible_phone, license, update_frequency, "
                                            "lineage, keywords, id_field"})),
        },
        "/publish/api/collections/{collectionId}/versions": {
            "get": _op("The versions of a collection of the caller's organisation", "The versions",
                       params=["collectionId"]),
        },
        "/publish/api/collections/{collectionId}/rollback": {
            "post": _op("Publish an earlier version (or a draft) again", "The published version",
                        params=["collectionId"], body={**_obj(version=_I), "required": ["version"]}),
        },
        "/feedback/{collectionId}": {
            "get": {**_public("A layer's problem reports (no e-mails), the number open and the "
                              "median time to a first answer; f=html (or a browser's Accept) "
                              "gives the layer's public page of reports", "The reports"),
                    "parameters": [_CID, {"name": "f", "in": "query", "required": False,
                                          "schema": {"type": "string", "enum": ["json", "html"]}},
                                   {"name": "lang", "in": "query", "required": False,
                                    "schema": {"type": "string", "enum": ["en", "ru", "uz"]}}]},
            "post": {**_public("Report a problem: category, text, optional e-mail, feature and point",
                               "Received", status="201"), "parameters": [_CID],
                     "requestBody": {"required": True, "content": {
                         "application/json": {"schema": _REPORT},
                         "application/x-www-form-urlencoded": {"schema": _REPORT}}}},
        },
        "/publish/api/audit": {
            "get": {**_op("The audit log of an organisation (its admins only)", "The entries"),
                    "parameters": [{"name": "org", "in": "query", "required": True, "schema": _S}]},
        },
    }


def catalog_paths() -> dict[str, Any]:
    """The DCAT-AP catalogue (serve/routes/catalog.py): by content negotiation, and by extension."""
    rdf = {"schema": {"type": "string"}}
    media = {"ttl": "text/turtle", "rdf": "application/rdf+xml", "xml": "application/rdf+xml",
             "jsonld": "application/ld+json"}
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/gp-exception"}}}}
    page = {"name": "page", "in": "query", "required": False,
            "schema": {"type": "integer", "minimum": 1, "default": 1},
            "description": "the page (catalogue.page_size datasets each; hydra links the pages)"}

    def op(summary: str, types: list[str], params: list[dict[str, Any]]) -> dict[str, Any]:
        return {"get": {"summary": summary, "tags": ["catalogue"], "parameters": params,
                        "responses": {
                            "200": {"description": "A page of the catalogue: dcat:Catalog, its "
                                    "datasets and distributions, the OGC API as a dcat:DataService, "
                                    "hydra paging", "content": {
                                        t: {"schema": {"type": "object"}} if t.endswith("json")
                                        else rdf for t in types}},
                            "400": {"description": "A parameter is invalid", **error},
                            "404": {"description": "No such page", **error},
                            "406": {"description": "None of the accepted types is offered", **error},
                            "503": {"description": "The store is unavailable", **error}}}}

    paths = {"/catalog": op(
        "The DCAT-AP 3 catalogue for harvesters (Turtle, RDF/XML or JSON-LD by Accept or f)",
        sorted(set(media.values())),
        [page, {"name": "f", "in": "query", "required": False,
                "schema": {"type": "string", "enum": list(media)}}])}
    for ext, kind in media.items():
        paths[f"/catalog.{ext}"] = op(f"The DCAT-AP 3 catalogue as {kind}", [kind], [page])
    return paths


def tile_paths(collections: list[str]) -> dict[str, Any]:
    """OGC API - Tiles (tiles/cut.py): the tile matrix sets, and per vector collection its
    tilesets, a tileset's metadata (OGC or TileJSON) and its Mapbox Vector Tiles."""
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/gp-exception"}}}}
    errors = {"400": {"description": "A parameter is invalid", **error},
              "404": {"description": "No such collection, tile matrix set or tile", **error},
              "503": {"description": "The store is unavailable", **error}}
    json_ok = {"application/json": _OBJECT}
    fmt = {"name": "f", "in": "query", "required": False, "schema": {"type": "string", "enum": ["json"]}}
    tms = {"name": "tileMatrixSetId", "in": "path", "required": True,
           "schema": {"type": "string", "enum": ["WebMercatorQuad", "WorldCRS84Quad"]}}

    def get(summary: str, params: list[dict[str, Any]], ok: dict[str, Any], tag: str) -> dict[str, Any]:
        return {"get": {"summary": summary, "tags": [tag], "parameters": params,
                        "responses": {**ok, **errors}}}

    paths = {
        "/tileMatrixSets": get("The tile matrix sets the tiles are offered in", [fmt],
                               {"200": {"description": "WebMercatorQuad and WorldCRS84Quad",
                                        "content": json_ok}}, "server"),
        "/tileMatrixSets/{tileMatrixSetId}": get(
            "A tile matrix set (OGC Two Dimensional Tile Matrix Set 2.0)", [tms, fmt],
            {"200": {"description": "The tile matrix set definition", "content": json_ok}}, "server"),
    }
    if collections:  # one template for every vector collection
        cid = "a collection"
        path = "/collections/" + CID + "/tiles"
        paths[path] = get(f"The vector tilesets of {cid}", [fmt], {"200": {
            "description": "One tileset per tile matrix set", "content": json_ok}}, "collections")
        paths[path + "/{tileMatrixSetId}"] = get(
            f"A vector tileset of {cid}: OGC tileset metadata, or TileJSON 3 (WebMercatorQuad)",
            [tms, {**fmt, "schema": {"type": "string", "enum": ["json", "tilejson"]}}],
            {"200": {"description": "The tileset metadata", "content": {
                "application/json": _OBJECT, "application/vnd.mapbox.tile+json": _OBJECT}}}, "collections")
        paths[path + "/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}"] = get(
            f"A Mapbox Vector Tile of {cid}", [tms] + [
                {"name": n, "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}}
                for n in ("tileMatrix", "tileRow", "tileCol")] + [
                {"name": "f", "in": "query", "required": False,
                 "schema": {"type": "string", "enum": ["mvt"]}}],
            {"200": {"description": "The tile (thinned below vector_tiles.full_zoom)",
                     "content": {"application/vnd.mapbox-vector-tile": {
                         "schema": {"type": "string", "format": "binary"}}}},
             "204": {"description": "No feature in this tile"},
             "304": {"description": "Not modified (If-None-Match)"}}, "collections")
        for op in (paths[path], paths[path + "/{tileMatrixSetId}"],
                   paths[path + "/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}"]):
            op["get"]["parameters"].insert(0, collection_param(collections))
    return paths


_FEATURE_BODY = {"application/geo+json": {"schema": {"$ref": "#/components/schemas/gp-feature"}},
                 "application/json": {"schema": {"$ref": "#/components/schemas/gp-feature"}}}
_ETAG = {"ETag": {"schema": _S, "description": "the feature's new ETag (for If-Match)"}}


def add_writes(oas: dict[str, Any], editable: list[str]) -> dict[str, Any]:
    """Part 4 on the editable collections: POST on items (beside the CQL2 JSON query, told
    apart by the body's type), PUT, PATCH and DELETE on an item, with If-Match."""
    if_match = {"name": "If-Match", "in": "header", "required": False, "schema": _S,
                "description": "the item's ETag: the write happens only if it is still current (412)"}
    paths = oas.setdefault("paths", {})
    if editable:  # one template: the collections that take writes are those named here
        cid = "an editable collection"
        items = paths.setdefault("/collections/" + CID + "/items", {})
        post = items.get("post")
        create = _op(f"Add a feature to {cid} (a new version)", "Created", status="201",
                     headers={**_ETAG, "Location": {"schema": _S}})
        if post:  # one operation: a CQL2 JSON body queries, a GeoJSON feature creates
            post["requestBody"]["content"].update({"application/geo+json": _FEATURE_BODY["application/geo+json"]})
            post["responses"].setdefault("201", create["responses"]["201"])
            for code in ("401", "403", "409"):
                post["responses"].setdefault(code, create["responses"][code])
            post["description"] = (post.get("description", "") + " A GeoJSON Feature body "
                                   "(application/geo+json) with a token adds the feature, in "
                                   "an editable collection: " + ", ".join(editable) + ".").strip()
            # a query needs no token, an addition does: either, as OpenAPI says it
            post["security"] = [{"gp-token": []}, {}]
        else:
            items["post"] = {**create, "requestBody": {"required": True, "content": _FEATURE_BODY},
                             "parameters": [collection_param(editable)]}
        item = paths.setdefault("/collections/" + CID + "/items/{featureId}", {})
        fid = [collection_param(editable), {"$ref": "#/components/parameters/gp-featureId"}, if_match]
        for method, summary in (("put", "Replace"), ("patch", "Update (merge patch)"), ("delete", "Delete")):
            op = _op(f"{summary} a feature of {cid} (a new version)", "Done", status="204",
                     headers=_ETAG if method != "delete" else None)
            op["parameters"] = fid
            op["responses"]["412"] = {"description": "The feature changed since that ETag",
                                      "content": {"application/json": {"schema": {
                                          "$ref": "#/components/schemas/gp-exception"}}}}
            op["responses"]["405"] = op["responses"]["412"] | {"description": "Not editable"}
            op["responses"]["415"] = op["responses"]["412"] | {"description": "Not a GeoJSON body"}
            if method != "delete":
                content = dict(_FEATURE_BODY)
                if method == "patch":
                    content["application/merge-patch+json"] = {"schema": {"type": "object"}}
                op["requestBody"] = {"required": True, "content": content}
            item[method] = op
    return oas
