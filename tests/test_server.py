"""OGC API - Features on a live server: Part 1 core/GeoJSON/OAS/HTML, Part 2 CRS, Part 3 filter.

Written against the abstract test suites' requirements (cited per test); run against
`geo-publish serve` with two workers on 127.0.0.1, through real HTTP, and with real clients
(GDAL's OAPIF driver through pyogrio, OWSLib).
"""

from __future__ import annotations

import html
import json
import re

import httpx
import numpy as np
import pyogrio
import pyproj
import pytest
import shapely

from geo_publish.cli.main import main
from gp_testlib import LONLAT, NAMES
from server_testlib import XSS, LiveServer, make_sources, start, write_config

pytestmark = pytest.mark.slow
CONF = "http://www.opengis.net/spec/"


@pytest.fixture(scope="module", params=["geopackage", "postgis"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> LiveServer:
    """The same API on each store backend: every test runs against both."""
    root = tmp_path_factory.mktemp(f"live-{request.param}")
    write_config(root, request, "live", "catalogue: {publisher: Favqulodda vaziyatlar vazirligi, "
                                        "publisher_email: gis@fvv.example.uz}\n")
    for cid, path in make_sources(root / "sources").items():
        assert main(["--config", str(root / "config.yml"), "ingest", str(path), "--collection", cid]) == 0
    srv = start(root)
    yield srv
    srv.stop()


def items(server: LiveServer, cid: str, **params: object) -> dict:
    r = server.get(f"/collections/{cid}/items", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def fields(server: LiveServer, cid: str) -> list[str]:
    q = server.get(f"/collections/{cid}/queryables").json()
    return [k for k in q["properties"] if k != "geometry"]


# -- Part 1 core ----------------------------------------------------------------------------------
def test_landing_conformance_exactly_what_is_implemented(server):
    landing = server.get("/").json()
    rels = {link["rel"] for link in landing["links"]}
    assert {"service-desc", "conformance", "data"} <= rels  # /req/core/root-success
    conf = set(server.get("/conformance").json()["conformsTo"])
    for c in ["ogcapi-features-1/1.0/conf/core", "ogcapi-features-1/1.0/conf/geojson",
              "ogcapi-features-1/1.0/conf/oas30", "ogcapi-features-1/1.0/conf/html",
              "ogcapi-features-2/1.0/conf/crs", "ogcapi-features-3/1.0/conf/filter",
              "ogcapi-features-3/1.0/conf/features-filter", "cql2/1.0/conf/cql2-text",
              "cql2/1.0/conf/cql2-json", "cql2/1.0/conf/basic-spatial-functions"]:
        assert CONF + c in conf
    assert CONF + "ogcapi-features-4/1.0/conf/create-replace-delete" not in conf


def test_openapi_is_self_contained(server):
    r = server.get("/openapi", params={"f": "json"})
    assert r.status_code == 200
    doc = r.json()
    text = json.dumps(doc)
    refs = set(re.findall(r'"\$ref": "([^"]*)"', text))
    assert refs and all(ref.startswith("#/") for ref in refs), [r for r in refs if not r.startswith("#")]
    for ref in refs:  # every local reference resolves
        node = doc
        for part in ref[2:].split("/"):
            node = node[part]
    # each kind of collection's paths once, the collection id a parameter (naming which exist)
    items = doc["paths"]["/collections/{collectionId}/items"]["get"]["parameters"]
    assert "points" in next(p for p in items if p.get("name") == "collectionId")["schema"]["enum"]
    assert not any(p.startswith("/collections/points") for p in doc["paths"])


def test_collections_carry_the_passport(server):
    c = server.get("/collections/points").json()
    assert c["version"] == 1 and c["itemCount"] == 13
    assert c["extent"]["spatial"]["bbox"][0] == pytest.approx([64.4286, 37.2242, 72.3442, 41.4689], abs=1e-6)
    rels = {(link["rel"], link["type"]) for link in c["links"]}
    assert ("describedby", "application/ld+json") in rels and ("items", "application/geo+json") in rels
    dcat = server.get("/passports/points.jsonld")
    assert dcat.status_code == 200 and dcat.headers["content-type"].startswith("application/ld+json")
    assert {"@id": f"{server.url}/collections/points", "@type": "dcat:Dataset"}.items() <= next(
        n for n in dcat.json()["@graph"] if n.get("@type") == "dcat:Dataset").items()
    report = server.get("/reports/points.json").json()
    assert report["counts"]["read"] == 13
    records = items(server, "catalogue", limit=50)
    assert sorted(f["id"] for f in records["features"]) == ["many", "points", "polygons"]


def test_items_geojson_utf8_and_exact_count(server):
    r = server.get("/collections/points/items", params={"limit": 100})
    assert r.headers["content-type"].startswith("application/geo+json")
    assert "Ташкент".encode() in r.content and b"\\u04" not in r.content  # not \u-escaped
    doc = r.json()
    assert doc["numberMatched"] == 13 and doc["numberReturned"] == 13
    names = [v for f in doc["features"] for v in f["properties"].values() if isinstance(v, str)]
    assert XSS in names  # the value comes back exactly, not HTML-mangled


def test_paging_by_next_links_visits_every_feature_once(server):
    seen: list[int] = []
    url = server.url + "/collections/many/items?limit=700"
    pages = 0
    while url:
        doc = httpx.get(url, timeout=30).json()
        assert doc["numberMatched"] == 2500
        seen += [f["id"] for f in doc["features"]]
        url = next((link["href"] for link in doc["links"] if link["rel"] == "next"), None)
        pages += 1
    assert pages == 4 and len(seen) == 2500 and len(set(seen)) == 2500


def test_bbox_matches_geometry_truth(server):
    box = (66.0, 38.0, 70.0, 41.0)
    doc = items(server, "many", bbox=",".join(map(str, box)), limit=10000)
    store = _stored(server, "many")
    truth = store[shapely.intersects(store.geometry.array, shapely.box(*box))]
    assert doc["numberMatched"] == len(truth) == len(doc["features"])
    # polygons: bbox touching only the envelope corner of a polygon must not match it
    polys = items(server, "polygons", bbox="69.2301,41.2895,69.2302,41.2896")
    assert polys["numberMatched"] == 0
    assert items(server, "polygons", bbox="69.23,41.29,69.25,41.31")["numberMatched"] == 1


def _stored(server: LiveServer, cid: str):
    """The published version as the store holds it (read through the store API, any backend)."""
    from geo_publish.settings import load_settings
    from geo_publish.store import open_store

    return open_store(load_settings(server.config)).read(cid)


def test_properties_sortby_skipgeometry_and_selection(server):
    f = fields(server, "many")
    assert set(f) == {"kod", "val"}
    doc = items(server, "many", val=42, limit=10000)
    assert doc["numberMatched"] > 0 and all(x["properties"]["val"] == 42 for x in doc["features"])
    desc = items(server, "many", sortby="-val,kod", limit=5, properties="val", skipGeometry="true")
    vs = [x["properties"]["val"] for x in desc["features"]]
    assert vs == sorted(vs, reverse=True) and vs[0] == 99
    assert all(x["geometry"] is None and set(x["properties"]) <= {"val", "kod"} for x in desc["features"])


# -- Part 3 filter --------------------------------------------------------------------------------
@pytest.mark.parametrize("cql, expect", [
    ("val < 10", lambda p: p["val"] < 10),
    ("val BETWEEN 10 AND 20", lambda p: 10 <= p["val"] <= 20),
    ("val IN (1, 2, 3)", lambda p: p["val"] in (1, 2, 3)),
    ("NOT (val >= 5) AND kod > 100", lambda p: p["val"] < 5 and p["kod"] > 100),
    ("kod = 7 OR kod = 2000", lambda p: p["kod"] in (7, 2000)),
])
def test_cql2_text_comparisons(server, cql, expect):
    doc = items(server, "many", filter=cql, limit=10000)
    allx = items(server, "many", limit=10000)["features"]
    truth = [x["id"] for x in allx if expect(x["properties"])]
    assert sorted(x["id"] for x in doc["features"]) == sorted(truth) and doc["numberMatched"] == len(truth)


def test_cql2_like_is_null_and_spatial(server):
    name = next(k for k in fields(server, "points") if items(server, "points", limit=1)["features"][0]
                ["properties"][k] == "Ташкент школа №1")
    assert items(server, "points", filter=f"{name} LIKE 'Ташкент%'")["numberMatched"] == 1
    assert items(server, "points", filter=f"{name} LIKE 'ташкент%'")["numberMatched"] == 0  # case-sensitive
    cap = next(k for k in fields(server, "points") if items(server, "points", limit=1)["features"][0]
               ["properties"][k] in (100, "100"))
    assert items(server, "points", filter=f"{cap} IS NULL")["numberMatched"] == 1
    poly = "POLYGON((69 41,70 41,70 42,69 42,69 41))"
    hits = items(server, "points", filter=f"S_INTERSECTS(geometry,{poly})")
    box = items(server, "points", filter="S_INTERSECTS(geometry,BBOX(69,41,70,42))")
    assert box["numberMatched"] == hits["numberMatched"]
    region = shapely.from_wkt(poly)
    truth = sorted(n for n, (x, y) in zip(NAMES, LONLAT) if shapely.intersects(region, shapely.Point(x, y)))
    assert len(truth) >= 2 and sorted(x["properties"][name] for x in hits["features"]) == truth
    within = items(server, "polygons", filter=f"S_WITHIN(geometry,{poly})")
    assert within["numberMatched"] == len(truth)  # the small squares around those points


def test_cql2_json_in_get_and_post(server):
    body = {"op": "and", "args": [{"op": ">", "args": [{"property": "val"}, 90]},
                                  {"op": "s_intersects", "args": [{"property": "geometry"},
                                                                   {"bbox": [60, 38, 70, 44]}]}]}
    got = items(server, "many", **{"filter-lang": "cql2-json", "filter": json.dumps(body), "limit": 10000})
    post = httpx.post(server.url + "/collections/many/items?limit=10000", json=body, timeout=30).json()
    allx = items(server, "many", limit=10000)["features"]
    truth = sorted(x["id"] for x in allx if x["properties"]["val"] > 90
                   and 60 <= x["geometry"]["coordinates"][0] <= 70 and 38 <= x["geometry"]["coordinates"][1] <= 44)
    assert sorted(x["id"] for x in got["features"]) == truth == sorted(x["id"] for x in post["features"])


@pytest.mark.parametrize("path, status", [
    ("/collections/many/items?bbox=1,2,3", 400),
    ("/collections/many/items?limit=-1", 400),
    ("/collections/nope/items", 404),
    ("/collections/nope/items?limit=10&bbox=1,2,3,4", 404),  # not a 400 on its parameters
    ("/collections/nope/items/7?crs=x", 404),
    ("/collections/nope", 404),
    ("/collections/many/items?filter=val%20%3E", 400),
    ("/collections/many/items?filter=nope%20%3D%201", 400),
    ("/collections/many/items?nope=1", 400),
    ("/collections/many/items?sortby=nope", 400),
    ("/collections/many/items?properties=nope", 400),
    ("/collections/many/items?val=abc", 400),
    ("/collections/many/items?filter=T_AFTER(kod,TIMESTAMP('2020-01-01T00:00:00Z'))", 400),
    ("/collections/many/items/999999", 404),
    ("/conformance?nope=1", 400),
])
def test_bad_requests_get_ogc_exceptions_never_500(server, path, status):
    r = httpx.get(server.url + path, timeout=30)
    assert r.status_code == status, r.text
    assert r.json()["code"]


# -- Part 2 CRS -------------------------------------------------------------------------------------
def test_crs_and_bbox_crs(server):
    utm = "http://www.opengis.net/def/crs/EPSG/0/32642"
    r = server.get("/collections/points/items/1", params={"crs": utm})
    assert r.status_code == 200 and r.headers["content-crs"] == f"<{utm}>"
    x, y = r.json()["geometry"]["coordinates"]
    ex, ey = pyproj.Transformer.from_crs("OGC:CRS84", "EPSG:32642", always_xy=True).transform(69.2401, 41.2995)
    assert (x, y) == pytest.approx((ex, ey), abs=0.01)
    t = pyproj.Transformer.from_crs("OGC:CRS84", "EPSG:32642", always_xy=True)
    (x0, x1), (y0, y1) = t.transform([69.0, 70.0], [41.0, 42.0])
    hits = items(server, "points", bbox=f"{x0},{y0},{x1},{y1}", **{"bbox-crs": utm}, limit=100)
    allx = items(server, "points", crs=utm, limit=100)["features"]
    truth = sorted(f["id"] for f in allx if x0 <= f["geometry"]["coordinates"][0] <= x1
                   and y0 <= f["geometry"]["coordinates"][1] <= y1)
    assert 0 < len(truth) == hits["numberMatched"] and sorted(f["id"] for f in hits["features"]) == truth
    assert server.get("/collections/points/items", params={"crs": "EPSG:nope"}).status_code == 400


# -- HTTP ---------------------------------------------------------------------------------------------
def test_etag_304_cache_control_cors_gzip(server):
    r = server.get("/collections/many/items", params={"limit": 50})
    etag = r.headers["etag"]
    assert r.headers["cache-control"].startswith("public") and r.headers["access-control-allow-origin"] == "*"
    again = server.get("/collections/many/items", params={"limit": 50}, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    other = server.get("/collections/many/items", params={"limit": 51}, headers={"If-None-Match": etag})
    assert other.status_code == 200
    raw = httpx.get(server.url + "/collections/many/items?limit=50", headers={"Accept-Encoding": "gzip"},
                    timeout=30)
    assert raw.headers.get("content-encoding") == "gzip"
    pre = httpx.options(server.url + "/collections/many/items", timeout=30,
                        headers={"Origin": "http://example.org", "Access-Control-Request-Method": "GET"})
    assert pre.status_code in (200, 204) and pre.headers["access-control-allow-origin"] == "*"


def test_languages(server):
    for lang, title in [("en", "Catalogue of published layers"), ("ru", "Каталог опубликованных слоёв"),
                        ("uz", "E'lon qilingan qatlamlar katalogi")]:
        assert server.get("/collections/catalogue", params={"lang": lang}).json()["title"] == title
    r = server.get("/collections/catalogue", headers={"Accept-Language": "ru"})
    assert r.json()["title"] == "Каталог опубликованных слоёв"


def test_the_root_page_leads_to_the_map_the_portal_the_catalogue_and_the_api(server):
    """A person who opens the server's address finds where to go, in their language, and whom
    to write to (the catalogue's publisher)."""
    for lang, word in [("ru", "Карта и данные для всех"), ("uz", "Hamma uchun xarita"),
                       ("en", "Map and data for everyone")]:
        page = server.get("/", params={"f": "html", "lang": lang}).text
        assert word in page, lang
        nav = re.search(r'<nav class="gp-start".*?</nav>', page, re.S).group(0)
        hrefs = [html.unescape(h) for h in re.findall(r'href="([^"]+)"', nav)]
        paths = [h.removeprefix(server.url) for h in hrefs]
        assert paths == [f"/site/index.html?lang={lang}", f"/collections/catalogue/items?f=html&lang={lang}",
                         f"/publish/?lang={lang}", "/openapi?f=html", "/catalog.jsonld"], paths
        for h in hrefs:
            assert server.get(h.removeprefix(server.url), follow_redirects=True).status_code == 200, h
    assert 'href="mailto:gis@fvv.example.uz"' in page


def test_html_escapes_attribute_values(server):
    r = server.get("/collections/points/items", params={"f": "html", "limit": 20})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert XSS not in r.text and "&lt;img src=x onerror=alert(1)&gt;" in r.text


# -- real clients ---------------------------------------------------------------------------------------
def test_viewer_site_beside_the_api(server):
    r = server.get("/site", follow_redirects=False)
    assert r.status_code == 308 and r.headers["location"] == "/site/"
    index = server.get("/site/")
    assert index.status_code == 200 and "text/html" in index.headers["content-type"]
    for cid in ("points", "polygons", "many"):
        assert f'href="layer-{cid}.html"' in index.text
        assert f'href="../collections/{cid}"' in index.text  # relative: works behind any host
        assert server.get(f"/collections/{cid}").status_code == 200
    page = server.get("/site/layer-many.html").text
    data = re.search(r'href="(data/many\.v1\.canvas\.json)"', page).group(1)
    r = server.get("/site/" + data, headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers.get("content-encoding") == "gzip"
    assert len(r.json()["coords"]) == 2 * 2500
    # the builder's records beside the pages (.state, .layers.json, its log) are not served
    site = server.root / "build" / "site"
    hidden = [p.name for p in site.resolve().iterdir() if p.name.startswith(".")]
    assert ".state" in hidden and ".layers.json" in hidden
    for name in hidden + ["data/.hidden", ".%73tate"]:
        assert server.get("/site/" + name).status_code == 404, name


def test_gdal_oapif_reads_back_identical(server):
    got = pyogrio.read_dataframe(f"OAPIF:{server.url}", layer="many")
    store = _stored(server, "many")
    assert len(got) == len(store) == 2500
    a = shapely.get_coordinates(got.sort_values("kod").geometry.array)
    b = shapely.get_coordinates(store.sort_values("kod").geometry.array)
    assert np.allclose(a, b, atol=1e-9)


def test_owslib_collections_items_bbox(server):
    from owslib.ogcapi.features import Features

    api = Features(server.url)
    ids = {c["id"] for c in api.collections()["collections"]}
    assert {"points", "polygons", "many", "catalogue"} <= ids
    page = api.collection_items("points", limit=5)
    assert page["numberMatched"] == 13 and len(page["features"]) == 5
    box = api.collection_items("many", bbox=[66, 38, 70, 41], limit=10000)
    assert box["numberMatched"] == len(box["features"]) > 0
    assert all(66 <= f["geometry"]["coordinates"][0] <= 70 for f in box["features"])


# -- live publishing ----------------------------------------------------------------------------------
def test_new_version_and_new_collection_go_live_without_restart(server, tmp_path):
    import threading
    import time

    errors: list[str] = []
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client(timeout=30) as c:
            while not stop.is_set():
                for path in ("/collections/points/items?limit=5", "/collections", "/collections/points"):
                    r = c.get(server.url + path)
                    if r.status_code != 200:
                        errors.append(f"{path}: {r.status_code}")

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        src = server.root / "sources" / "many.gpkg"
        assert server.cli("ingest", str(src), "--collection", "fresh").returncode == 0
        assert server.cli("ingest", str(server.root / "sources" / "polygons.gpkg"),
                          "--collection", "points").returncode == 0  # a new version, other data
        deadline = time.monotonic() + 10
        seen: set[tuple[bool, int]] = set()
        while time.monotonic() < deadline:
            ids = {c["id"] for c in server.get("/collections").json()["collections"]}
            n = server.get("/collections/points/items", params={"limit": 1}).json()["numberMatched"]
            seen.add(("fresh" in ids, n))
            if "fresh" in ids and n == 12:
                break
            time.sleep(0.3)
        assert (True, 12) in seen
        while time.monotonic() < deadline + 5:  # every worker's metadata follows within seconds
            if {server.get("/collections/points").json()["version"] for _ in range(8)} == {2}:
                break
            time.sleep(0.3)
        assert {server.get("/collections/points").json()["version"] for _ in range(8)} == {2}
        while time.monotonic() < deadline + 30:  # the viewer site is rebuilt too
            if "layer-fresh.html" in server.get("/site/index.html").text:
                break
            time.sleep(0.3)
        index = server.get("/site/index.html").text
        assert "layer-fresh.html" in index and "downloads/points.v2.geojson" in index
        assert server.get("/site/layer-fresh.html").status_code == 200
        assert server.get("/site/downloads/points.v2.geojson").json()["features"]
        # a style written while serving: the builder's watcher names it, that layer's page follows
        styles = server.root / "styles"
        styles.mkdir(exist_ok=True)
        (styles / "fresh.yml").write_text("color: '#123456'\n")
        end = time.monotonic() + 30
        while time.monotonic() < end and "#123456" not in server.get("/site/layer-fresh.html").text:
            time.sleep(0.3)
        assert "#123456" in server.get("/site/layer-fresh.html").text
        assert "#123456" not in server.get("/site/layer-points.html").text
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == []


@pytest.mark.parametrize("query", ["limit=7&offset=3", "bbox=66,38,70,41&limit=50&sortby=-val",
                                   "filter=val%20%3E%2050&properties=val&skipGeometry=true",
                                   "val=42&limit=100"])
def test_fast_path_answers_as_pygeoapi_does(server, query):
    fast = server.get(f"/collections/many/items?{query}").json()
    slow = server.get(f"/collections/many/items?{query}&lang=en").json()  # lang: pygeoapi's path
    assert fast["features"] == slow["features"] and fast["numberMatched"] == slow["numberMatched"]
    assert sorted(link["rel"] for link in fast["links"]) == sorted(link["rel"] for link in slow["links"])
    one = fast["features"][0]["id"] if fast["features"] else 1
    a = server.get(f"/collections/many/items/{one}").json()
    b = server.get(f"/collections/many/items/{one}?lang=en").json()
    assert {k: a[k] for k in ("id", "geometry", "properties")} == {k: b[k] for k in ("id", "geometry", "properties")}


@pytest.mark.parametrize("query", [{"bbox": "66,38,70,41"}, {"filter": "val > 50"}])
def test_number_matched_is_the_same_on_every_page(server, query):
    """A filtered page that is not full is not counted again: numberMatched must not change with
    the page (full, partial, last, empty beyond the end) nor with the limit."""
    total = items(server, "many", **query, limit=10000)["numberMatched"]
    assert 50 < total < 2500
    for offset, limit in ((0, 10), (5, 10), (total - 3, 10), (total, 10), (total + 10, 10),
                          (0, total), (0, total + 1), (0, total - 1)):
        page = items(server, "many", **query, offset=offset, limit=limit)
        assert page["numberMatched"] == total, (offset, limit)
        assert page["numberReturned"] == max(0, min(limit, total - offset))


def test_serve_boots_without_the_layers_and_build_writes_them_all(server):
    """``serve`` writes only what its workers boot on (they make the live configuration
    themselves); ``geo-publish build`` writes pygeoapi's configuration with every collection
    served, checked against pygeoapi's schema."""
    import yaml

    build = server.root / "build"
    boot = yaml.safe_load((build / "pygeoapi-boot.yml").read_text(encoding="utf-8"))
    assert list(boot["resources"]) == ["catalogue"]
    assert not (build / "pygeoapi-config.yml").exists() and not (build / "openapi.yml").exists()
    done = server.cli("build")
    assert done.returncode == 0, done.stderr
    full = yaml.safe_load((build / "pygeoapi-config.yml").read_text(encoding="utf-8"))
    served = [c["id"] for c in server.get("/collections", params={"f": "json", "limit": 1000}).json()["collections"]]
    assert sorted(full["resources"]) == sorted(served) and len(served) > 3
    paths = yaml.safe_load((build / "openapi.yml").read_text(encoding="utf-8"))["paths"]
    assert any("/items" in p for p in paths)


def test_workers_are_forked_from_a_preloaded_forkserver(server):
    """uvicorn's workers come from a forkserver that imported pygeoapi and the app once
    (``preloaded_workers`` replaces uvicorn's spawn context): a killed worker is replaced from
    it, and the new worker's own CPU, up and answering, is less than the forkserver spent
    importing (a spawned worker imports it all again)."""
    import os
    import signal
    import sys
    import time
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from many_layers_bench import cpu, workers_of

    workers = workers_of(server.proc.pid)
    assert len(workers) == 2 and server.proc.pid not in workers, workers
    forkserver = {int(Path(f"/proc/{w}/stat").read_text().rsplit(")", 1)[1].split()[1]) for w in workers}
    assert len(forkserver) == 1
    (parent,) = forkserver
    assert b"geo_publish.serve.wiring" in Path(f"/proc/{parent}/cmdline").read_bytes()
    os.kill(workers[0], signal.SIGKILL)
    deadline = time.monotonic() + 15
    while set(workers_of(server.proc.pid)) - {workers[0]} == {workers[1]}:
        assert time.monotonic() < deadline, "the killed worker was not replaced"
        time.sleep(0.2)
    (new,) = set(workers_of(server.proc.pid)) - set(workers)
    assert int(Path(f"/proc/{new}/stat").read_text().rsplit(")", 1)[1].split()[1]) == parent
    assert all(server.get("/collections/points/items", params={"limit": 1}).status_code == 200
               for _ in range(10))
    assert cpu([new]) < cpu([parent]), (cpu([new]), cpu([parent]))


def test_the_site_answers_503_until_its_first_build_is_there(server):
    """serve answers the API while its site builder makes the first site: until it is there,
    /site/ is a 503 with Retry-After, a page in three languages that comes back by itself for
    a browser, an OGC exception for a client; then the site."""
    link = server.root / "build" / "site"
    away = link.with_name("site.away")
    link.rename(away)  # (a symbolic link: as before the first build)
    try:
        page = server.get("/site/index.html", headers={"Accept": "text/html"})
        assert page.status_code == 503 and page.headers["retry-after"] == "5"
        assert page.headers["content-type"].startswith("text/html")
        assert 'http-equiv="refresh"' in page.text and "Not found" not in page.text
        assert "The map is being built" in page.text and 'lang="uz"' in page.text
        client = server.get("/site/layer-points.html", params={"f": "json"})
        assert client.status_code == 503 and client.json()["code"] == "ServiceUnavailable"
        assert "being built" in client.json()["description"]
        assert server.get("/collections/points/items", params={"limit": 1}).status_code == 200
    finally:
        away.rename(link)
    assert server.get("/site/index.html").status_code == 200
