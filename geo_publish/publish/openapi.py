"""The OpenAPI document: pygeoapi's, made self-contained.

pygeoapi's document points at schemas on schemas.opengis.net and GitHub; offline (and for a
validator that will not fetch), every such reference must resolve inside the document. The
components below restate, briefly, what the OGC API - Features Part 1 / Records / CQL2 documents
define; a reference we do not know becomes a generic object schema rather than a dangling link.
"""

from __future__ import annotations

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


def generate(config: dict[str, Any]) -> dict[str, Any]:
    oas = get_oas(config, fail_on_invalid_collection=False)
    oas = localise(oas)
    comp = oas.setdefault("components", {})
    comp.setdefault("schemas", {}).update(SCHEMAS)
    comp.setdefault("responses", {}).update(RESPONSES)
    comp.setdefault("parameters", {}).update(PARAMETERS)
    return truthful(oas)
