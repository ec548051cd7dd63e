"""Data passports as DCAT-AP 3 (the EU application profile of W3C's Data Catalog Vocabulary), the
form national open data portals harvest (ckanext-dcat, udata, data.europa.eu).

One builder for everything: :func:`dataset` adds one layer to an rdflib graph, :func:`catalog`
a page of them with the catalogue, the OGC API as a ``dcat:DataService`` and hydra paging; the
server's ``/catalog`` and each layer's ``/passports/{id}.jsonld`` are serialisations of graphs
made here. Controlled values come from the EU vocabularies (frequency, file type, language), each
typed and placed in its scheme, so the official DCAT-AP 3.0.1 shapes find no violation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import OWL, RDF, RDFS, SKOS, XSD

from geo_publish import freshness
from geo_publish.passport.licenses import LICENSES, license_url

# open namespaces: rdflib's closed DCAT (version 2) lacks DCAT 3 terms such as dcat:version
DCAT = Namespace("http://www.w3.org/ns/dcat#")
DCTERMS = Namespace("http://purl.org/dc/terms/")
FOAF = Namespace("http://xmlns.com/foaf/0.1/")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
ADMS = Namespace("http://www.w3.org/ns/adms#")
DQV = Namespace("http://www.w3.org/ns/dqv#")
GSP = Namespace("http://www.opengis.net/ont/geosparql#")
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
LOCN = Namespace("http://www.w3.org/ns/locn#")
SPDX = Namespace("http://spdx.org/rdf/terms#")
EU = "http://publications.europa.eu/resource/authority/"
IANA = "https://www.iana.org/assignments/media-types/"
# The DCAT-AP 3.0.1 vocabulary shapes want the algorithm under https://spdx.org/rdf/terms; SPDX
# 2.x documents spell it http://. We give the https IRI and say it is the same as the http one.
SHA256 = URIRef("https://spdx.org/rdf/terms#checksumAlgorithm_sha256")
SHA256_HTTP = SPDX.checksumAlgorithm_sha256

PREFIXES = {"rdf": RDF, "dcat": DCAT, "dct": DCTERMS, "foaf": FOAF, "vcard": VCARD, "adms": ADMS, "dqv": DQV,
            "gsp": GSP, "hydra": HYDRA, "locn": LOCN, "spdx": SPDX, "skos": SKOS, "xsd": XSD,
            "owl": OWL, "rdfs": RDFS}

# ISO 19115 maintenance frequency (the passport's words) -> EU frequency vocabulary
FREQUENCIES = {"continual": "UPDATE_CONT", "daily": "DAILY", "weekly": "WEEKLY",
               "fortnightly": "BIWEEKLY", "monthly": "MONTHLY", "quarterly": "QUARTERLY",
               "biannually": "ANNUAL_2", "annually": "ANNUAL", "asNeeded": "IRREG",
               "irregular": "IRREG", "notPlanned": "NEVER", "unknown": "UNKNOWN"}
# ISO 639-1 (what the passports are written in) -> EU language vocabulary (ISO 639-3 based)
LANGUAGES = {"uz": "UZB", "ru": "RUS", "en": "ENG", "kk": "KAZ", "ky": "KIR", "tg": "TGK",
             "tk": "TUK", "kaa": "KAA", "fr": "FRA", "de": "DEU", "es": "SPA", "ar": "ARA",
             "zh": "ZHO", "tr": "TUR", "fa": "FAS", "uk": "UKR", "pt": "POR", "ja": "JPN"}
# download format -> (EU file type, IANA media type)
FORMATS = {"GeoJSON": ("GEOJSON", "application/geo+json"),
           "GeoPackage": ("GPKG", "application/geopackage+sqlite3"),
           "CSV": ("CSV", "text/csv"),
           "GeoTIFF (COG)": ("GEOTIFF", "image/tiff")}
CONFORMANCE = {
    "features": "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "geojson": "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "coverages": "http://www.opengis.net/spec/ogcapi-coverages-1/1.0/conf/core",
    "records": "http://www.opengis.net/spec/ogcapi-records-1/1.0/conf/core",
    "common": "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core",
}
_LANG_TAG = re.compile(r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")


@dataclass(frozen=True)
class Download:
    format: str  # a key of FORMATS
    url: str
    size: int
    sha256: str | None = None


@dataclass(frozen=True)
class Entry:
    """What the catalogue says of one published layer."""
    passport: dict[str, Any]
    version: int
    published: str  # when this version was published (the freshness clock)
    org: dict[str, Any] | None = None  # the owning organisation (portal accounts), if any
    downloads: list[Download] = field(default_factory=list)
    landing_page: str | None = None

    @property
    def collection(self) -> str:
        return str(self.passport["collection"])

    @property
    def raster(self) -> bool:
        return bool(self.passport.get("raster")) or self.passport.get("geometry_type") == "Raster"


@dataclass(frozen=True)
class Site:
    """The catalogue's own description: the base URL and who runs the service."""
    base: str
    title: dict[str, str]
    description: dict[str, str]
    publisher: str
    publisher_email: str = ""
    homepage: str | None = None

    @property
    def catalog(self) -> URIRef:
        return URIRef(f"{self.base}/catalog")

    @property
    def service(self) -> URIRef:
        return URIRef(f"{self.base}/catalog#api")


def new_graph() -> Graph:
    g = Graph()
    for prefix, ns in PREFIXES.items():
        g.bind(prefix, ns)
    return g


def _texts(g: Graph, node: Any, pred: URIRef, texts: dict[str, str]) -> None:
    for lang, text in texts.items():
        if text:
            g.add((node, pred, Literal(text, lang=lang if _LANG_TAG.match(lang) else None)))


def _when(value: Any) -> Literal | None:
    """An xsd:dateTime (or xsd:date) literal, or None for a value that is neither."""
    if not value:
        return None
    text = str(value)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if len(text) == 10:
        return Literal(parsed.date().isoformat(), datatype=XSD.date)
    return Literal(parsed.isoformat(), datatype=XSD.dateTime)


def _concept(g: Graph, iri: str, cls: URIRef, scheme: str | None = None) -> URIRef:
    node = URIRef(iri)
    g.add((node, RDF.type, cls))
    if scheme:
        g.add((node, SKOS.inScheme, URIRef(scheme)))
    return node


def _agent(g: Graph, node: Any, name: str, email: str = "") -> Any:
    g.add((node, RDF.type, FOAF.Agent))
    g.add((node, RDF.type, FOAF.Organization))
    g.add((node, FOAF.name, Literal(name)))
    if email:
        g.add((node, FOAF.mbox, URIRef(f"mailto:{email}")))
    return node


def publisher(g: Graph, site: Site, entry: Entry | None = None) -> Any:
    """The organisation that publishes a layer: its owner in the portal, else the passport's
    organisation, else whoever runs the catalogue."""
    if entry is not None and entry.org:
        org = entry.org
        node = URIRef(f"{site.base}/catalog#org-{org['id']}")
        return _agent(g, node, org.get("name") or org["id"], org.get("email") or "")
    name = (entry.passport.get("organization") or "").strip() if entry else ""
    if name:
        return _agent(g, BNode(), name)
    return _agent(g, URIRef(f"{site.base}/catalog#publisher"), site.publisher, site.publisher_email)


def _license(g: Graph, license_id: str) -> URIRef:
    node = _concept(g, license_url(license_id), DCTERMS.LicenseDocument)
    known = LICENSES.get(license_id)
    if known and known[1]:
        g.add((node, SKOS.exactMatch, URIRef(f"{EU}licence/{known[1]}")))
    return node


def _contact(g: Graph, entry: Entry) -> BNode | None:
    person = entry.passport.get("responsible") or {}
    email = person.get("email") or (entry.org or {}).get("email") or ""
    name = person.get("name") or (entry.org or {}).get("name") or ""
    if not (email or name):
        return None
    node = BNode()
    g.add((node, RDF.type, VCARD.Kind))
    g.add((node, VCARD.fn, Literal(name or email)))
    if email:
        g.add((node, VCARD.hasEmail, URIRef(f"mailto:{email}")))
    phone = re.sub(r"[^0-9+]", "", person.get("phone") or "")
    if phone:
        g.add((node, VCARD.hasTelephone, URIRef(f"tel:{phone}")))
    org = entry.passport.get("organization") or (entry.org or {}).get("name")
    if org:
        g.add((node, VCARD["organization-name"], Literal(org)))
    return node


def _languages(g: Graph, node: Any, texts: Iterable[dict[str, str]]) -> None:
    for lang in sorted({k for t in texts for k in t}):
        code = LANGUAGES.get(lang.split("-")[0].lower())
        if code:
            g.add((node, DCTERMS.language, _concept(g, f"{EU}language/{code}",
                                                    DCTERMS.LinguisticSystem, f"{EU}language")))


def _format(g: Graph, node: Any, fmt: str) -> None:
    filetype, media = FORMATS[fmt]
    g.add((node, DCTERMS["format"], _concept(g, f"{EU}file-type/{filetype}",
                                              DCTERMS.MediaTypeOrExtent, f"{EU}file-type")))
    g.add((node, DCAT.mediaType, _concept(g, IANA + media, DCTERMS.MediaType)))


def _standard(g: Graph, key: str) -> URIRef:
    return _concept(g, CONFORMANCE[key], DCTERMS.Standard)


def _distribution(g: Graph, ds: URIRef, key: str, title: str, fmt: str, license_node: Any,
                  modified: Literal | None) -> URIRef:
    node = URIRef(f"{ds}#distribution-{key}")
    g.add((ds, DCAT.distribution, node))
    g.add((node, RDF.type, DCAT.Distribution))
    g.add((node, DCTERMS.title, Literal(title, lang="en")))
    _format(g, node, fmt)
    if license_node is not None:
        g.add((node, DCTERMS.license, license_node))
    if modified is not None:
        g.add((node, DCTERMS.modified, modified))
    return node


def dataset(g: Graph, site: Site, entry: Entry, at: datetime | None = None) -> URIRef:
    """Add one published layer, as a ``dcat:Dataset`` with its distributions, to ``g``."""
    p = entry.passport
    cid = entry.collection
    ds = dataset_iri(site, cid)
    g.add((ds, RDF.type, DCAT.Dataset))
    g.add((ds, DCTERMS.identifier, Literal(cid)))
    title = {k: v for k, v in (p.get("title") or {}).items() if v} or {"en": cid}
    description = {k: v for k, v in (p.get("description") or {}).items() if v}
    _texts(g, ds, DCTERMS.title, title)
    # dct:description is mandatory in DCAT-AP: a layer without one is described by its title
    _texts(g, ds, DCTERMS.description, {**title, **description})
    _languages(g, ds, [title, description])
    for word in p.get("keywords") or []:
        g.add((ds, DCAT.keyword, Literal(word)))
    g.add((ds, DCTERMS.publisher, publisher(g, site, entry)))
    contact = _contact(g, entry)
    if contact is not None:
        g.add((ds, DCAT.contactPoint, contact))
    issued = _when(p.get("first_published"))
    modified = _when(entry.published) or _when(p.get("last_modified"))
    if issued is not None:
        g.add((ds, DCTERMS.issued, issued))
    if modified is not None:
        g.add((ds, DCTERMS.modified, modified))
    g.add((ds, DCAT.version, Literal(str(entry.version))))
    frequency = p.get("update_frequency") or "unknown"
    if frequency in FREQUENCIES:
        g.add((ds, DCTERMS.accrualPeriodicity, _concept(
            g, f"{EU}frequency/{FREQUENCIES[frequency]}", DCTERMS.Frequency, f"{EU}frequency")))
    license_node = _license(g, p["license"]) if p.get("license") else None
    if license_node is not None:
        g.add((ds, DCTERMS.license, license_node))
    if p.get("lineage"):
        lineage = BNode()
        g.add((lineage, RDF.type, DCTERMS.ProvenanceStatement))
        g.add((lineage, RDFS.label, Literal(p["lineage"])))
        g.add((ds, DCTERMS.provenance, lineage))
    _extent(g, ds, p)
    if entry.landing_page:
        g.add((ds, DCAT.landingPage, _concept(g, entry.landing_page, FOAF.Document)))
    _freshness(g, site, ds, frequency, entry.published, at)

    for d in entry.downloads:
        node = _distribution(g, ds, FORMATS[d.format][0].lower(), f"{d.format} download",
                             d.format, license_node, modified)
        g.add((node, DCAT.accessURL, URIRef(d.url)))
        g.add((node, DCAT.downloadURL, URIRef(d.url)))
        g.add((node, DCAT.byteSize, Literal(d.size, datatype=XSD.nonNegativeInteger)))
        if d.sha256:
            checksum = BNode()
            g.add((node, SPDX.checksum, checksum))
            g.add((checksum, RDF.type, SPDX.Checksum))
            g.add((checksum, SPDX.algorithm, _concept(g, str(SHA256), SPDX.ChecksumAlgorithm)))
            g.add((SHA256, OWL.sameAs, SHA256_HTTP))
            g.add((checksum, SPDX.checksumValue, Literal(d.sha256, datatype=XSD.hexBinary)))
    if entry.raster:
        api = _distribution(g, ds, "coverage", "OGC API - Coverages (GeoTIFF)", "GeoTIFF (COG)",
                            license_node, modified)
        g.add((api, DCAT.accessURL, URIRef(f"{ds}/coverage")))
        g.add((api, DCTERMS.conformsTo, _standard(g, "coverages")))
    else:
        api = _distribution(g, ds, "features", "OGC API - Features (GeoJSON)", "GeoJSON",
                            license_node, modified)
        g.add((api, DCAT.accessURL, URIRef(f"{ds}/items")))
        g.add((api, DCTERMS.conformsTo, _standard(g, "features")))
    g.add((api, DCAT.accessService, site.service))
    return ds


def _extent(g: Graph, ds: URIRef, p: dict[str, Any]) -> None:
    ext = p.get("extent")
    if ext and len(ext) == 4:
        w, s, e, n = (float(v) for v in ext)
        where = BNode()
        g.add((ds, DCTERMS.spatial, where))
        g.add((where, RDF.type, DCTERMS.Location))
        g.add((where, DCAT.bbox, Literal(f"POLYGON(({w} {s},{e} {s},{e} {n},{w} {n},{w} {s}))",
                                         datatype=GSP.wktLiteral)))
        g.add((where, DCAT.centroid, Literal(f"POINT({(w + e) / 2} {(s + n) / 2})",
                                             datatype=GSP.wktLiteral)))
    span = p.get("temporal_extent") or []
    start, end = (_when(span[0]), _when(span[1])) if len(span) == 2 else (None, None)
    if start is not None or end is not None:
        when = BNode()
        g.add((ds, DCTERMS.temporal, when))
        g.add((when, RDF.type, DCTERMS.PeriodOfTime))
        if start is not None:
            g.add((when, DCAT.startDate, start))
        if end is not None:
            g.add((when, DCAT.endDate, end))


def _freshness(g: Graph, site: Site, ds: URIRef, frequency: str, published: str,
               at: datetime | None) -> None:
    """Is the layer as current as its passport promises (``freshness.rate``)? A W3C Data Quality
    Vocabulary measurement of the catalogue's own metric, with when it was measured."""
    rated = freshness.rate(frequency, published, at)
    metric = URIRef(f"{site.base}/catalog#freshness")
    g.add((metric, RDF.type, DQV.Metric))
    g.add((metric, SKOS.prefLabel, Literal("Freshness", lang="en")))
    g.add((metric, SKOS.definition, Literal(
        "fresh, due, overdue or delinquent: the age of the published version against the update "
        "frequency its passport promises (thresholds like the Humanitarian Data Exchange's); "
        "unknown without a frequency", lang="en")))
    g.add((metric, DQV.expectedDataType, XSD.string))
    m = BNode()
    g.add((ds, DQV.hasQualityMeasurement, m))
    g.add((m, RDF.type, DQV.QualityMeasurement))
    g.add((m, DQV.isMeasurementOf, metric))
    g.add((m, DQV.value, Literal(rated["state"])))
    g.add((m, DCTERMS.date, Literal((at or datetime.now(UTC)).date().isoformat(), datatype=XSD.date)))


def service(g: Graph, site: Site, datasets: Iterable[URIRef], raster: bool) -> URIRef:
    """The OGC API that serves the layers, as a ``dcat:DataService``."""
    node = site.service
    g.add((node, RDF.type, DCAT.DataService))
    _texts(g, node, DCTERMS.title, site.title)
    _texts(g, node, DCTERMS.description, site.description)
    g.add((node, DCAT.endpointURL, _concept(g, f"{site.base}/", RDFS.Resource)))
    g.add((node, DCAT.endpointDescription, _concept(g, f"{site.base}/openapi?f=json", RDFS.Resource)))
    for key in ("common", "features", "geojson", "records") + (("coverages",) if raster else ()):
        g.add((node, DCTERMS.conformsTo, _standard(g, key)))
    g.add((node, DCTERMS.publisher, publisher(g, site)))
    for ds in datasets:
        g.add((node, DCAT.servesDataset, ds))
    return node


def dataset_iri(site: Site, collection: str) -> URIRef:
    return URIRef(f"{site.base}/collections/{collection}")


def header(site: Site, collections: list[str], *, raster: bool, modified: str | None, total: int,
           page: int, per_page: int, page_url: str) -> Graph:
    """The catalogue, the service and hydra paging for a page listing ``collections``
    (``page_url`` is a format string taking the page number)."""
    g = new_graph()
    cat = site.catalog
    g.add((cat, RDF.type, DCAT.Catalog))
    _texts(g, cat, DCTERMS.title, site.title)
    _texts(g, cat, DCTERMS.description, site.description)
    _languages(g, cat, [site.title])
    g.add((cat, DCTERMS.publisher, publisher(g, site)))
    if site.homepage:
        g.add((cat, FOAF.homepage, _concept(g, site.homepage, FOAF.Document)))
    datasets = [dataset_iri(site, c) for c in collections]
    for ds in datasets:
        g.add((cat, DCAT.dataset, ds))
    when = _when(modified)
    if when is not None:
        g.add((cat, DCTERMS.modified, when))
    g.add((cat, DCAT.service, service(g, site, datasets, raster)))
    _paging(g, cat, total=total, page=page, per_page=per_page, page_url=page_url)
    return g


def catalog(site: Site, entries: list[Entry], *, total: int, page: int, per_page: int,
            page_url: str, at: datetime | None = None) -> Graph:
    """One page of the catalogue as one graph: ``entries`` (this page's) under :func:`header`.
    The server assembles the same page from cached parts (``document``)."""
    g = header(site, [e.collection for e in entries], raster=any(e.raster for e in entries),
               modified=max((e.published for e in entries), default=None), total=total,
               page=page, per_page=per_page, page_url=page_url)
    for e in entries:
        dataset(g, site, e, at)
    return g


def _paging(g: Graph, cat: URIRef, *, total: int, page: int, per_page: int, page_url: str) -> None:
    """Hydra paging: the catalogue is a ``hydra:Collection`` whose ``hydra:view`` is this page.
    The view also carries the older PagedCollection terms that ckanext-dcat before 2.1 follows."""
    last = max(1, -(-total // per_page))
    view = URIRef(page_url.format(page))
    g.add((cat, RDF.type, HYDRA.Collection))
    g.add((cat, HYDRA.totalItems, Literal(total, datatype=XSD.nonNegativeInteger)))
    g.add((cat, HYDRA.view, view))
    g.add((view, RDF.type, HYDRA.PartialCollectionView))
    g.add((view, RDF.type, HYDRA.PagedCollection))
    g.add((view, HYDRA.totalItems, Literal(total, datatype=XSD.nonNegativeInteger)))
    g.add((view, HYDRA.itemsPerPage, Literal(per_page, datatype=XSD.nonNegativeInteger)))
    links = {"first": 1, "last": last}
    if page > 1:
        links["previous"] = page - 1
    if page < last:
        links["next"] = page + 1
    legacy = {"first": "firstPage", "last": "lastPage", "previous": "previousPage", "next": "nextPage"}
    for rel, number in links.items():
        g.add((view, HYDRA[rel], URIRef(page_url.format(number))))
        g.add((view, HYDRA[legacy[rel]], Literal(page_url.format(number))))


def one(site: Site, entry: Entry, at: datetime | None = None) -> Graph:
    """A single layer's DCAT description: what the catalogue says of it, and what
    ``/passports/{id}.jsonld`` serves."""
    g = new_graph()
    dataset(g, site, entry, at)
    return g


SERIALISATIONS = {  # extension -> (rdflib format, media type)
    "ttl": ("turtle", "text/turtle"),
    "rdf": ("xml", "application/rdf+xml"),
    "xml": ("xml", "application/rdf+xml"),
    "jsonld": ("json-ld", "application/ld+json"),
}
JSONLD_CONTEXT = {k: str(v) for k, v in PREFIXES.items()}


def part(g: Graph, ext: str) -> str:
    """``g`` serialised without its document's frame (prefixes, root element, @context), so
    that parts made apart (and kept) join into one document with :func:`document`. Every
    namespace a part uses is one of PREFIXES, which the frame declares."""
    fmt = SERIALISATIONS[ext][0]
    if fmt == "json-ld":
        doc = json.loads(g.serialize(format="json-ld", context=JSONLD_CONTEXT, auto_compact=True))
        nodes = doc["@graph"] if "@graph" in doc else [{k: v for k, v in doc.items() if k != "@context"}]
        return ",".join(json.dumps(n, ensure_ascii=False, separators=(",", ":")) for n in nodes)
    text = g.serialize(format=fmt)
    if fmt == "turtle":  # the prefix lines come first, then a blank line
        lines = text.split("\n")
        i = 0
        while i < len(lines) and (lines[i].startswith("@prefix ") or not lines[i].strip()):
            i += 1
        return "\n".join(lines[i:]).strip() + "\n"
    start = text.index(">", text.index("<rdf:RDF")) + 1  # the root's attributes hold no ">"
    return text[start:text.rindex("</rdf:RDF>")].strip("\n") + "\n"


def document(ext: str, parts: list[str]) -> bytes:
    fmt = SERIALISATIONS[ext][0]
    if fmt == "json-ld":
        return ('{"@context":' + json.dumps(JSONLD_CONTEXT) + ',"@graph":['
                + ",".join(p for p in parts if p) + "]}").encode("utf-8")
    if fmt == "turtle":
        head = "".join(f"@prefix {k}: <{v}> .\n" for k, v in PREFIXES.items())
        return (head + "\n" + "\n".join(parts)).encode("utf-8")
    roots = "".join(f'\n   xmlns:{k}="{v}"' for k, v in PREFIXES.items())
    return ('<?xml version="1.0" encoding="utf-8"?>\n<rdf:RDF' + roots + "\n>\n"
            + "".join(parts) + "</rdf:RDF>\n").encode("utf-8")


def serialise(g: Graph, ext: str) -> bytes:
    return document(ext, [part(g, ext)])
