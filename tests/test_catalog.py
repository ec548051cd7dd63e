"""The DCAT-AP catalogue a national portal harvests, read from a live server on both stores:
validated with pyshacl against the official DCAT-AP 3.0.1 shapes (kept in tests/fixtures), walked
through its hydra pages as ckanext-dcat and udata walk them, in every serialisation, with the
downloads it describes fetched and checked against their sizes and checksums.

The catalogue holds every sample layer (three vector layers and a raster), a layer whose passport
is minimal (no manifest at all), and a layer whose texts try to break out of Turtle, RDF/XML and
JSON-LD."""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
from pathlib import Path

import pytest
import rdflib
from rdflib import RDF, XSD, Literal, URIRef
from rdflib.namespace import SH, SKOS

from gp_testlib import canonical_points
from server_testlib import XSS, start, write_config

ROOT = Path(__file__).resolve().parents[1]
SHAPES = Path(__file__).parent / "fixtures" / "dcat-ap-3.0.1"
DCAT = rdflib.Namespace("http://www.w3.org/ns/dcat#")
DCT = rdflib.Namespace("http://purl.org/dc/terms/")
FOAF = rdflib.Namespace("http://xmlns.com/foaf/0.1/")
VCARD = rdflib.Namespace("http://www.w3.org/2006/vcard/ns#")
HYDRA = rdflib.Namespace("http://www.w3.org/ns/hydra/core#")
SPDX = rdflib.Namespace("http://spdx.org/rdf/terms#")
DQV = rdflib.Namespace("http://www.w3.org/ns/dqv#")
EU = "http://publications.europa.eu/resource/authority/"
FORMATS = {"ttl": ("turtle", "text/turtle"), "rdf": ("xml", "application/rdf+xml"),
           "jsonld": ("json-ld", "application/ld+json")}
# texts that close a Turtle long string, an XML element and a JSON string, and start a directive
HOSTILE = '"""\\" \'\'\' </rdf:RDF> ]]> "}]} \n@prefix dct: <http://evil.example/> .\n' + XSS
HOSTILE_MANIFEST = f"""\
id: hostile
title: {{en: {json.dumps(HOSTILE)}}}
passport:
  organization: {json.dumps(HOSTILE)}
  responsible: {{name: {json.dumps(HOSTILE)}, email: officer@gov.example}}
  lineage: {json.dumps(HOSTILE)}
  update_frequency: weekly
"""
PAGE = 2  # datasets per page: the six layers make three pages


def _cli(root: Path, *args: str) -> None:
    from gp_testlib import cli_here

    done = cli_here(root / "config.yml", *args)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module", params=["geopackage", "postgis"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    from geo_publish import samples

    root = tmp_path_factory.mktemp(f"catalog-{request.param}")
    write_config(root, request, f"cat_{secrets.token_hex(4)}",
                 f"catalogue: {{page_size: {PAGE}, publisher: National GIS office, "
                 "publisher_email: gis@gov.example}\n")
    shutil.copytree(ROOT / "collections", root / "collections")
    shutil.copytree(ROOT / "styles", root / "styles")
    (root / "collections" / "hostile.yml").write_text(HOSTILE_MANIFEST, encoding="utf-8")
    for cid, path in samples.build(root / "sources").items():
        _cli(root, "ingest", str(path), "--collection", cid)
    bare = root / "sources" / "bare.geojson"
    canonical_points().to_file(bare, driver="GeoJSON")
    _cli(root, "ingest", str(bare), "--collection", "bare")  # no manifest: a minimal passport
    _cli(root, "ingest", str(bare), "--collection", "hostile")
    _cli(root, "admin", "org-add", "mchs", "--name", "Ministry of Emergency Situations",
         "--email", "info@mchs.example")
    _cli(root, "admin", "assign", "--org", "mchs", "shelters", "seismic")
    live = start(root)
    yield live
    live.stop()


def graph_of(body: bytes, ext: str) -> rdflib.Graph:
    return rdflib.Graph().parse(data=body, format=FORMATS[ext][0])


def walk(server, ext: str = "ttl") -> tuple[rdflib.Graph, list[str]]:
    """Every page, following hydra:next as a harvester does; the merged graph and the pages."""
    merged, pages = rdflib.Graph(), []
    url: str | None = f"{server.url}/catalog.{ext}"
    while url:
        assert url not in pages and len(pages) < 20
        pages.append(url)
        r = server.get(url[len(server.url):])
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith(FORMATS[ext][1])
        g = graph_of(r.content, ext)
        merged += g
        view = g.value(URIRef(f"{server.url}/catalog"), HYDRA.view)
        nxt = g.value(view, HYDRA.next)
        url = str(nxt) if nxt is not None else None
    return merged, pages


def shacl(data: rdflib.Graph, *files: str) -> list[tuple[str, str, str]]:
    """(severity, focus node, path) of each result of validating ``data`` against ``files``."""
    import pyshacl

    shapes = rdflib.Graph()
    for f in files:
        shapes.parse(SHAPES / f, format="turtle")
    if "shacl_dcat-ap-SHACL.ttl" in files:
        # The combined file names two DataService range shapes (endpointURL, endpointDescription)
        # that only shacl_ranges.ttl defines, and pyshacl refuses the two files together: add
        # just those two definitions from it.
        ranges = rdflib.Graph().parse(SHAPES / "shacl_ranges.ttl", format="turtle")
        for missing in set(shapes.objects(None, SH.property)) - set(shapes.subjects(SH.path, None)):
            for triple in ranges.triples((missing, None, None)):
                shapes.add(triple)
    _, report, _ = pyshacl.validate(data, shacl_graph=shapes)
    return [(str(report.value(r, SH.resultSeverity)).split("#")[1], str(report.value(r, SH.focusNode)),
             str(report.value(r, SH.resultPath))) for r in report.objects(None, SH.result)]


def test_zero_violations_against_the_dcat_ap_shapes(server) -> None:
    g, pages = walk(server)
    assert len(pages) == 3
    datasets = set(g.subjects(RDF.type, DCAT.Dataset))
    assert len(datasets) == 6  # four samples (one a raster), the minimal one, the hostile one
    mandatory_and_ranges = shacl(g, "html_shacl_shapes.ttl", "html_shacl_range.ttl")
    assert mandatory_and_ranges == []
    combined = shacl(g, "shacl_dcat-ap-SHACL.ttl")
    assert combined == [], sorted(set((s, p) for s, _, p in combined))
    # the EU vocabularies: no violation; what remains are warnings for the EU-only lists a
    # non-EU ministry cannot use (publisher: EU corporate bodies; spatial: EU countries or
    # GeoNames IRIs, where we give a bounding box; themes: the EU data-theme scheme)
    vocab = shacl(g, "html_shacl_mdr-vocabularies.shape.ttl")
    assert [v for v in vocab if v[0] != "Warning"] == []
    assert {path.rsplit("/", 1)[-1].split("#")[-1] for _, _, path in vocab} <= {
        "publisher", "spatial", "themeTaxonomy", "theme"}


def test_the_shapes_catch_what_we_fixed(server) -> None:
    """The validation can fail: the catalogue without the types and schemes it gives has
    violations (so a zero above means something)."""
    g, _ = walk(server)
    broken = rdflib.Graph()
    for s, p, o in g:
        if p == RDF.type and o in (DCT.Frequency, DCT.LicenseDocument):
            continue
        if p == SKOS.inScheme:
            continue
        broken.add((s, p, o))
    assert {p.rsplit("#")[-1].rsplit("/")[-1] for sev, _, p in shacl(
        broken, "html_shacl_shapes.ttl", "html_shacl_range.ttl") if sev == "Violation"} >= {
        "accrualPeriodicity", "license"}
    assert any(sev == "Violation" for sev, _, _ in shacl(broken, "html_shacl_mdr-vocabularies.shape.ttl"))


def test_every_serialisation_says_the_same(server) -> None:
    from rdflib.compare import isomorphic

    by_ext = {ext: server.get(f"/catalog.{ext}") for ext in FORMATS}
    graphs = {ext: graph_of(r.content, ext) for ext, r in by_ext.items()}
    for ext, r in by_ext.items():
        assert r.status_code == 200 and r.headers["content-type"].startswith(FORMATS[ext][1])
        assert "Accept" in r.headers["vary"]
    # the page IRIs in hydra carry the extension asked for; the rest is the same graph
    def plain(g: rdflib.Graph) -> rdflib.Graph:
        out = rdflib.Graph()
        for s, p, o in g:
            if str(p).startswith(str(HYDRA)) or str(s).startswith(
                    (f"{server.url}/catalog.", f"{server.url}/catalog?")):
                continue
            out.add((s, p, o))
        return out

    assert isomorphic(plain(graphs["ttl"]), plain(graphs["rdf"]))
    assert isomorphic(plain(graphs["ttl"]), plain(graphs["jsonld"]))
    for accept, ext in (("text/turtle", "ttl"), ("application/rdf+xml", "rdf"),
                        ("application/ld+json", "jsonld"),
                        ("text/html;q=0.9, application/ld+json", "jsonld"),
                        ("application/rdf+xml;q=0.5, text/turtle;q=0.8", "ttl"), ("*/*", "ttl")):
        r = server.get("/catalog", headers={"Accept": accept})
        assert r.status_code == 200 and r.headers["content-type"].startswith(FORMATS[ext][1]), accept
        assert isomorphic(plain(graph_of(r.content, ext)), plain(graphs["ttl"]))
    assert server.get("/catalog", params={"f": "jsonld"}).headers["content-type"].startswith(
        "application/ld+json")


@pytest.mark.parametrize("path, params, headers, status", [
    ("/catalog", {}, {"Accept": "application/pdf"}, 406),
    ("/catalog.ttl", {"page": "0"}, {}, 400),
    ("/catalog.ttl", {"page": "abc"}, {}, 400),
    ("/catalog.ttl", {"page": "-1"}, {}, 400),
    ("/catalog.ttl", {"page": "99"}, {}, 404),
    ("/catalog.ttl", {"pagesize": "5"}, {}, 400),
    ("/catalog", {"f": "pdf"}, {}, 400),
    ("/catalog.pdf", {}, {}, 404),
    ("/passports/nothing.ttl", {}, {}, 404),
])
def test_bad_requests_get_a_clear_4xx(server, path, params, headers, status) -> None:
    r = server.get(path, params=params, headers=headers)
    assert r.status_code == status, r.text
    assert r.json()["description"] and "Traceback" not in r.text


def _catalogue(server):
    from geo_publish.serve.routes.catalog import Catalogue
    from geo_publish.read.readers import reader
    from geo_publish.settings import load_settings
    from geo_publish.store.location import Source

    settings = load_settings(server.config)
    Source.export_dsn(settings)
    return Catalogue(settings, server.url, reader(Source.of(settings).data))


@pytest.mark.parametrize("ext", sorted(FORMATS))
def test_pages_joined_from_kept_parts_are_the_whole_graph(server, ext) -> None:
    """The server joins a page from each layer's kept part (dcat.part, dcat.document): the
    same graph as the page described in one piece (dcat.catalog)."""
    from datetime import UTC, datetime

    from rdflib.compare import isomorphic

    from geo_publish.passport import dcat

    cat = _catalogue(server)
    entries, at = cat.entries(), datetime.now(UTC)
    url = f"{server.url}/catalog.{ext}?page={{}}"
    whole = dcat.catalog(cat.site, entries[:PAGE], total=len(entries), page=1, per_page=PAGE,
                         page_url=url, at=at)
    head = dcat.header(cat.site, [e.collection for e in entries[:PAGE]],
                       raster=any(e.raster for e in entries[:PAGE]),
                       modified=max(e.published for e in entries[:PAGE]), total=len(entries),
                       page=1, per_page=PAGE, page_url=url)
    joined = dcat.document(ext, [dcat.part(head, ext)] + [cat._part(e, ext, at) for e in entries[:PAGE]])
    assert isomorphic(graph_of(joined, ext), whole)


def test_warming_describes_every_dataset_once(server, monkeypatch) -> None:
    """What a worker prepares ahead of harvesters is all a page needs: once warm, no page in any
    serialisation describes a dataset again, and warming again with nothing changed makes
    nothing."""
    from geo_publish.passport import dcat

    cat = _catalogue(server)
    n = len(cat.entries())
    assert cat.warm() == 3 * n  # Turtle, RDF/XML (also .xml) and JSON-LD
    assert cat.warm() == 0
    described = []
    real = dcat.one
    monkeypatch.setattr(dcat, "one", lambda *a, **k: described.append(a) or real(*a, **k))
    for ext in ("ttl", "rdf", "xml", "jsonld"):
        for page in range(1, -(-n // PAGE) + 1):
            graph_of(cat.page(ext, page, ext), "rdf" if ext == "xml" else ext)
    assert described == []


def test_the_warming_thread_follows_the_signature() -> None:
    """keep_warm warms at start and after each change of what the catalogue depends on, once."""
    import threading

    from geo_publish.serve.routes.catalog import keep_warm

    class Fake:
        def __init__(self) -> None:
            self.state, self.warmed, self.done = 1, [], threading.Event()

        def signature(self):
            if self.state == 3:
                raise OSError("store gone")  # logged, tried again
            return (self.state,)

        def warm(self) -> int:
            self.warmed.append(self.state)
            self.done.set()
            return 1

    fake = Fake()
    stop = keep_warm(lambda: fake, interval=0.05)
    try:
        assert fake.done.wait(5)
        fake.done.clear()
        fake.state = 2
        assert fake.done.wait(5)
        fake.state = 3
        stop.wait(0.3)
        fake.done.clear()
        fake.state = 4
        assert fake.done.wait(5)
        stop.wait(0.3)
    finally:
        stop.set()
    assert fake.warmed == [1, 2, 4]


def test_the_landing_page_links_the_catalogue(server) -> None:
    links = server.get("/", params={"f": "json"}).json()["links"]
    found = {link["type"]: link["href"] for link in links if "DCAT" in link.get("title", "")}
    assert found == {"text/turtle": f"{server.url}/catalog.ttl",
                     "application/rdf+xml": f"{server.url}/catalog.rdf",
                     "application/ld+json": f"{server.url}/catalog.jsonld"}
    assert all(server.get(href[len(server.url):]).status_code == 200 for href in found.values())


def test_paging_as_harvesters_follow_it(server) -> None:
    _, pages = walk(server, "jsonld")
    ids: list[str] = []
    for n, url in enumerate(pages, start=1):
        g = graph_of(server.get(url[len(server.url):]).content, "jsonld")
        cat = URIRef(f"{server.url}/catalog")
        assert g.value(cat, HYDRA.totalItems).toPython() == 6
        view = g.value(cat, HYDRA.view)
        assert str(view) == f"{server.url}/catalog.jsonld?page={n}"
        assert (view, RDF.type, HYDRA.PartialCollectionView) in g
        assert str(g.value(view, HYDRA.first)).endswith("page=1")
        assert str(g.value(view, HYDRA.last)).endswith("page=3")
        assert (g.value(view, HYDRA.previous) is None) == (n == 1)
        # ckanext-dcat before 2.1 follows hydra:nextPage of a hydra:PagedCollection
        assert (g.value(view, HYDRA.nextPage) is None) == (n == 3)
        ids += [str(d) for d in g.objects(cat, DCAT.dataset)]
        assert len(list(g.subjects(RDF.type, DCAT.Dataset))) == len(list(g.objects(cat, DCAT.dataset))) <= PAGE
    assert sorted(ids) == sorted(f"{server.url}/collections/{c}" for c in (
        "bare", "hospitals", "hostile", "regions", "seismic", "shelters"))


def test_a_dataset_says_what_its_passport_says(server) -> None:
    g, _ = walk(server)
    ds = URIRef(f"{server.url}/collections/shelters")
    titles = {t.language: str(t) for t in g.objects(ds, DCT.title)}
    assert titles == {"en": "Emergency shelters", "uz": "Favqulodda boshpanalar",
                      "ru": "Пункты временного размещения"}
    assert {d.language for d in g.objects(ds, DCT.description)} == {"en", "uz", "ru"}
    assert set(g.objects(ds, DCT.language)) == {URIRef(f"{EU}language/{c}") for c in ("ENG", "RUS", "UZB")}
    # the publisher is the organisation that owns the layer in the portal
    pub = g.value(ds, DCT.publisher)
    assert (pub, RDF.type, FOAF.Agent) in g
    assert str(g.value(pub, FOAF.name)) == "Ministry of Emergency Situations"
    assert g.value(pub, FOAF.mbox) == URIRef("mailto:info@mchs.example")
    contact = g.value(ds, DCAT.contactPoint)
    assert (contact, RDF.type, VCARD.Kind) in g
    assert g.value(contact, VCARD.hasEmail) == URIRef("mailto:gis@example.org")
    assert str(g.value(contact, VCARD.fn)) == "Sample Officer"
    lic = g.value(ds, DCT.license)
    assert lic == URIRef("https://creativecommons.org/licenses/by/4.0/")
    assert (lic, RDF.type, DCT.LicenseDocument) in g
    freq = g.value(ds, DCT.accrualPeriodicity)
    assert freq == URIRef(f"{EU}frequency/MONTHLY") and (freq, RDF.type, DCT.Frequency) in g
    issued, modified = g.value(ds, DCT.issued), g.value(ds, DCT.modified)
    assert issued.datatype == XSD.dateTime and modified.datatype == XSD.dateTime
    assert str(g.value(ds, DCAT.version)) == "1"
    bbox = g.value(g.value(ds, DCT.spatial), DCAT.bbox)
    assert str(bbox).startswith("POLYGON((65.29")
    # freshness: the same state as the API's collection metadata
    measure = g.value(ds, DQV.hasQualityMeasurement)
    api = server.get("/collections/shelters", params={"f": "json"}).json()
    assert str(g.value(measure, DQV.value)) == api["freshness"]["state"]
    # the layer's page in the viewer is its landing page
    assert server.get(str(g.value(ds, DCAT.landingPage))[len(server.url):]).status_code == 200


def test_downloads_are_what_the_catalogue_says(server) -> None:
    g, _ = walk(server)
    seen = {}
    for cid in ("shelters", "hospitals", "regions", "seismic"):
        ds = URIRef(f"{server.url}/collections/{cid}")
        for dist in g.objects(ds, DCAT.distribution):
            fmt = str(g.value(dist, DCT["format"])).rsplit("/", 1)[-1]
            media = str(g.value(dist, DCAT.mediaType))
            assert media.startswith("https://www.iana.org/assignments/media-types/")
            url = g.value(dist, DCAT.downloadURL)
            if url is None:  # the API: an access URL that answers, through the service
                assert g.value(dist, DCAT.accessService) == URIRef(f"{server.url}/catalog#api")
                r = server.get(str(g.value(dist, DCAT.accessURL))[len(server.url):])
                assert r.status_code == 200
                seen.setdefault(cid, set()).add("api:" + fmt)
                continue
            body = server.get(str(url)[len(server.url):]).content
            assert g.value(dist, DCAT.byteSize).toPython() == len(body)
            checksum = g.value(dist, SPDX.checksum)
            assert str(g.value(checksum, SPDX.algorithm)).endswith("checksumAlgorithm_sha256")
            assert str(g.value(checksum, SPDX.checksumValue)) == hashlib.sha256(body).hexdigest()
            seen.setdefault(cid, set()).add(fmt)
    assert seen["shelters"] == {"GEOJSON", "GPKG", "CSV", "api:GEOJSON"}
    assert seen["seismic"] == {"GEOTIFF", "api:GEOTIFF"}
    service = URIRef(f"{server.url}/catalog#api")
    assert (service, RDF.type, DCAT.DataService) in g
    assert str(g.value(service, DCAT.endpointURL)) == f"{server.url}/"
    assert URIRef("http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core") in set(
        g.objects(service, DCT.conformsTo))
    assert URIRef("http://www.opengis.net/spec/ogcapi-coverages-1/1.0/conf/core") in set(
        g.objects(service, DCT.conformsTo))


def test_a_minimal_passport_still_makes_a_valid_dataset(server) -> None:
    g, _ = walk(server)
    ds = URIRef(f"{server.url}/collections/bare")
    passport = server.get("/passports/bare.json").json()
    assert not any(passport["description"].values()) and not passport["organization"]
    # no description (mandatory in DCAT-AP) or organisation: the title is the description
    assert [str(t) for t in g.objects(ds, DCT.title)] == [passport["title"]["en"]]
    assert [str(t) for t in g.objects(ds, DCT.description)] == [passport["title"]["en"]]
    assert str(g.value(g.value(ds, DCT.publisher), FOAF.name)) == "National GIS office"
    assert g.value(ds, DCT.accrualPeriodicity) == URIRef(f"{EU}frequency/UNKNOWN")
    assert g.value(ds, DCT.license) is None and g.value(ds, DCAT.contactPoint) is None


@pytest.mark.parametrize("ext", sorted(FORMATS))
def test_hostile_texts_stay_literals(server, ext) -> None:
    ds = URIRef(f"{server.url}/collections/hostile")
    for path in (f"/catalog.{ext}?page=2", f"/passports/hostile.{ext}"):
        g = graph_of(server.get(path).content, ext)
        assert (ds, RDF.type, DCAT.Dataset) in g, path
        assert [str(t) for t in g.objects(ds, DCT.title)] == [HOSTILE]
        assert str(g.value(g.value(ds, DCT.publisher), FOAF.name)) == HOSTILE
        assert str(g.value(g.value(ds, DCAT.contactPoint), VCARD.fn)) == HOSTILE
        assert not any("evil.example" in str(t) for triple in g for t in triple
                       if not isinstance(t, Literal))


def test_the_passport_jsonld_is_the_catalogues_description(server) -> None:
    g, _ = walk(server)
    for ext in FORMATS:
        r = server.get(f"/passports/shelters.{ext}")
        assert r.status_code == 200 and r.headers["content-type"].startswith(FORMATS[ext][1])
        one = graph_of(r.content, ext)
        ds = URIRef(f"{server.url}/collections/shelters")
        ground = lambda graph: {(p, o) for p, o in graph.predicate_objects(ds)  # noqa: E731
                                if not isinstance(o, rdflib.BNode)}
        assert ground(one) == ground(g) and len(ground(one)) > 15


def test_a_new_version_shows_at_once(server) -> None:
    """... and a harvester that asks again with the page's ETag hears "unchanged" (304) until
    then."""
    first = server.get("/catalog.ttl")
    before = graph_of(first.content, "ttl")
    tag = first.headers["etag"]
    for _ in range(2):  # both workers
        same = server.get("/catalog.ttl", headers={"If-None-Match": tag})
        assert (same.status_code, same.content, same.headers["etag"]) == (304, b"", tag)
    other = server.get("/catalog.jsonld", headers={"If-None-Match": tag})
    assert other.status_code == 200 and other.headers["etag"] != tag
    ds = URIRef(f"{server.url}/collections/bare")
    assert str(before.value(ds, DCAT.version)) == "1"
    again = server.root / "sources" / "bare2.geojson"
    canonical_points().iloc[:5].to_file(again, driver="GeoJSON")
    _cli(server.root, "ingest", str(again), "--collection", "bare")
    changed = server.get("/catalog.ttl", headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["etag"] != tag
    after = graph_of(changed.content, "ttl")
    assert str(after.value(ds, DCAT.version)) == "2"
    assert after.value(ds, DCT.modified).toPython() > before.value(ds, DCT.modified).toPython()
