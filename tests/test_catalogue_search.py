"""Finding a layer among thousands: the records catalogue (``/collections/catalogue/items``)
answers full-text search in Uzbek Latin and Cyrillic, Russian and English, and filters by bbox,
datetime, organisation, keyword, format and freshness, from the store's index (both stores);
``/collections`` comes in pages."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from geo_publish.cli.main import main
from geo_publish.serve.records import FRESHNESS, freshness_sql, freshness_state
from geo_publish.store.search import index_terms, query_terms
from server_testlib import LiveServer, start, write_config

LAYERS = {
    # id: (title, organisation, keywords, frequency, lon)
    "schools": ({"uz": "Maktablar", "ru": "Школы", "en": "Schools"}, "Xalq ta'limi vazirligi",
                ["education"], "daily", 69.2),
    "clinics": ({"uz": "Шифохоналар", "ru": "Больницы", "en": "Hospitals"}, "Sog'liqni saqlash",
                ["health"], "asNeeded", 64.4),
    "roads": ({"en": "Roads"}, "Transport", ["transport"], None, 71.6),
    "school-buildings": ({"uz": "Мактаб биноси", "en": "School buildings"}, "Xalq ta'limi vazirligi",
                         ["education", "buildings"], "monthly", 60.6),
}


def test_both_scripts_and_stems_meet() -> None:
    indexed = index_terms("Maktablar", "Мактаб биноси", "Школы", "Hospitals", "O'zbekiston")
    for q in ("maktab", "мактаб", "школа", "школы", "hospital", "ўзбекистон", "oʻzbek"):
        terms = query_terms(q)
        assert terms and all(any(w.startswith(t) for w in indexed.split()) for t in terms), q
    assert query_terms("maktab") == query_terms("мактаб") == ["maktab"]
    assert query_terms("  ") == [] and len(query_terms("a " * 50)) <= 8


def test_freshness_states_at_their_boundaries() -> None:
    c = sqlite3.connect(":memory:")
    c.execute("CREATE TABLE r (collection, frequency, due_at, overdue_at, delinquent_at)")
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    at = [(t0 + timedelta(days=d)).isoformat() for d in (1, 2, 3)]
    c.executemany("INSERT INTO r VALUES (?, ?, ?, ?, ?)", [
        ("daily", "daily", *at), ("never", "asNeeded", None, None, None), ("unknown", "unknown", None, None, None)])
    for days, want in ((0.5, "fresh"), (1, "due"), (2.5, "overdue"), (3, "delinquent"), (40, "delinquent")):
        now = (t0 + timedelta(days=days)).isoformat()
        found = {}
        for state in FRESHNESS:
            params: list = []
            sql = freshness_sql(state, now, params)
            found[state] = {r[0] for r in c.execute(f"SELECT collection FROM r WHERE {sql}", params)}
        assert found[want] >= {"daily"} and sum("daily" in v for v in found.values()) == 1, (days, found)
        assert found["fresh"] >= {"never"} and found["unknown"] == {"unknown"}
        assert freshness_state("daily", *at, now) == want


@pytest.fixture(scope="module", params=["geopackage", "postgis"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> LiveServer:
    root = tmp_path_factory.mktemp(f"search-{request.param}")
    write_config(root, request, "search")
    (root / "collections").mkdir()
    for cid, (title, org, keywords, frequency, lon) in LAYERS.items():
        src = root / f"{cid}.geojson"
        src.write_text(json.dumps({"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"n": k}, "geometry": {"type": "Point", "coordinates": [lon + k / 100, 41.0]}}
            for k in range(3)]}))
        passport = {"organization": org, "responsible": {"name": "Officer", "email": "o@example.org"},
                    "license": "CC-BY-4.0"} | ({"update_frequency": frequency} if frequency else {})
        (root / "collections" / f"{cid}.yml").write_text(json.dumps(
            {"id": cid, "title": title, "keywords": keywords, "passport": passport}, ensure_ascii=False))
        assert main(["--config", str(root / "config.yml"), "ingest", str(src), "--collection", cid]) == 0
    srv = start(root)
    yield srv
    srv.stop()


def _ids(server: LiveServer, **params: str) -> set[str]:
    r = server.get("/collections/catalogue/items", params={"f": "json", "limit": "100", **params})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["numberMatched"] == len(doc["features"])
    return {f["id"] for f in doc["features"]}


def test_search_finds_a_layer_in_either_script(server: LiveServer) -> None:
    assert _ids(server, q="maktab") == _ids(server, q="мактаб") == {"schools", "school-buildings"}
    assert _ids(server, q="школы") == _ids(server, q="школа") == {"schools"}  # a Russian stem
    assert _ids(server, q="hospital") == _ids(server, q="шифохона") == _ids(server, q="shifoxona") == {"clinics"}
    assert _ids(server, q="maktab binosi") == {"school-buildings"}  # every word
    assert _ids(server, q="xalq") == {"schools", "school-buildings"}  # the organisation too
    assert _ids(server, q="nowhere") == set()
    for hostile in ('"*OR', "' OR 1=1 --", "a*b:c", "NEAR(x y)", "\\"):  # never a query syntax
        r = server.get("/collections/catalogue/items", params={"q": hostile, "f": "json"})
        assert r.status_code in (200, 400), (hostile, r.text)


def test_filters_come_from_the_index(server: LiveServer) -> None:
    every = set(LAYERS)
    assert _ids(server) == every
    assert _ids(server, organization="xalq ta'limi vazirligi") == {"schools", "school-buildings"}
    assert _ids(server, keywords="health") == {"clinics"} and _ids(server, keywords="build") == set()
    assert _ids(server, format="vector") == every and _ids(server, format="raster") == set()
    assert _ids(server, freshness="unknown") == {"roads"}
    assert _ids(server, freshness="fresh") == {"schools", "clinics", "school-buildings"}
    assert _ids(server, freshness="overdue") == set()
    assert _ids(server, bbox="68,40,70,42") == {"schools"}
    assert _ids(server, datetime="../2000-01-01") == set() and _ids(server, datetime="2000-01-01/..") == every
    assert _ids(server, q="maktab", organization="Transport") == set()
    r = server.get("/collections/catalogue/items", params={"freshness": "stale", "f": "json"})
    assert r.status_code == 400
    page = server.get("/collections/catalogue/items",
                      params={"f": "json", "limit": "2", "offset": "1", "sortby": "title"}).json()
    assert page["numberMatched"] == 4 and [f["id"] for f in page["features"]] == ["roads", "school-buildings"]
    one = server.get("/collections/catalogue/items/clinics", params={"f": "json"}).json()
    assert one["properties"]["organization"] == "Sog'liqni saqlash" and one["properties"]["freshness"] == "fresh"
    assert any(link["href"].endswith("/collections/clinics/items") for link in one["links"])


def test_the_index_follows_what_is_published(server: LiveServer) -> None:
    src = server.root / "roads.geojson"
    (server.root / "collections" / "roads.yml").write_text(json.dumps(
        {"id": "roads", "title": {"en": "Roads", "uz": "Yo'llar"}, "passport": {
            "organization": "Transport", "update_frequency": "weekly"}}, ensure_ascii=False))
    assert server.cli("ingest", str(src), "--collection", "roads").returncode == 0
    assert _ids(server, q="йўллар") == {"roads"} and _ids(server, freshness="unknown") == set()
    assert server.cli("rollback", "roads", "--to", "1").returncode == 0
    rec = server.get("/collections/catalogue/items/roads", params={"f": "json"}).json()
    assert rec["properties"]["version"] == "1" and _ids(server, q="yollar") == set()
    assert server.cli("rollback", "roads", "--to", "2").returncode == 0
    assert _ids(server, q="yollar") == {"roads"}


def test_an_index_out_of_step_is_made_right(server: LiveServer) -> None:
    from geo_publish.settings import load_settings
    from geo_publish.store import open_store

    store = open_store(load_settings(server.config))
    assert store.sync_index() == 0  # kept in step by every write
    if server.root.joinpath("data", "store.gpkg").exists():
        with sqlite3.connect(server.root / "data" / "store.gpkg") as c:
            c.execute("DELETE FROM gp_records WHERE collection = 'clinics'")
            c.execute("UPDATE gp_records SET version = 99 WHERE collection = 'schools'")
    else:
        import psycopg

        with psycopg.connect(store.dsn, autocommit=True) as c:
            c.execute(f"DELETE FROM {store.q('gp_records')} WHERE collection = 'clinics'")
            c.execute(f"UPDATE {store.q('gp_records')} SET version = 99 WHERE collection = 'schools'")
    assert store.sync_index() == 2
    assert _ids(server, q="hospital") == {"clinics"}
    assert server.get("/collections/catalogue/items/schools", params={"f": "json"}).json()["properties"]["version"] == "1"


def test_collections_come_in_pages(server: LiveServer) -> None:
    seen, url, pages = [], "/collections?f=json&limit=2", 0
    while url:
        doc = server.get(url.removeprefix(server.url)).json()
        assert doc["numberMatched"] == len(LAYERS) + 1 and doc["numberReturned"] == len(doc["collections"]) <= 2
        seen += [c["id"] for c in doc["collections"]]
        url = next((link["href"] for link in doc["links"] if link["rel"] == "next"), None)
        pages += 1
    assert pages == 3 and sorted(seen) == sorted([*LAYERS, "catalogue"])
    assert len(server.get("/collections", params={"f": "json"}).json()["collections"]) == len(LAYERS) + 1
    for bad in ("0", "-1", "x"):
        r = server.get("/collections", params={"limit": bad, "f": "json"})
        assert r.status_code == 400 and "limit" in r.json()["description"]
    html = server.get("/collections", params={"f": "html", "limit": "2", "offset": "2"}).text
    assert 'rel="next"' in html and 'rel="prev"' in html
    ld = server.get("/collections", params={"f": "jsonld", "limit": "2"})
    assert ld.status_code == 200 and len(ld.json()["dataset"]) == 2
