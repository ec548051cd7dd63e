"""A data passport as DCAT (W3C Data Catalog Vocabulary) in JSON-LD, as open data portals harvest it."""

from __future__ import annotations

from typing import Any

_LICENSES = {
    "CC-BY-4.0": "https://creativecommons.org/licenses/by/4.0/",
    "CC-BY-SA-4.0": "https://creativecommons.org/licenses/by-sa/4.0/",
    "CC0-1.0": "https://creativecommons.org/publicdomain/zero/1.0/",
    "ODbL-1.0": "https://opendatacommons.org/licenses/odbl/1-0/",
    "PDDL-1.0": "https://opendatacommons.org/licenses/pddl/1-0/",
    "OGL-UK-3.0": "https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/",
}
# ISO 19115 maintenance frequency -> Dublin Core frequency vocabulary
_FREQUENCY = {"continual": "continuous", "daily": "daily", "weekly": "weekly",
              "fortnightly": "biweekly", "monthly": "monthly", "quarterly": "quarterly",
              "biannually": "semiannual", "annually": "annual", "irregular": "irregular"}


def license_url(license_id: str) -> str:
    return _LICENSES.get(license_id, license_id if "://" in license_id else
                         f"https://spdx.org/licenses/{license_id}.html")


def to_dcat(passport: dict[str, Any], base: str) -> dict[str, Any]:
    cid = passport["collection"]
    ext = passport.get("extent")
    contact = passport.get("responsible") or {}
    title = passport.get("title") or {"en": cid}
    description = passport.get("description") or {}
    dataset: dict[str, Any] = {
        "@context": {"dcat": "http://www.w3.org/ns/dcat#", "dct": "http://purl.org/dc/terms/",
                     "vcard": "http://www.w3.org/2006/vcard/ns#",
                     "foaf": "http://xmlns.com/foaf/0.1/", "locn": "http://www.w3.org/ns/locn#",
                     "xsd": "http://www.w3.org/2001/XMLSchema#"},
        "@id": f"{base}/collections/{cid}",
        "@type": "dcat:Dataset",
        "dct:identifier": cid,
        "dct:title": [{"@value": v, "@language": k} for k, v in title.items()],
        "dct:description": [{"@value": v, "@language": k} for k, v in description.items()],
        "dcat:keyword": passport.get("keywords") or [],
        "dct:publisher": {"@type": "foaf:Organization", "foaf:name": passport.get("organization") or ""},
        "dcat:contactPoint": {"@type": "vcard:Kind", "vcard:fn": contact.get("name") or "",
                              **({"vcard:hasEmail": f"mailto:{contact['email']}"} if contact.get("email") else {})},
        "dct:issued": {"@value": passport.get("first_published"), "@type": "xsd:dateTime"},
        "dct:modified": {"@value": passport.get("last_modified"), "@type": "xsd:dateTime"},
        "dcat:version": str(passport.get("version")),
        "dct:provenance": passport.get("lineage") or "",
        "dcat:distribution": [
            {"@type": "dcat:Distribution", "dct:title": "OGC API - Features",
             "dcat:accessURL": {"@id": f"{base}/collections/{cid}/items"},
             "dcat:mediaType": "application/geo+json"},
        ],
    }
    if passport.get("license"):
        dataset["dct:license"] = {"@id": license_url(passport["license"])}
    if passport.get("update_frequency") in _FREQUENCY:
        dataset["dct:accrualPeriodicity"] = {
            "@id": f"http://purl.org/cld/freq/{_FREQUENCY[passport['update_frequency']]}"}
    if ext:
        w, s, e, n = ext
        dataset["dct:spatial"] = {"@type": "dct:Location", "dcat:bbox": {
            "@value": f"POLYGON(({w} {s},{e} {s},{e} {n},{w} {n},{w} {s}))",
            "@type": "http://www.opengis.net/ont/geosparql#wktLiteral"}}
    return dataset
