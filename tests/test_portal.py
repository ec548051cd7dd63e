"""The publishing portal on a live server, on both stores: scripts with tokens (upload, job,
report, diff, publish, rollback), OGC API - Features Part 4 writes, and attacks (another
organisation, no/expired/revoked token, forms without CSRF, guessed ids, path traversal and
script in names, brute force), each refused with the store, the versions and the audit log
unchanged."""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import httpx
import pytest
import shapely

from gp_testlib import canonical_points, cli_here
from portal_testlib import (
    PASSPORT, PASSWORD, Portal, csrf_of, run_job, setup_people, state, upload, wait_for,
)
from server_testlib import XSS, start, write_config


def _geojson(frame: gpd.GeoDataFrame) -> bytes:
    return frame.to_json().encode()


@pytest.fixture(scope="module", params=["geopackage", "postgis"])
def portal(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Portal:
    root = tmp_path_factory.mktemp(f"portal-{request.param}")
    schema = f"portal_{secrets.token_hex(4)}"
    write_config(root, request, schema)
    src = root / "points.geojson"
    canonical_points().to_file(src, driver="GeoJSON")  # property ID (-> id) 1..12, no feature ids
    done = cli_here(root / "config.yml", "ingest", str(src), "--collection", "points")
    assert done.returncode == 0, done.stderr
    server = start(root, workers=2)
    p = Portal(server)
    p.backend, p.schema = request.param, schema  # type: ignore[attr-defined]
    setup_people(p)
    # the migration: a store made before the portal gets its collections assigned
    done = p.cli("admin", "assign", "--org", "emergency")
    assert done.returncode == 0 and "points: emergency" in done.stdout, done.stderr
    yield p
    server.stop()


def _state(portal: Portal) -> dict:
    return state(portal.server.root, portal.backend, portal.schema)  # type: ignore[attr-defined]


def test_assign_refuses_to_move_another_organisations_layer(portal: Portal) -> None:
    before = _state(portal)
    done = portal.cli("admin", "assign", "points", "--org", "health")
    assert done.returncode == 1 and "points belongs to emergency" in done.stderr
    assert "Traceback" not in done.stderr
    assert _state(portal) == before


def test_script_uploads_checks_publishes_diffs_and_rolls_back(portal: Portal) -> None:
    alice = portal.api("alice")
    pts = canonical_points().rename(columns={"ID": "id"})
    up = upload(alice, "emergency", "shelters.geojson", _geojson(pts), chunk=700)
    # a resumed upload starts from what the server has: a wrong offset is a 409 naming it
    head = alice.head(up["location"])
    assert head.status_code == 200 and head.headers["upload-offset"] == head.headers["upload-length"]
    job = run_job(alice, up["id"], "shelters")
    assert job["status"] == "ready", job
    report = job["result"]["report"]
    assert report["counts"]["read"] == 12 and report["counts"]["published"] == 12
    assert job["result"]["diff"] is None  # a new layer
    # a draft is not public
    assert httpx.get(portal.url + "/collections/shelters").status_code == 404
    # publishing needs a passport with someone to answer for the data
    r = alice.post(f"/publish/api/jobs/{job['id']}/publish", json={"passport": {"title_en": "x"}})
    assert r.status_code == 400 and "responsible_email" in r.json()["description"]
    assert httpx.get(portal.url + "/collections/shelters").status_code == 404
    r = alice.post(f"/publish/api/jobs/{job['id']}/publish", json={"passport": PASSPORT})
    assert r.status_code == 200, r.text
    assert r.json()["version"] == job["version"]
    # live on every worker within seconds (each request may land on either worker)
    ok = wait_for(lambda: all(httpx.get(portal.url + "/collections/shelters/items?limit=1").status_code == 200
                              for _ in range(6)))
    assert ok
    meta = httpx.get(portal.url + "/collections/shelters?f=json").json()
    assert wait_for(lambda: httpx.get(portal.url + "/passports/shelters.json").json()
                    .get("responsible", {}).get("email") == "alice@example.org")
    assert meta["title"] in ("Shelters", "Boshpanalar", "Убежища")

    # version 2: one removed, one changed, one added; the diff says so by the id field
    v2 = pts[pts["id"] != 1].copy()
    v2.loc[v2["id"] == 2, "ВМЕСТ"] = 9999
    extra = gpd.GeoDataFrame({"id": [50], "НАЗВАНИЕ": ["Новый"], "ВМЕСТ": [5], "nomi": ["yangi"]},
                             geometry=shapely.points([(69.3, 41.3)]), crs="OGC:CRS84")
    v2 = gpd.GeoDataFrame(__import__("pandas").concat([v2, extra], ignore_index=True), crs="OGC:CRS84")
    up2 = upload(alice, "emergency", "shelters.geojson", _geojson(v2))
    job2 = run_job(alice, up2["id"], "shelters")
    diff = job2["result"]["diff"]
    assert (diff["added"], diff["removed"], diff["changed"]) == (1, 1, 1), diff
    assert diff["added_ids"] == ["50"] and diff["removed_ids"] == ["1"] and diff["changed_ids"] == ["2"]
    assert alice.post(f"/publish/api/jobs/{job2['id']}/publish", json={}).status_code == 200
    assert wait_for(lambda: httpx.get(portal.url + "/collections/shelters/items/50").status_code == 200)
    versions = alice.get("/publish/api/collections/shelters/versions").json()["versions"]
    assert [v["published"] for v in versions] == [False, True]
    # a published job cannot be published again, nor checked again
    assert alice.post(f"/publish/api/jobs/{job2['id']}/publish", json={}).status_code == 409
    # rollback
    r = alice.post("/publish/api/collections/shelters/rollback", json={"version": 1})
    assert r.status_code == 200 and r.json()["version"] == 1
    assert wait_for(lambda: httpx.get(portal.url + "/collections/shelters/items/50").status_code == 404)
    # the audit log says who did what, from where, with which version and checksum
    audit = portal.api("anna").get("/publish/api/audit", params={"org": "emergency"}).json()["entries"]
    actions = [(a["action"], a["email"], a["version"]) for a in audit]
    assert ("rollback", "alice@example.org", 1) in actions
    assert ("publish", "alice@example.org", 2) in actions
    publish = next(a for a in audit if a["action"] == "publish" and a["version"] == 1)
    assert publish["checksum"] == report["source"]["sha256"] and publish["address"] == "127.0.0.1"


def test_officer_overrides_encoding_and_crs_and_checks_again(portal: Portal, tmp_path: Path) -> None:
    """A cp1251 shapefile without .cpg in Pulkovo 1942: the officer sets what the file lacks."""
    from gp_testlib import write_shapefile, zip_folder

    frame = canonical_points().to_crs("EPSG:28412")
    shp = write_shapefile(frame, tmp_path / "shp", "obekty", "cp1251")
    shp.with_suffix(".prj").unlink()  # no .prj at all: the CRS must be given
    data = zip_folder(tmp_path / "shp", tmp_path / "obekty.zip").read_bytes()
    alice = portal.api("alice")
    up = upload(alice, "emergency", "obekty.zip", data)
    job = run_job(alice, up["id"], "obekty")
    assert job["status"] == "rejected" and "CRS" in job["message"], job
    r = alice.post(f"/publish/api/jobs/{job['id']}/rerun", json={"crs": "EPSG:28412", "encoding": "cp1251"})
    assert r.status_code == 202, r.text
    from portal_testlib import wait_job

    job = wait_job(alice, job["id"])
    assert job["status"] == "ready", job
    src = job["result"]["report"]["source"]
    assert (src["encoding"], src["encoding_from"]) == ("cp1251", "option")
    assert "28412" in src["crs"] and src["crs_from"] == "option"
    # the override goes into the manifest on publish, so the next ingest reads the file the same way
    assert alice.post(f"/publish/api/jobs/{job['id']}/publish",
                      json={"passport": PASSPORT | {"id_field": ""}}).status_code == 200
    manifest = (portal.server.root / "collections" / "obekty.yml").read_text(encoding="utf-8")
    assert "encoding: cp1251" in manifest and "EPSG:28412" in manifest
    # bad overrides are a one-line 400
    r = alice.post(f"/publish/api/jobs/{job['id']}/rerun", json={"encoding": "klingon"})
    assert r.status_code == 409  # published: upload again for a new version
    up = upload(alice, "emergency", "obekty.zip", data)
    r = alice.post("/publish/api/jobs", json={"upload": up["id"], "collection": "obekty",
                                              "encoding": "klingon"})
    assert r.status_code == 400 and "klingon" in r.json()["description"]


def test_attacks_are_refused_and_change_nothing(portal: Portal) -> None:
    alice, bob = portal.api("alice"), portal.api("bob")
    up = upload(alice, "emergency", "pts.geojson", _geojson(canonical_points()))
    job = run_job(alice, up["id"], "attacked")
    assert job["status"] == "ready"
    bob_up = upload(bob, "health", "pts.geojson", _geojson(canonical_points()))
    anon = httpx.Client(base_url=portal.url, timeout=30)
    accounts = portal.accounts()
    # an expired token and a revoked one
    from geo_publish.portal import auth

    expired = auth.TOKEN_PREFIX + secrets.token_urlsafe(32)
    uid = accounts.user_by_email("alice@example.org")["id"]
    accounts.create_token(uid, "emergency", "old", auth.token_digest(expired), "2020-01-01T00:00:00+00:00")
    revoked, tid = auth.issue_token(accounts, uid, "emergency", "revoked", 30)
    assert accounts.revoke_token(tid)
    session_bob = portal.session("bob@example.org")
    session_alice = portal.session("alice@example.org")
    alice_csrf = csrf_of(session_alice.get("/publish/").text)
    bob_csrf = csrf_of(session_bob.get("/publish/").text)
    before = _state(portal)

    jid, uid_ = job["id"], up["id"]
    guessed = secrets.token_urlsafe(16)
    attempts = [
        # another organisation's publisher, by token
        (bob.get(f"/publish/api/jobs/{jid}"), 404),
        (bob.post(f"/publish/api/jobs/{jid}/publish", json={"passport": PASSPORT}), 404),
        (bob.post(f"/publish/api/jobs/{jid}/rerun", json={}), 404),
        (bob.get("/publish/api/collections/points/versions"), 404),
        (bob.post("/publish/api/collections/points/rollback", json={"version": 1}), 404),
        (bob.post("/publish/api/uploads", json={"org": "emergency", "filename": "a.geojson", "size": 10}), 404),
        (bob.head(up["location"]), 404),
        (bob.patch(up["location"], content=b"x", headers={"Upload-Offset": "0"}), 404),
        (bob.post("/publish/api/jobs", json={"upload": uid_, "collection": "points"}), 404),
        (bob.post("/publish/api/jobs", json={"upload": bob_up["id"], "collection": "points"}), 403),
        (bob.get("/publish/api/audit", params={"org": "emergency"}), 404),
        # a publisher is not an admin
        (alice.get("/publish/api/audit", params={"org": "emergency"}), 404),
        # guessed ids
        (alice.get(f"/publish/api/jobs/{guessed}"), 404),
        (alice.head(f"/publish/api/uploads/{guessed}"), 404),
        # no token, a malformed one, an expired one, a revoked one
        (anon.get(f"/publish/api/jobs/{jid}"), 401),
        (anon.post(f"/publish/api/jobs/{jid}/publish", json={}), 401),
        (anon.post("/publish/api/uploads", json={"org": "emergency", "filename": "a", "size": 1}), 401),
        (anon.get(f"/publish/api/jobs/{jid}", headers={"Authorization": "Basic YTpi"}), 401),
        (anon.get(f"/publish/api/jobs/{jid}", headers={"Authorization": f"Bearer {expired}"}), 401),
        (anon.get(f"/publish/api/jobs/{jid}", headers={"Authorization": f"Bearer {revoked}"}), 401),
        (anon.post(f"/publish/api/jobs/{jid}/publish", json={},
                   headers={"Authorization": f"Bearer {revoked}"}), 401),
        # forms and API calls by session without the CSRF token, with another session's, from
        # another site
        (session_alice.post(f"/publish/jobs/{jid}/publish", data=PASSPORT), 403),
        (session_alice.post(f"/publish/jobs/{jid}/publish", data=PASSPORT | {"csrf": bob_csrf}), 403),
        (session_alice.post("/publish/collections/points/rollback", data={"version": "1"}), 403),
        (session_alice.post(f"/publish/api/jobs/{jid}/publish", json={}), 403),
        (session_alice.post(f"/publish/api/jobs/{jid}/publish", json={},
                            headers={"X-CSRF-Token": alice_csrf, "Origin": "https://evil.example"}), 403),
        (session_alice.post("/publish/orgs/emergency/tokens", data={"name": "x"}), 403),
        (session_alice.post("/publish/logout"), 403),
        # another organisation's publisher, by session with a valid CSRF token
        (session_bob.get(f"/publish/jobs/{jid}"), 404),
        (session_bob.post(f"/publish/jobs/{jid}/publish", data=PASSPORT | {"csrf": bob_csrf}), 404),
        (session_bob.post("/publish/collections/points/rollback", data={"version": "1", "csrf": bob_csrf}), 404),
        (session_bob.post("/publish/orgs/emergency/members",
                          data={"email": "evil@example.org", "name": "E", "role": "admin", "csrf": bob_csrf}), 404),
        (session_bob.post("/publish/orgs/emergency/tokens", data={"name": "x", "csrf": bob_csrf}), 404),
        (session_bob.get("/publish/orgs/emergency"), 404),
        (session_bob.post("/publish/admin", data={"id": "evil", "name": "E", "csrf": bob_csrf}), 404),
        # a publisher cannot add people to their own organisation
        (session_alice.post("/publish/orgs/emergency/members",
                            data={"email": "evil@example.org", "name": "E", "role": "admin",
                                  "csrf": alice_csrf}), 403),
    ]
    for i, (response, status) in enumerate(attempts):
        assert response.status_code == status, (i, response.status_code, response.text[:300])
        assert "Traceback" not in response.text
        if response.request.method != "HEAD" and \
                response.headers.get("content-type", "").startswith("application/json"):
            assert set(response.json()) == {"code", "description"}
    assert _state(portal) == before
    # the draft stays invisible to the public and to the other organisation
    assert anon.get("/collections/attacked").status_code == 404
    assert "attacked" not in session_bob.get("/publish/").text


def test_login_is_throttled_per_account(portal: Portal) -> None:
    before = _state(portal)
    client = httpx.Client(base_url=portal.url, timeout=30)
    csrf = csrf_of(client.get("/publish/login").text)
    for _ in range(5):
        r = client.post("/publish/login", data={"csrf": csrf, "email": "anna@example.org",
                                                "password": "guess" + secrets.token_hex(3)})
        assert r.status_code == 401 and "wrong e-mail or password" in r.text
    # now even the right password is refused for a while, and nothing was recorded but failures
    r = client.post("/publish/login", data={"csrf": csrf, "email": "anna@example.org", "password": PASSWORD})
    assert r.status_code == 429
    assert client.get("/publish/", follow_redirects=False).status_code == 303  # not signed in
    after = _state(portal)
    assert after == before
    # an unknown account takes as long to refuse and says the same
    r = client.post("/publish/login", data={"csrf": csrf, "email": "nobody@example.org", "password": "x" * 12})
    assert r.status_code == 401 and "wrong e-mail or password" in r.text
    portal.accounts().forget_failures("account:anna@example.org")


def test_a_burst_of_guesses_gets_no_more_tries_than_guesses_one_by_one(portal: Portal) -> None:
    """Sixteen wrong passwords at once for one account: five are checked, the rest refused
    before their password is (the limit is taken atomically, not checked then counted)."""
    from concurrent.futures import ThreadPoolExecutor

    client = httpx.Client(base_url=portal.url, timeout=60,
                          transport=httpx.HTTPTransport(local_address="127.0.0.22"))
    csrf = csrf_of(client.get("/publish/login").text)

    def guess(i: int) -> int:
        return client.post("/publish/login", data={"csrf": csrf, "email": "anna@example.org",
                                                   "password": f"guess {i} {secrets.token_hex(3)}"}).status_code

    try:
        with ThreadPoolExecutor(16) as pool:
            statuses = sorted(pool.map(guess, range(16)))
        assert statuses == [401] * 5 + [429] * 11
    finally:
        portal.accounts().forget_failures("account:anna@example.org")
        portal.accounts().forget_failures("address:127.0.0.22")


def test_script_and_traversal_in_names_are_text(portal: Portal) -> None:
    alice = portal.api("alice")
    name = f"../../{XSS}<script>alert(1)</script>.geojson"
    up = upload(alice, "emergency", name, _geojson(canonical_points()))
    uploads_dir = portal.server.root / "data" / "uploads"
    stored = list((uploads_dir / up["id"]).iterdir())
    assert len(stored) == 1 and stored[0].suffix == ".geojson" and "/" not in stored[0].name
    assert "<" not in stored[0].name and not (portal.server.root / "data" / "etc").exists()
    job = run_job(alice, up["id"], "scripted")
    assert job["status"] == "ready", job
    passport = PASSPORT | {"title_en": XSS, "lineage": "<script>alert(2)</script>", "id_field": ""}
    session = portal.session("alice@example.org")
    page = session.get(f"/publish/jobs/{job['id']}")
    assert XSS not in page.text and "<script>alert" not in page.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
    r = session.post(f"/publish/jobs/{job['id']}/publish", data=passport | {"csrf": csrf_of(page.text)})
    assert r.status_code == 303, r.text[:500]
    audit = portal.session("anna@example.org").get("/publish/orgs/emergency").text
    assert XSS not in audit and "<script>alert" not in audit
    assert "Content-Security-Policy" in {k.title() for k in page.headers}


def test_part4_writes_with_optimistic_locking(portal: Portal, monkeypatch) -> None:
    root = portal.server.root
    manifest = root / "collections" / "points.yml"
    text = manifest.read_text(encoding="utf-8")
    if "editable: true" not in text:
        import yaml

        doc = yaml.safe_load(text)
        doc["editable"] = True
        doc["schema"]["id_field"] = "id"
        manifest.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    alice, bob = portal.api("alice"), portal.api("bob")
    url = portal.url + "/collections/points/items"
    assert wait_for(lambda: all(httpx.get(portal.url + "/collections/points?f=json").json()
                                .get("editable") is True for _ in range(6)))
    # every answer so far may have come from one worker; the other looks within a second
    time.sleep(2)
    first = httpx.get(url + "/3")
    etag = first.headers["etag"]
    assert not etag.startswith("W/")
    before = _state(portal)
    patch = {"properties": {"vmest": 777}}
    merge = {"Content-Type": "application/merge-patch+json"}
    assert httpx.patch(url + "/3", json=patch).status_code == 401
    assert bob.patch(url + "/3", json=patch).status_code == 403
    assert alice.patch(url + "/3", json={"properties": {"vmest": "many"}}).status_code == 400
    assert alice.patch(url + "/3", json={"properties": {"unknown": 1}}).status_code == 400
    assert alice.patch(url + "/3", content=b"<xml/>", headers={"Content-Type": "text/xml"}).status_code == 415
    assert alice.patch(url + "/3", json=patch, headers={"If-Match": '"stale"'}).status_code == 412
    assert alice.put(url + "/3", json={"type": "Feature", "properties": {},
                                       "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}}
                     ).status_code == 400
    assert alice.patch(url + "/999999", json=patch).status_code == 404
    assert alice.patch(portal.url + "/collections/shelters/items/3", json=patch).status_code in (405, 404)
    assert _state(portal) == before

    r = alice.patch(url + "/3", json=patch, headers={"If-Match": etag, **merge})
    assert r.status_code == 204, r.text
    new_etag = r.headers["etag"]
    assert new_etag != etag
    got = httpx.get(url + "/3")
    assert got.json()["properties"]["vmest"] == 777 and got.headers["etag"] == new_etag
    assert alice.patch(url + "/3", json=patch, headers={"If-Match": etag}).status_code == 412

    # concurrent writers: different features all land; one feature with one ETag: one wins
    ids = [1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    results: dict[int, int] = {}

    def patch_one(i: int) -> None:
        with portal.api("alice") as c:
            r = c.patch(f"{url}/{i}", json={"properties": {"vmest": 10_000 + i}})
            results[i] = r.status_code if r.status_code == 204 else (r.status_code, r.text)

    threads = [threading.Thread(target=patch_one, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(results.values()) == {204}, results
    items = httpx.get(url, params={"limit": 100}).json()["features"]
    assert {f["properties"]["id"]: f["properties"]["vmest"] for f in items if f["properties"]["id"] in ids} \
        == {i: 10_000 + i for i in ids}
    tag = httpx.get(url + "/3").headers["etag"]
    same: list[int] = []

    def patch_same(n: int) -> None:
        with portal.api("alice") as c:
            same.append(c.patch(url + "/3", json={"properties": {"vmest": n}},
                                headers={"If-Match": tag}).status_code)

    threads = [threading.Thread(target=patch_same, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(same) == [204] + [412] * 7, same

    # create and delete; each write is a version with history and rollback
    r = alice.post(url, json={"type": "Feature", "properties": {"id": 500, "nazvanie": "Yangi boshpana"},
                              "geometry": {"type": "Point", "coordinates": [69.25, 41.31]}},
                   headers={"Content-Type": "application/geo+json"})
    assert r.status_code == 201 and r.headers["location"].endswith("/collections/points/items/500")
    assert httpx.get(url + "/500").json()["properties"]["nazvanie"] == "Yangi boshpana"
    assert alice.post(url, json={"type": "Feature", "properties": {"id": 500},
                                 "geometry": {"type": "Point", "coordinates": [69, 41]}},
                      headers={"Content-Type": "application/geo+json"}).status_code == 409
    assert alice.delete(url + "/500").status_code == 204
    assert httpx.get(url + "/500").status_code == 404
    versions = alice.get("/publish/api/collections/points/versions").json()["versions"]
    assert len(versions) == 1 + 1 + len(ids) + 1 + 2  # ingest, patch, 11 patches, 1 winner, create, delete
    assert alice.post("/publish/api/collections/points/rollback", json={"version": 1}).status_code == 200
    assert wait_for(lambda: httpx.get(url + "/3").json()["properties"]["vmest"] == 300)
    audit = portal.api("anna").get("/publish/api/audit", params={"org": "emergency"}).json()["entries"]
    assert any(a["action"] == "feature updated" and a["detail"] == "id 3" for a in audit)
    # the conformance declares Part 4 now that a collection is editable
    conf = httpx.get(portal.url + "/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete" in conf
    # a copy a write: the old ones' features go (the runner does this every minute once they
    # are a minute old; here at once, keeping 2), and the history says so
    from geo_publish.settings import load_settings
    from geo_publish.store import base, open_store

    monkeypatch.setattr(base, "GRACE_S", 0)
    n = len(versions)
    assert len(open_store(load_settings(portal.server.config)).prune(2, "points")) == n - 3
    listed = alice.get("/publish/api/collections/points/versions").json()["versions"]
    assert [v["version"] for v in listed if not v["pruned"]] == [1, n - 1, n]
    page = portal.session("alice@example.org").get("/publish/collections/points")
    rows = re.findall(r'<tr data-version="(\d+)">(.*?)</tr>', page.text, re.S)
    assert len(rows) == n and all(("rollback" in row) == (int(v) in (n - 1, n)) for v, row in rows)
    assert sum("Features no longer kept" in row or "Obyektlar endi saqlanmaydi" in row
               or "Объекты больше не хранятся" in row for _, row in rows) == n - 3
    assert httpx.get(url + "/3").json()["properties"]["vmest"] == 300  # v1 still served


def test_pages_in_three_languages_and_on_a_phone(portal: Portal) -> None:
    session = portal.session("anna@example.org")
    for lang, word in (("uz", "Nashr portali"), ("ru", "Портал публикации"), ("en", "Publishing portal")):
        page = session.get("/publish/", params={"lang": lang})
        assert page.status_code == 200 and word in page.text and f'lang="{lang}"' in page.text
    page = session.get("/publish/orgs/emergency")
    assert "alice@example.org" in page.text and 'name="viewport"' in page.text
    for path in ("/publish/static/portal.css", "/publish/static/portal.js"):
        assert session.get(path).status_code == 200
    # nothing off-origin in the portal's pages
    assert "http://" not in page.text.replace(portal.url, "") and "https://" not in page.text
    anon = httpx.get(portal.url + "/publish/", follow_redirects=False)
    assert anon.status_code == 303 and anon.headers["location"].startswith("/publish/login")
    client = httpx.Client(base_url=portal.url, timeout=30)
    form = client.get("/publish/login").text
    signed_in = client.post("/publish/login", data={"csrf": csrf_of(form), "email": "anna@example.org",
                                                    "password": PASSWORD})
    assert signed_in.status_code == 303
    cookie = signed_in.headers["set-cookie"].lower()
    assert cookie.startswith("gp_session=") and "httponly" in cookie and "samesite=lax" in cookie
    assert "secure" not in cookie  # served over http here; over https the cookie is Secure


def test_org_admin_adds_a_person_and_manages_tokens_in_the_pages(portal: Portal) -> None:
    import re

    anna = portal.session("anna@example.org")
    page = anna.get("/publish/orgs/emergency")
    r = anna.post("/publish/orgs/emergency/members", data={
        "csrf": csrf_of(page.text), "email": "dilnoza@example.org", "name": "Dilnoza", "role": "publisher"})
    assert r.status_code == 200, r.text[:300]
    first = re.search(r'<code id="new-password">([^<]+)</code>', r.text).group(1)
    dilnoza = portal.session("dilnoza@example.org", first)
    assert "Ministry of Emergency Situations" in dilnoza.get("/publish/").text
    # a token, shown once, works for scripts; revoked, it does not
    page = dilnoza.get("/publish/orgs/emergency")
    r = dilnoza.post("/publish/orgs/emergency/tokens", data={"csrf": csrf_of(page.text), "name": "cron", "days": "7"})
    token = re.search(r'<code id="new-token">([^<]+)</code>', r.text).group(1)
    assert token.startswith("gpt_") and token not in dilnoza.get("/publish/orgs/emergency").text
    api = httpx.Client(base_url=portal.url, headers={"Authorization": f"Bearer {token}"})
    assert api.get("/publish/api/collections/points/versions").status_code == 200
    row = next(t for t in portal.accounts().tokens("emergency") if t["name"] == "cron")
    assert row["last_used"] is not None
    assert token not in json.dumps(portal.accounts().run("SELECT * FROM {s}gp_tokens"))  # hashed
    page = anna.get("/publish/orgs/emergency")
    r = anna.post(f"/publish/orgs/emergency/tokens/{row['id']}/revoke", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 303
    assert api.get("/publish/api/collections/points/versions").status_code == 401
    # the password is kept as an argon2id hash
    user = portal.accounts().user_by_email("dilnoza@example.org")
    assert user["password"].startswith("$argon2id$") and first not in user["password"]


def test_a_job_left_running_by_a_dead_runner_runs_again(project, tmp_path: Path) -> None:
    """Jobs are rows in the store: a runner that starts queues again what a dead one held."""
    from geo_publish.portal.runner import upload_path
    from geo_publish.settings import load_settings
    from geo_publish.store import open_store

    settings = load_settings(project.config)
    accounts = open_store(settings).accounts()
    accounts.create_org("emergency", "MES")
    uid = accounts.create_user("a@example.org", "A", "x")
    up = accounts.create_upload("emergency", uid, "pts.geojson", 1)
    path = upload_path(settings, accounts.upload(up))
    path.parent.mkdir(parents=True)
    canonical_points().to_file(path, driver="GeoJSON")
    accounts.set_received(up, path.stat().st_size, True)
    jid = accounts.create_job("emergency", uid, "restart", up, {})
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    import socket

    assert accounts.claim_job(f"{socket.gethostname()}:{dead.pid}")["id"] == jid
    assert accounts.job(jid)["status"] == "running"
    assert accounts.claim_job("another:1") is None  # claimed once only
    done = subprocess.run([sys.executable, "-m", "geo_publish.portal.runner", "--once",
                           str(project.config)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    job = accounts.job(jid)
    assert job["status"] == "ready" and job["result"]["report"]["counts"]["published"] == 12
    # a draft: in the store, not published
    store = open_store(settings)
    assert [v.published for v in store.history("restart")] == [False]
    assert store.collections() == [] or "restart" not in [v.collection for v in store.collections()]


@pytest.mark.parametrize("given, stored", [
    ("../../etc/passwd.geojson", "passwd.geojson"),
    ("..\\..\\windows\\obekty.zip", "obekty.zip"),
    (".hidden.gpkg", "hidden.gpkg"),
    ("", "upload"),
    ("Объекты 2024 (final).zip", "Объекты_2024_final_.zip"),
    ("a\x00b\x1b.kml", "ab.kml"),
    ("x" * 400 + ".geojson", "x" * 152 + ".geojson"),  # 160 characters
])
def test_upload_names_are_made_safe(given: str, stored: str) -> None:
    from geo_publish.portal.uploads import safe_name

    assert safe_name(given) == stored


def test_upload_limits_and_a_raster_draft(portal: Portal, tmp_path: Path) -> None:
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    alice = portal.api("alice")
    r = alice.post("/publish/api/uploads", json={"org": "emergency", "filename": "huge.gpkg",
                                                 "size": 5 * 1024**4})
    assert r.status_code == 413 and "max_upload_bytes" in r.json()["description"]
    r = alice.post("/publish/api/uploads", json={"org": "emergency", "filename": "x.gpkg", "size": 10})
    up = r.json()
    r = alice.patch(up["location"], content=b"y" * 11, headers={"Upload-Offset": "0"})
    assert r.status_code == 400 and "declared size" in r.json()["description"]
    assert alice.head(up["location"]).headers["upload-offset"] == "0"
    # a job needs a complete upload
    assert alice.post("/publish/api/jobs", json={"upload": up["id"], "collection": "x"}).status_code == 409
    # a raster upload is a draft too, published when the officer says so
    tif = tmp_path / "dem.tif"
    with rasterio.open(tif, "w", driver="GTiff", width=60, height=40, count=1, dtype="float32",
                       crs="EPSG:32642", transform=from_origin(500_000, 4_600_000, 100, 100)) as ds:
        ds.write(np.arange(2400, dtype="float32").reshape(1, 40, 60))
    up = upload(alice, "emergency", "dem.tif", tif.read_bytes())
    job = run_job(alice, up["id"], "dem")
    assert job["status"] == "ready" and job["result"]["report"]["raster"]["width"] > 0, job
    assert httpx.get(portal.url + "/collections/dem").status_code == 404
    assert alice.post(f"/publish/api/jobs/{job['id']}/publish",
                      json={"passport": PASSPORT | {"title_en": "Elevation", "id_field": ""}}).status_code == 200
    assert wait_for(lambda: httpx.get(portal.url + "/collections/dem/coverage?f=json").status_code == 200)


def test_an_edit_is_a_new_version_that_gdal_reads(project, tmp_path: Path) -> None:
    """Store level, both backends: an edit copies the published version, applies itself, and
    publishes the copy; the copy is a sound table (GeoPackage: GDAL reads it, its R-tree,
    copied through its shadow tables, passes SQLite's rtreecheck and finds the moved point)."""
    from geo_publish.settings import load_settings
    from geo_publish.store import open_store
    from geo_publish.store.features import Edit

    src = tmp_path / "pts.geojson"
    canonical_points().to_file(src, driver="GeoJSON")
    assert project.run("ingest", str(src), "--collection", "pts") == 0
    store = open_store(load_settings(project.config))
    moved = {"type": "Point", "coordinates": [60.5, 43.5]}
    (applied,) = store.edit("pts", [Edit("update", "4", {"vmest": 1}, moved)], "id", "c" * 64)
    assert applied.version == 2 and applied.etag
    frame = store.read("pts")
    row = frame[frame["id"] == 4].iloc[0]
    assert row["vmest"] == 1 and row.geometry.equals(shapely.Point(60.5, 43.5))
    assert len(frame) == 12 and [v.published for v in store.history("pts")] == [False, True]
    assert store.passport("pts")["feature_count"] == 12 and store.version("pts").sha256 == "c" * 64
    assert store.read("pts", 1)["vmest"].tolist()[3] == 400  # version 1 is as it was
    if project.backend == "geopackage":
        import sqlite3

        import pyogrio

        file, layer = store.locate(store.version("pts").layer)
        with sqlite3.connect(file) as c:  # the collection's rows' R-tree (store/gpkg_rows.py)
            (base,) = c.execute("SELECT base FROM gp_rowsets WHERE view = ?", (layer,)).fetchone()
            assert c.execute(f"SELECT rtreecheck('rtree_{base}_geom')").fetchone()[0] == "ok"
        near = pyogrio.read_dataframe(file, layer=layer, bbox=(60, 43, 61, 44))
        assert near["id"].tolist() == [4]
    # a failed edit (a later one in the same request refused) leaves nothing behind
    before = project.state()
    with pytest.raises(Exception, match="no feature"):
        store.edit("pts", [Edit("update", "1", {"vmest": 5}), Edit("delete", "999")], "id", "d" * 64)
    assert project.state() == before


def test_an_interrupted_upload_continues_where_it_stopped(portal: Portal) -> None:
    """The connection drops in the middle of a part: what arrived stays, HEAD says how much,
    and the upload continues from there to a file identical to the original."""
    import socket
    from urllib.parse import urlsplit

    alice = portal.api("alice")
    data = _geojson(canonical_points()) * 40  # ~100 KB: not a layer, only bytes to move
    r = alice.post("/publish/api/uploads", json={"org": "emergency", "filename": "cut.bin", "size": len(data)})
    up = r.json()
    host = urlsplit(portal.url)
    half = len(data) // 2
    with socket.create_connection((host.hostname, host.port)) as s:
        s.sendall((f"PATCH {up['location']} HTTP/1.1\r\nHost: {host.netloc}\r\n"
                   f"Authorization: Bearer {portal.tokens['alice']}\r\n"
                   f"Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\n"
                   f"Content-Length: {len(data)}\r\n\r\n").encode() + data[:half])
        import time

        time.sleep(0.5)
    have = wait_for(lambda: int(alice.head(up["location"]).headers["upload-offset"]) or None)
    assert have and 0 < have <= half
    r = alice.patch(up["location"], content=data[have:], headers={"Upload-Offset": str(have)})
    assert r.status_code == 204 and int(r.headers["upload-offset"]) == len(data)
    stored = portal.server.root / "data" / "uploads" / up["id"] / "cut.bin"
    assert stored.read_bytes() == data
    assert alice.get(up["location"]).json()["complete"] is True


def test_publish_merges_the_passport_it_is_given(portal: Portal) -> None:
    """A field left out keeps its value, an explicit null clears it (RFC 7396), API and form alike."""
    import yaml

    alice = portal.api("alice")
    pts = canonical_points().rename(columns={"ID": "id"})
    path = portal.server.root / "collections" / "merged.yml"

    def publish(passport: dict[str, Any] | None, form: bool = False) -> dict[str, Any]:
        up = upload(alice, "emergency", "merged.geojson", _geojson(pts))
        job = run_job(alice, up["id"], "merged")
        assert job["status"] == "ready", job
        if form:
            session = portal.session("alice@example.org")
            page = session.get(f"/publish/jobs/{job['id']}")
            r = session.post(f"/publish/jobs/{job['id']}/publish", data=passport | {"csrf": csrf_of(page.text)})
            assert r.status_code == 303, r.text[:300]
        else:
            r = alice.post(f"/publish/api/jobs/{job['id']}/publish", json={"passport": passport})
            assert r.status_code == 200, r.text
        return yaml.safe_load(path.read_text(encoding="utf-8"))

    first = publish(PASSPORT | {"description_en": "Where to go", "keywords": "shelter, safe"})
    assert first["schema"]["id_field"] == "id" and first["title"]["ru"] == "Убежища"
    # the README's curl example: a passport without id_field, titles or descriptions
    second = publish({"responsible_phone": "+998 71 200 00 00"})
    assert second["schema"]["id_field"] == "id"
    assert second["title"] == first["title"] and second["description"] == {"en": "Where to go"}
    assert second["keywords"] == ["shelter", "safe"]
    assert second["passport"]["responsible"]["phone"] == "+998 71 200 00 00"
    assert second["passport"]["responsible"]["email"] == "alice@example.org"
    # an explicit null clears
    third = publish({"description_en": None, "id_field": None})
    assert third["description"] == {} and third["schema"]["id_field"] is None
    assert third["title"] == first["title"]
    # the form: a field it does not send keeps its value, one sent empty is cleared
    fourth = publish({"lineage": "From the ministry's register", "keywords": ""}, form=True)
    assert fourth["passport"]["lineage"] == "From the ministry's register" and fourth["keywords"] == []
    assert fourth["title"] == first["title"] and fourth["passport"]["responsible"]["phone"]
    # a field that does not exist, or that is not text, is a 400 that publishes nothing
    up = upload(alice, "emergency", "merged.geojson", _geojson(pts))
    job = run_job(alice, up["id"], "merged")
    for bad in ({"titel_en": "x"}, {"title_en": 5}):
        r = alice.post(f"/publish/api/jobs/{job['id']}/publish", json={"passport": bad})
        assert r.status_code == 400 and "titel_en" in r.text or "must be text" in r.text, r.text
    assert yaml.safe_load(path.read_text(encoding="utf-8")) == fourth


def _replay(portal: Portal, cookies: httpx.Cookies) -> httpx.Client:
    """A client holding a copy of a browser's cookie, as someone who copied it would."""
    client = httpx.Client(base_url=portal.url, timeout=30)
    for cookie in cookies.jar:
        client.cookies.set(cookie.name, cookie.value)
    return client


def _tokens(portal: Portal) -> int:
    return len(portal.accounts().tokens("emergency"))


@pytest.mark.parametrize("ending", ["sign-out", "new password", "admin", "ended from the list", "idle"])
def test_a_copied_session_cookie_opens_nothing_once_the_session_ended(portal: Portal, ending: str) -> None:
    """Sessions live on the server: whatever ends one ends every copy of its cookie at once."""
    from geo_publish.portal import auth

    victim = portal.session("alice@example.org")
    page = victim.get("/publish/orgs/emergency")
    assert page.status_code == 200
    csrf = csrf_of(page.text)
    copied = _replay(portal, victim.cookies)
    assert copied.get("/publish/orgs/emergency").status_code == 200  # a copy works while it lasts
    accounts = portal.accounts()
    alice = accounts.user_by_email("alice@example.org")
    if ending == "sign-out":
        assert victim.post("/publish/logout", data={"csrf": csrf}).status_code == 303
    elif ending == "new password":
        other = portal.session("alice@example.org")
        accounts.set_password(alice["id"], auth.hash_password(PASSWORD))  # as the CLI and links do
        assert other.get("/publish/orgs/emergency").status_code != 200  # every session, not one
    elif ending == "admin":
        anna = portal.session("anna@example.org")
        org_page = anna.get("/publish/orgs/emergency")
        assert f"/members/{alice['id']}/sessions/end" in org_page.text
        r = anna.post(f"/publish/orgs/emergency/members/{alice['id']}/sessions/end",
                      data={"csrf": csrf_of(org_page.text)})
        assert r.status_code == 200 and "sessions-ended" in r.text
    elif ending == "ended from the list":
        laptop = portal.session("alice@example.org")
        listing = laptop.get("/publish/sessions")
        rows = re.findall(r'data-session="([^"]+)"', listing.text)
        assert len(rows) >= 2 and "127.0.0.1" in listing.text
        mine = accounts.session_by_hash(__import__("hashlib").sha256(
            victim_secret(portal, victim).encode()).hexdigest())["id"]
        r = laptop.post(f"/publish/sessions/{mine}/end", data={"csrf": csrf_of(listing.text)})
        assert r.status_code == 303
        assert laptop.get("/publish/orgs/emergency").status_code == 200  # the other one goes on
    else:  # idle: not used for longer than session_idle_minutes
        mine = accounts.session_by_hash(__import__("hashlib").sha256(
            victim_secret(portal, victim).encode()).hexdigest())["id"]
        accounts.run("UPDATE {s}gp_sessions SET last_seen = last_seen - 7200 WHERE id = ?", (mine,))
    before, tokens = _state(portal), _tokens(portal)
    for client in (copied, victim):
        assert client.get("/publish/orgs/emergency").status_code in (303, 401)  # to the sign-in page
        r = client.post("/publish/orgs/emergency/tokens", data={"name": "stolen", "csrf": csrf})
        assert r.status_code in (401, 403), r.text[:200]
        assert client.get("/publish/sessions").status_code in (303, 401)
    assert _tokens(portal) == tokens and _state(portal) == before


def victim_secret(portal: Portal, client: httpx.Client) -> str:
    """The secret inside a portal session cookie (signed by the server, readable by its key)."""
    import base64
    import json as _json

    from geo_publish.portal.session import SESSION_COOKIE

    value = client.cookies.get(SESSION_COOKIE)
    payload = value.split(".", 1)[0]
    return _json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))["sid"]


def test_another_persons_session_cannot_be_ended_or_listed(portal: Portal) -> None:
    bob = portal.session("bob@example.org")
    alice = portal.session("alice@example.org")
    listing = alice.get("/publish/sessions").text
    alice_sid = re.findall(r'data-session="([^"]+)"', listing)[0]
    bob_page = bob.get("/publish/sessions")
    assert alice_sid not in bob_page.text
    r = bob.post(f"/publish/sessions/{alice_sid}/end", data={"csrf": csrf_of(bob_page.text)})
    assert r.status_code == 404
    # bob is no admin of emergency: he cannot end alice's sessions there either
    uid = portal.accounts().user_by_email("alice@example.org")["id"]
    r = bob.post(f"/publish/orgs/emergency/members/{uid}/sessions/end", data={"csrf": csrf_of(bob_page.text)})
    assert r.status_code == 404
    # without the form's token, nothing either
    assert alice.post(f"/publish/sessions/{alice_sid}/end").status_code == 403
    assert alice.get("/publish/orgs/emergency").status_code == 200


@pytest.mark.parametrize("name, data", [
    ("broken.geojson", b"\x00\x01 not geojson at all " * 40),
    ("empty.zip", b"PK\x05\x06" + b"\x00" * 18),
    ("noprj.zip", None),
])
def test_a_rejected_upload_names_the_file_never_a_server_path(portal: Portal, tmp_path: Path, name, data) -> None:
    if data is None:  # a shapefile without its .prj: the message names the member of the zip
        from gp_testlib import write_shapefile, zip_folder

        shp = write_shapefile(canonical_points(), tmp_path / "shp", "obekty", "cp1251")
        shp.with_suffix(".prj").unlink()
        data = zip_folder(tmp_path / "shp", tmp_path / name).read_bytes()
    alice = portal.api("alice")
    up = upload(alice, "emergency", name, data)
    job = run_job(alice, up["id"], "rejected_upload")
    assert job["status"] == "rejected", job
    page = portal.session("alice@example.org").get(f"/publish/jobs/{job['id']}").text
    root = str(portal.server.root)
    texts = [job["message"], (job["result"]["report"] or {}).get("error") or "", page]
    assert name in job["message"], job["message"]
    for text in texts:
        assert root not in text and "/uploads/" not in text and "/tmp/" not in text, text[:300]


def test_the_officer_sees_why_a_map_is_drawn_plain(portal: Portal) -> None:
    """A style naming a field the published version lacks: the layer's and the job's pages say
    so (the site builder drew it with a plain style, and the other maps were rebuilt)."""
    alice = portal.api("alice")
    styles = portal.server.root / "styles"
    styles.mkdir(exist_ok=True)
    (styles / "styled.yml").write_text("popup: [no_such_field]\n", encoding="utf-8")
    up = upload(alice, "emergency", "styled.geojson", _geojson(canonical_points()))
    job = run_job(alice, up["id"], "styled")
    assert alice.post(f"/publish/api/jobs/{job['id']}/publish",
                      json={"passport": PASSPORT | {"id_field": ""}}).status_code == 200
    session = portal.session("alice@example.org")
    assert wait_for(lambda: 'id="map-problem"' in session.get("/publish/collections/styled").text, 60)
    page = session.get("/publish/collections/styled").text
    assert "no_such_field" in page and str(portal.server.root) not in page
    assert 'id="map-problem"' in session.get(f"/publish/jobs/{job['id']}").text
    assert wait_for(lambda: "layer-styled.html" in httpx.get(portal.url + "/site/index.html").text, 30)
    (styles / "styled.yml").unlink()
