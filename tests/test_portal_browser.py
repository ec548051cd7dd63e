"""The publishing portal used as an officer uses it, in headless Chromium: sign in, upload a
zipped shapefile in cp1251 without .cpg and with a Pulkovo 1942 .prj, read the report, set the
encoding and check again, fill the passport, publish, see the layer in the API and on the map;
another organisation's officer cannot see the draft. Screenshots of the report and passport
(phone and desktop) go to test-artifacts/."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
import pytest

from gp_testlib import NAMES, canonical_points, write_shapefile, zip_folder
from portal_testlib import PASSWORD, Portal, setup_people, wait_for
from server_testlib import start, write_config
from viewer_testlib import ARTIFACTS

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


class _Param:
    param = "geopackage"


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Portal:
    root = tmp_path_factory.mktemp("portal-browser")
    write_config(root, _Param(), f"pb_{secrets.token_hex(3)}")
    server = start(root, workers=2)
    p = Portal(server)
    setup_people(p)
    yield p
    server.stop()


@pytest.fixture(scope="module")
def shapefile_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("shp")
    frame = canonical_points().to_crs("EPSG:28412")  # Pulkovo 1942 / Gauss-Kruger zone 12
    shp = write_shapefile(frame, folder / "src", "obekty", "cp1251")  # no .cpg, LDID 0
    assert not shp.with_suffix(".cpg").exists() and "Pulkovo" in shp.with_suffix(".prj").read_text()
    return zip_folder(folder / "src", folder / "obekty.zip")


def _page(browser, viewport: dict) -> tuple:
    ctx = browser.new_context(viewport=viewport, locale="ru-RU")
    page = ctx.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    return ctx, page, errors, requests


def _sign_in(page, url: str, email: str) -> None:
    page.goto(url + "/publish/")
    assert "/publish/login" in page.url
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(url + "/publish/")


def _shoot(page, name: str, selector: str | None = None) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    out = ARTIFACTS / name
    (page.locator(selector) if selector else page).screenshot(path=str(out), **({} if selector else {"full_page": True}))
    assert out.stat().st_size > 5_000


def test_officer_publishes_a_cp1251_pulkovo_shapefile(browser, portal: Portal, shapefile_zip: Path) -> None:
    url = portal.url
    ctx, page, errors, requests = _page(browser, DESKTOP)
    try:
        _sign_in(page, url, "alice@example.org")
        assert "Портал публикации" in page.content()  # the browser's language
        page.goto(url + "/publish/upload")
        page.select_option("select[name=org]", "emergency")
        page.fill("input[name=collection]", "obekty")
        page.set_input_files("input[name=file]", str(shapefile_zip))
        page.click("#upload button[type=submit]")
        page.wait_for_url(url + "/publish/jobs/**", timeout=30_000)
        job_url = page.url
        page.wait_for_selector("#job[data-status=ready], #job[data-status=rejected]", timeout=120_000)
        assert page.get_attribute("#job", "data-status") == "ready", page.inner_text("main")
        assert page.inner_text("#count-read") == "12" and page.inner_text("#count-published") == "12"
        crs = page.inner_text("#fact-crs")
        assert "28412" in crs or "Pulkovo" in crs, crs

        # another organisation's officer cannot see the draft
        ctx2, page2, _, _ = _page(browser, DESKTOP)
        try:
            _sign_in(page2, url, "bob@example.org")
            assert "obekty" not in page2.content()
            answer = page2.goto(job_url)
            assert answer.status == 404 and "obekty" not in page2.inner_text("main")
        finally:
            ctx2.close()
        assert httpx.get(url + "/collections/obekty").status_code == 404

        # the officer says which encoding the file is in and checks again
        page.select_option("#rerun select[name=encoding]", "cp1251")
        page.click("#rerun button[type=submit]")
        page.wait_for_selector("#job[data-status=ready]", timeout=120_000)
        assert "cp1251" in page.inner_text("#fact-encoding")
        _shoot(page, "portal-report-desktop.png", "#report")

        # the passport, filled in and published
        page.fill("input[name=title_uz]", "Obyektlar")
        page.fill("input[name=title_ru]", "Объекты")
        page.fill("input[name=title_en]", "Facilities")
        page.fill("input[name=responsible_name]", "Alisher Karimov")
        page.fill("input[name=responsible_email]", "not-an-email")
        page.fill("input[name=license]", "CC-BY-4.0")
        page.select_option("select[name=update_frequency]", "monthly")
        page.select_option("select[name=id_field]", "id")
        page.click("#passport button[type=submit]")
        assert "responsible.email" in page.inner_text("#form-error") or "email" in page.inner_text("#form-error")
        assert page.input_value("input[name=title_ru]") == "Объекты"  # what was typed is kept
        assert httpx.get(url + "/collections/obekty").status_code == 404
        page.fill("input[name=responsible_email]", "alisher@example.org")
        _shoot(page, "portal-passport-desktop.png", "#passport")
        page.click("#passport button[type=submit]")
        page.wait_for_selector("#published-note", timeout=30_000)
        assert page.locator("#history tr[data-version]").count() >= 1
        # the refused passport form came back as a 400 page, which Chromium logs; nothing else
        assert [e for e in errors if "status of 400" not in e] == [], errors
        assert all(u.startswith(url) for u in requests), [u for u in requests if not u.startswith(url)]
    finally:
        ctx.close()

    # in the API, with the Cyrillic names decoded, and on the map
    # a new collection: each worker takes it into its configuration within a second or two
    # (8 answers in a row, each on a new connection: 4 could all come from the one worker that
    # had it, and the items request then reach the other)
    answers: list[httpx.Response] = []

    def everywhere() -> bool:
        answers[:] = [httpx.get(url + "/collections/obekty/items", params={"limit": 50}) for _ in range(8)]
        return all(a.status_code == 200 for a in answers)

    assert wait_for(everywhere, timeout=10), [(a.status_code, a.text[:200]) for a in answers]
    items = answers[-1].json()["features"]
    assert sorted(f["properties"]["nazvanie"] for f in items) == sorted(NAMES)
    passport = httpx.get(url + "/passports/obekty.json").json()
    assert passport["responsible"]["email"] == "alisher@example.org" and passport["license"] == "CC-BY-4.0"
    assert wait_for(lambda: httpx.get(url + "/site/layer-obekty.html").status_code == 200, timeout=60)
    ctx, page, errors, _ = _page(browser, PHONE)
    try:
        page.goto(url + "/site/layer-obekty.html")
        page.wait_for_selector("html[data-gp-drawn]", state="attached", timeout=20_000)
        assert page.get_attribute("html", "data-gp-drawn") == "12"
        assert errors == [], errors
    finally:
        ctx.close()


def test_report_and_passport_on_a_phone(browser, portal: Portal, shapefile_zip: Path) -> None:
    """The same pages at phone width: nothing wider than the screen; screenshots for review."""
    ctx, page, errors, _ = _page(browser, PHONE)
    try:
        _sign_in(page, portal.url, "anna@example.org")
        page.goto(portal.url + "/publish/upload?collection=obekty-phone")
        page.set_input_files("input[name=file]", str(shapefile_zip))
        page.click("#upload button[type=submit]")
        page.wait_for_url(portal.url + "/publish/jobs/**", timeout=30_000)
        page.wait_for_selector("#job[data-status=ready]", timeout=120_000)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        _shoot(page, "portal-report-phone.png", "#report")
        _shoot(page, "portal-passport-phone.png", "#passport")
        _shoot(page, "portal-job-phone.png")
        assert errors == [], errors
    finally:
        ctx.close()
