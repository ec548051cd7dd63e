"""Every page we serve passes axe-core (Deque's engine, as bundled by axe-playwright-python) with
no critical or serious violation: the citizen site, pygeoapi's API pages and the portal signed in
and out, in Uzbek, Russian and English, at phone size and on a desktop, in Debian's Chromium."""

from __future__ import annotations

import secrets

import pytest

from gp_testlib import canonical_points, cli_here
from portal_testlib import Portal, run_job, setup_people, upload
from server_testlib import make_sources, start, write_config
from viewer_testlib import ARTIFACTS, POINTS_MANIFEST, POINTS_STYLE, POLYGONS_STYLE, browser  # noqa: F401

pytestmark = pytest.mark.slow
LANGS = ("uz", "ru", "en")
SERIOUS = ("critical", "serious")


@pytest.fixture(scope="module")
def portal(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Portal:
    """A live server (GeoPackage: markup does not depend on the store) with styled layers,
    people, a job with a report and a published layer."""
    root = tmp_path_factory.mktemp("a11y")
    request.param = "geopackage"  # write_config reads the backend from here
    write_config(root, request, f"a11y_{secrets.token_hex(3)}")
    (root / "collections").mkdir()
    (root / "styles").mkdir()
    (root / "collections" / "points.yml").write_text(POINTS_MANIFEST, encoding="utf-8")
    # points are an emergency layer here: the index's emergency section and emergency.html are checked
    (root / "styles" / "points.yml").write_text(POINTS_STYLE + "emergency: true\n", encoding="utf-8")
    (root / "styles" / "polygons.yml").write_text(POLYGONS_STYLE, encoding="utf-8")
    for cid, path in make_sources(root / "sources").items():
        done = cli_here(root / "config.yml", "ingest", str(path), "--collection", cid)
        assert done.returncode == 0, done.stderr
    server = start(root, workers=1)
    p = Portal(server)
    setup_people(p)
    assert p.cli("admin", "assign", "--org", "emergency").returncode == 0
    alice = p.api("alice")
    up = upload(alice, "emergency", "shelters.geojson", canonical_points().to_json().encode())
    job = run_job(alice, up["id"], "shelters")
    assert job["status"] == "ready", job
    p.job = job["id"]  # type: ignore[attr-defined]
    yield p
    server.stop()


def _violations(page, url: str) -> list[str]:  # type: ignore[no-untyped-def]
    from axe_playwright_python.sync_playwright import Axe

    response = page.goto(url, wait_until="load")
    assert response is not None and response.status == 200, (url, response and response.status)
    page.wait_for_timeout(300)  # the map's markers and the page's script have run
    found = Axe().run(page).response["violations"]
    return [f"{v['id']} ({v['impact']}): {v['help']} -> {[n['target'] for n in v['nodes']][:3]}"
            for v in found if v["impact"] in SERIOUS]


PUBLIC = ["/site/index.html", "/site/layer-points.html", "/site/layer-many.html", "/site/map.html",
          "/site/emergency.html",
          "/?f=html", "/collections?f=html", "/collections/points?f=html",
          "/collections/points/items?f=html", "/collections/points/items/1?f=html",
          "/collections/points/queryables?f=html", "/conformance?f=html",
          "/publish/login", "/publish/password", "/feedback/points?f=html"]
SHOWN = {"/?f=html": "landing", "/site/index.html": "index", "/site/emergency.html": "emergency-map",
         "/site/layer-points.html": "layer", "/publish/login": "portal-login"}
SIGNED_IN = ["/publish/", "/publish/orgs/emergency", "/publish/upload", "/publish/collections/points",
             "/publish/sessions", "/publish/feedback", "/publish/jobs/{job}"]


@pytest.mark.parametrize("lang, size", [(lang, (390, 844)) for lang in LANGS] + [("en", (1280, 800))],
                         ids=[f"{lang}-phone" for lang in LANGS] + ["en-desktop"])
def test_no_serious_axe_violation_on_any_page(portal: Portal, browser, lang: str, size) -> None:  # noqa: F811
    context = browser.new_context(viewport={"width": size[0], "height": size[1]}, locale=lang,
                                  extra_http_headers={"Accept-Language": lang})
    page = context.new_page()
    problems: dict[str, list[str]] = {}
    try:
        for path in PUBLIC:
            url = portal.url + path + ("&" if "?" in path else "?") + f"lang={lang}"
            problems[path] = _violations(page, url)
            if path in SHOWN and size[0] < 500:  # each view as a phone shows it, to look at
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / f"{SHOWN[path]}-phone-{lang}.png"))
        page.goto(portal.url + "/publish/login")
        page.fill("input[name=email]", "anna@example.org")
        page.fill("input[name=password]", "correct horse battery")
        page.click("form button[type=submit]")
        page.wait_for_url(portal.url + "/publish/")
        for path in SIGNED_IN:
            path = path.format(job=portal.job)  # type: ignore[attr-defined]
            problems[path] = _violations(page, portal.url + path + f"?lang={lang}")
    finally:
        context.close()
    bad = {p: v for p, v in problems.items() if v}
    assert bad == {}, "\n".join(f"{p}: {x}" for p, v in bad.items() for x in v)
