"""The citizen map in a real headless Chromium (Debian's), against the built site served by a
plain web server on 127.0.0.1: no console error, nothing requested off-origin, markers, canvas
points and outlines drawn, popups with the right text, HTML in data shown as text, language
switch, locate-me with an emulated position, search; a phone-size screenshot as an artefact."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from viewer_testlib import (ARTIFACTS, ORG, TITLE_EN, XSS, Site, build_site,
                            haversine, serve_dir)

pytestmark = pytest.mark.slow
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    s = build_site(tmp_path_factory.mktemp("viewer"))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def live(site: Site):
    """The same store served by `geo-publish serve` (API, and the site at /site/)."""
    from server_testlib import start

    srv = start(site.root, workers=1)
    yield srv
    srv.stop()


@dataclass
class Watched:
    page: Any
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


@contextmanager
def watched_page(browser, *, viewport: dict | None = None, **context: Any) -> Iterator[Watched]:
    """A new page, watched for console errors, requests and dialogs; its browser context closed
    afterwards."""
    ctx = browser.new_context(viewport=viewport or PHONE, **context)
    try:
        w = Watched(ctx.new_page())
        w.page.on("console", lambda m: m.type == "error" and w.errors.append(m.text))
        w.page.on("pageerror", lambda e: w.errors.append(f"pageerror: {e}"))
        w.page.on("request", lambda r: w.requests.append(r.url))

        def dialog(d):
            w.dialogs.append(d.message)
            d.dismiss()

        w.page.on("dialog", dialog)
        yield w
    finally:
        ctx.close()


@contextmanager
def open_page(browser, site: Site, name: str, *, lang: str | None = None,
              position: tuple[float, float] | None = None,
              viewport: dict | None = None) -> Iterator[Watched]:
    """A page of the site, opened and drawn (the map) or loaded (the index)."""
    context: dict[str, Any] = {"locale": "en-US"}
    if position:
        context.update(geolocation={"latitude": position[0], "longitude": position[1]},
                       permissions=["geolocation"])
    with watched_page(browser, viewport=viewport, **context) as w:
        w.page.goto(site.url + name + (f"?lang={lang}" if lang else ""))
        if name != "index.html":
            w.page.wait_for_selector("html[data-gp-drawn]", state="attached", timeout=20000)
        else:
            w.page.wait_for_load_state("load")
        yield w


def layer_js(page, cid: str, expr: str) -> Any:
    return page.evaluate(
        "([cid, expr]) => { const s = geoPublish.state; const l = s.layers.find(x => x.id === cid);"
        " return (new Function('s', 'l', 'return ' + expr))(s, l); }", [cid, expr])


def feature_index(page, cid: str, name: str) -> int:
    page.wait_for_function("geoPublish.state.layers.every(l => typeof l.props === 'object' || l.error)")
    return layer_js(page, cid, f"l.props.rows.findIndex(r => r[l.props.fields.indexOf(l.label)] === {json.dumps(name)})")


def click_point(page, cid: str, i: int, zoom: int | None = None, lift: int = 0) -> None:
    """Click feature i of a point layer where it is drawn (``lift``: pins stand above the point)."""
    page.wait_for_function("geoPublish.state.layers.every(l => typeof l.props === 'object' || l.error)")
    xy = page.evaluate(
        "([cid, i, zoom]) => { const s = geoPublish.state, l = s.layers.find(x => x.id === cid);"
        " const ll = [l.points[2*i+1], l.points[2*i]];"
        " if (zoom) s.map.setView(ll, zoom, {animate: false});"
        " const p = s.map.latLngToContainerPoint(ll), r = s.map.getContainer().getBoundingClientRect();"
        " return [r.left + p.x, r.top + p.y]; }", [cid, i, zoom])
    for attempt in range(3):  # a loaded machine may still be settling the view: click again
        page.wait_for_timeout(150 * (attempt + 1))
        page.mouse.click(xy[0], xy[1] - lift)
        try:
            page.wait_for_selector(".leaflet-popup-content", timeout=4000)
            return
        except Exception:  # noqa: BLE001 - playwright's TimeoutError
            if attempt == 2:
                raise


def popup_text(page) -> str:
    return page.inner_text(".leaflet-popup-content")


# -- pages ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["index.html", "map.html", "layer-points.html",
                                  "layer-polygons.html", "layer-many.html"])
def test_page_loads_clean_and_stays_on_origin(browser, site, name):
    with open_page(browser, site, name) as w:
        w.page.wait_for_timeout(300)
        assert w.errors == []
        off = [u for u in w.requests if not u.startswith(site.url)]
        assert off == [], off  # no CDN, no tile server, nothing off-origin
        assert len(w.requests) >= 3
        assert w.dialogs == []


def test_all_layers_drawn(browser, site):
    with open_page(browser, site, "map.html") as w:
        page = w.page
        assert page.get_attribute("html", "data-gp-drawn") == str(13 + 12 + 2500)
        # markers layer: a pin per feature, those that would overlap merged with their count
        pins = page.locator(".gp-pin").count()
        merged = sum(int(t) for t in page.locator(".gp-cluster span").all_inner_texts())
        assert pins + merged == 13 and pins > 0, (pins, merged)
        assert layer_js(page, "polygons", "l.leaflet.getLayers().length") == 12
        assert layer_js(page, "many", "l.mode") == "canvas"
        painted = page.evaluate(
            "() => { const c = document.querySelector('canvas.gp-canvas');"
            " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
            " let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }")
        assert painted > 2500  # thousands of dots really on the canvas
        # zoomed in on the pins, each is its own
        page.evaluate("() => { const s = geoPublish.state, l = s.layers.find(l => l.id === 'points');"
                      " s.map.setView([l.points[1], l.points[0]], 15, {animate: false}); }")
        assert page.locator(".gp-cluster").count() == 0 and page.locator(".gp-pin").count() >= 1
        # a scale bar and a legend naming every layer with its count
        assert page.locator(".leaflet-control-scale").count() == 1
        legend = page.inner_text(".gp-legend")
        assert TITLE_EN in legend and "(2,500)" in legend


def test_popup_shows_the_feature_fields(browser, site):
    with open_page(browser, site, "layer-points.html") as w:
        i = feature_index(w.page, "points", "Самарканд спортзал")
        assert i >= 0
        click_point(w.page, "points", i, zoom=12, lift=18)
        text = popup_text(w.page)
        assert "Самарканд спортзал" in text
        assert "Capacity" in text and "200" in text  # ВМЕСТ of the 2nd feature
        assert "Ўзбекистон 1" in text


def test_canvas_point_popup(browser, site):
    with open_page(browser, site, "layer-many.html") as w:
        i = 1234
        click_point(w.page, "many", i, zoom=13)
        text = popup_text(w.page)
        kod = layer_js(w.page, "many", f"l.props.rows[{i}][l.props.fields.indexOf('kod')]")
        assert kod == 1234 and "kod" in text and "1,234" in text


def test_html_in_data_and_passports_is_text(browser, site):
    with open_page(browser, site, "map.html") as w:
        i = feature_index(w.page, "points", XSS)
        assert i >= 0
        click_point(w.page, "points", i, zoom=12, lift=18)
        assert XSS in popup_text(w.page)
        assert w.page.locator(".leaflet-popup-content img").count() == 0
        # the layer title holds HTML: shown as text in the layer control and the legend
        assert TITLE_EN in w.page.inner_text(".leaflet-control-layers-list")
        assert w.page.locator(".leaflet-control-layers b, .gp-legend b").count() == 0
        w.page.wait_for_timeout(300)
        assert w.dialogs == [] and w.errors == []
    with open_page(browser, site, "index.html") as w:
        card = w.page.locator("#layer-points")
        assert card.locator(".gp-org").inner_text() == ORG
        assert "<b>Officer</b>" in card.locator(".gp-person").text_content()  # folded on a phone: its text
        assert card.locator("script, .gp-person b").count() == 0
        w.page.wait_for_timeout(300)
        assert w.dialogs == [] and w.errors == []


def test_language_switch_on_map_and_index(browser, site):
    with open_page(browser, site, "layer-points.html") as w:
        page = w.page
        assert page.inner_text(".gp-legend-title") == "Legend"
        page.select_option("#gp-lang", "ru")
        page.wait_for_function("document.querySelector('.gp-legend-title').textContent === 'Условные обозначения'")
        assert "Пункты размещения" in page.inner_text(".gp-title")
        assert "lang=ru" in page.url
        i = feature_index(page, "points", "Самарканд спортзал")
        click_point(page, "points", i, zoom=12, lift=18)
        assert "Вместимость" in popup_text(page)
        page.select_option("#gp-lang", "uz")
        page.wait_for_function("document.querySelector('.gp-legend-title').textContent === 'Shartli belgilar'")
        assert page.inner_text("#gp-locate").strip() == "Menga eng yaqin"
    with open_page(browser, site, "index.html") as w:
        page = w.page
        h2 = page.locator("#layer-points h2")
        assert h2.inner_text().strip() == TITLE_EN
        page.click("button[data-set-lang=uz]")
        assert h2.inner_text().strip() == "Boshpanalar"
        assert page.locator("#gp-map-all").inner_text().strip() == "Barcha qatlamlar xaritasi"
        page.reload()  # the choice is remembered
        assert page.locator("#layer-points h2").inner_text().strip() == "Boshpanalar"
        page.click("button[data-set-lang=ru]")
        assert h2.inner_text().strip() == "Пункты размещения"
        assert "lang=ru" in page.get_attribute("#layer-points .gp-map-link", "href")


def test_locate_me_lists_the_nearest_feature(browser, site):
    here = (39.6542 + 0.0009, 66.9597)  # 100 m north of "Самарканд спортзал"
    with open_page(browser, site, "map.html", position=here) as w:
        page = w.page
        page.wait_for_function("geoPublish.state.layers.every(l => typeof l.props === 'object' || l.error)")
        page.click("#gp-locate")
        page.wait_for_selector(".gp-nearest-item", timeout=10000)
        first = page.locator(".gp-nearest-item").first
        assert first.locator(".gp-nearest-name").inner_text() == "Самарканд спортзал"
        d = haversine(*here, 39.6542, 66.9597)
        assert first.locator(".gp-nearest-meta").inner_text().endswith(f"{round(d)} m")
        # the five nearest over the visible point layers (markers and canvas), in order
        want = sorted(_distances(page, here))[:5]
        metas = page.locator(".gp-nearest-meta").all_inner_texts()
        assert len(metas) == 5
        for meta, (dist, cid) in zip(metas, want):
            title, _, shown = meta.rpartition(" · ")
            value, unit = shown.split()
            metres = float(value) * (1000 if unit == "km" else 1)
            assert abs(metres - dist) <= (1 if unit == "m" else 51 if dist < 10_000 else 501)
            assert title == {"points": TITLE_EN, "many": "Many"}[cid]
        first.click()
        page.wait_for_selector(".leaflet-popup-content")
        assert "Самарканд спортзал" in popup_text(page)


def _distances(page, here: tuple[float, float]) -> list[tuple[float, str]]:
    """Distances to every point-layer feature, computed here from the coordinates the site drew."""
    out = []
    for cid in ("points", "many"):
        c = layer_js(page, cid, "l.points")
        out += [(haversine(*here, c[2 * k + 1], c[2 * k]), cid) for k in range(len(c) // 2)]
    return out


def test_locate_me_without_permission_says_so(browser, site):
    with open_page(browser, site, "map.html") as w:  # no geolocation permission granted
        w.page.click("#gp-locate")
        w.page.wait_for_function(
            "document.querySelector('.gp-nearest').textContent.includes('not available')", timeout=20000)


def test_search_filters_cards(browser, site):
    with open_page(browser, site, "index.html") as w:
        page = w.page
        assert page.locator("article.gp-card:visible").count() == 3
        page.fill("#gp-search", "пункты")
        assert page.locator("article.gp-card:visible").count() == 1
        assert page.locator("#layer-points").is_visible()
        page.fill("#gp-search", "no such layer")
        assert page.locator("article.gp-card:visible").count() == 0
        assert page.locator("#gp-no-match").is_visible()


def test_downloads_and_api_links(browser, site):
    with open_page(browser, site, "index.html") as w:
        hrefs = w.page.eval_on_selector_all("#layer-points .gp-links a", "as => as.map(a => a.getAttribute('href'))")
        assert {"downloads/points.v1.geojson", "downloads/points.v1.csv",
                "downloads/points.v1.gpkg"} <= set(hrefs)
        assert "../collections/points" in hrefs
        for h in hrefs:
            if h.startswith("downloads/"):
                r = w.page.request.get(site.url + h)
                assert r.status == 200 and len(r.body()) > 100


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Site:
    """The demo's site (shipped samples, styles/ and collections/ of the repository)."""
    from geo_publish.cli.main import main

    root = tmp_path_factory.mktemp("demo")
    repo = Path(__file__).resolve().parents[1]
    (root / "config.yml").write_text(
        f"collections_dir: {repo / 'collections'}\nstyles_dir: {repo / 'styles'}\n")
    assert main(["--config", str(root / "config.yml"), "demo", "--no-serve"]) == 0
    httpd, url = serve_dir(root / "data" / "demo" / "build" / "site")
    site = Site(root, root, url, httpd)
    yield site
    site.stop()


def test_phone_screenshot_of_all_layers(browser, demo):
    """The demo's map of all layers at phone size, saved to test-artifacts/ for a reviewer."""
    with open_page(browser, demo, "map.html", viewport=PHONE) as w:
        assert w.page.get_attribute("html", "data-gp-drawn") == str(39 + 13 + 62)
        w.page.wait_for_function("document.querySelector('img.gp-raster').complete")
        ARTIFACTS.mkdir(exist_ok=True)
        out = ARTIFACTS / "viewer-all-layers-phone.png"
        w.page.wait_for_timeout(300)
        w.page.screenshot(path=str(out))
        assert out.stat().st_size > 20_000  # a blank page of this size is a few KB
        # nothing of the map sticks out of a phone's width
        assert w.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert w.errors == [] and not [u for u in w.requests if not u.startswith(demo.url)]


def test_raster_overlay_legend_opacity_and_value(browser, demo):
    """The seismic raster: an image overlay placed on its bounds, a ramp legend with its unit,
    an opacity slider, and the value under the cursor from the values grid."""
    import json as _json

    with open_page(browser, demo, "layer-seismic.html", viewport={"width": 1000, "height": 700}) as w:
        page = w.page
        page.wait_for_function("document.querySelector('img.gp-raster').complete")
        assert page.evaluate("document.querySelector('img.gp-raster').naturalWidth") > 100
        assert "(g)" in page.inner_text(".gp-legend-raster")
        page.fill(".gp-opacity", "0.3") if False else page.evaluate(
            "() => { const s = document.querySelector('.gp-opacity'); s.value = '0.3';"
            " s.dispatchEvent(new Event('input')); }")
        assert page.evaluate("getComputedStyle(document.querySelector('img.gp-raster')).opacity") == "0.3"
        # the value under the cursor equals the site's grid value there (a point in the country,
        # away from the controls: the middle of the map)
        grid = _json.loads((demo.root / "data" / "demo" / "build" / "site" / "data" /
                            "seismic.v1.values.json").read_text())
        lat, lon = 41.0, 64.0
        xy = page.evaluate("""([lat, lon]) => { const m = geoPublish.state.map;
            m.setView([lat, lon], m.getZoom(), {animate: false});
            const p = m.latLngToContainerPoint([lat, lon]), r = m.getContainer().getBoundingClientRect();
            return [r.left + p.x, r.top + p.y]; }""", [lat, lon])
        shown = "document.querySelector('.gp-value') && !document.querySelector('.gp-value').hidden"
        for attempt in range(5):  # mouse events can be lost while a loaded machine settles
            page.mouse.move(xy[0] - 3, xy[1])
            page.mouse.move(xy[0], xy[1])
            try:
                page.wait_for_function(shown, timeout=3000)
                break
            except Exception:  # noqa: BLE001 - playwright's TimeoutError
                assert attempt < 4, "no value under the cursor"
        text = page.inner_text(".gp-value")
        assert text.endswith(" g")
        value = float(text.split(":")[-1].split()[0].replace(",", ""))
        import pyproj

        x, y = pyproj.Transformer.from_crs(4326, 3857, always_xy=True).transform(lon, lat)
        b = grid["bounds3857"]
        col = int((x - b[0]) / (b[2] - b[0]) * grid["width"])
        row = int((b[3] - y) / (b[3] - b[1]) * grid["height"])
        near = [grid["values"][r * grid["width"] + c] for r in range(row - 1, row + 2)
                for c in range(col - 1, col + 2)]
        assert any(v is not None and abs(v - value) < 1e-3 for v in near), (value, near)
        assert w.errors == []


@pytest.mark.parametrize("path", ["/?f=html&lang=uz", "/collections?f=html&lang=ru",
                                  "/collections/points/items?f=html", "/collections/points/items/1?f=html",
                                  "/openapi?f=html", "/site/map.html", "/reports/points.html"])
def test_api_html_pages_stay_on_origin_and_speak_uz_ru(browser, live, path):
    """pygeoapi's own pages: their CDN assets replaced by the vendored copies, ru/uz catalogues."""
    with watched_page(browser) as w:
        page = w.page
        page.goto(live.url + path, wait_until="networkidle")
        assert [u for u in w.requests if not u.startswith(live.url)] == []
        assert w.errors == []
        text = page.inner_text("body")
        if "lang=uz" in path:
            assert "Bosh sahifa" in text
        if "lang=ru" in path:
            assert "Коллекции" in text
        if "items?" in path:
            assert page.locator(".leaflet-interactive, .leaflet-marker-icon").count() > 0



@pytest.fixture(scope="module")
def paged(tmp_path_factory: pytest.TempPathFactory) -> Site:
    """The same three layers with an index of two cards a page (two pages), and a main map of
    two layers at most."""
    import geo_publish.publish.viewer.site as site_module

    before = site_module.INDEX_PAGE, site_module.MAP_LAYERS
    site_module.INDEX_PAGE, site_module.MAP_LAYERS = 2, 2
    try:
        s = build_site(tmp_path_factory.mktemp("paged"))
    finally:
        site_module.INDEX_PAGE, site_module.MAP_LAYERS = before
    yield s
    s.stop()


def test_the_index_comes_in_pages_and_searches_them_all(browser, paged: Site) -> None:
    """A phone never loads thousands of cards: the index is in pages, and a search typed on one
    page also lists the layers of the others (search.json), Uzbek Latin or Cyrillic, stems."""
    from axe_playwright_python.sync_playwright import Axe

    entries = json.loads((paged.dir / "search.json").read_text(encoding="utf-8"))
    assert [(e["id"], e["page"]) for e in entries] == [
        ("many", "index.html"), ("points", "index.html"), ("polygons", "index-2.html")]
    with open_page(browser, paged, "index.html", lang="ru", viewport=PHONE) as w:
        page = w.page
        assert page.locator("article.gp-card").count() == 2
        assert "/index-2.html" in page.locator(".gp-pager a[rel=next]").get_attribute("href")
        page.fill("#gp-search", "polygon")  # only on page 2
        page.wait_for_selector("#gp-elsewhere li a")
        assert page.locator("article.gp-card:visible").count() == 0
        assert page.locator("#gp-no-match").is_hidden()
        link = page.locator("#gp-elsewhere li a")
        assert link.count() == 1 and link.get_attribute("href") == "index-2.html#layer-polygons"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "viewer-index-search-other-pages-phone-ru.png"))
        serious = [v["id"] for v in Axe().run(page).response["violations"]
                   if v["impact"] in ("serious", "critical")]
        assert serious == [], serious
        link.click()
        page.wait_for_url("**/index-2.html**")
        assert page.locator("#layer-polygons").is_visible()
        assert page.locator(".gp-pager a[rel=prev]").count() == 1
        page.fill("#gp-search", "пункты")  # a layer of page 1, from page 2
        page.wait_for_selector("#gp-elsewhere li a")
        assert page.locator("#gp-elsewhere li a").get_attribute("href") == "index.html#layer-points"
        page.fill("#gp-search", "no such layer")
        page.wait_for_timeout(200)
        assert page.locator("#gp-no-match").is_visible() and page.locator("#gp-elsewhere").is_hidden()


@pytest.mark.parametrize("lang", ["uz", "ru", "en"])
def test_the_main_map_of_a_large_site_says_where_the_others_are(browser, paged: Site, lang: str) -> None:
    """Past MAP_LAYERS the main map draws some of the layers: on a phone it says how many of
    how many, in the page's language, and links to the index where the others are."""
    from axe_playwright_python.sync_playwright import Axe

    with open_page(browser, paged, "map.html", lang=lang, viewport=PHONE) as w:
        page = w.page
        assert page.evaluate("geoPublish.state.layers.length") == 2
        note = page.locator("#gp-more")
        assert note.is_visible()
        text = note.inner_text()
        assert "2" in text and "3" in text and {"uz": "qatlam", "ru": "слоёв", "en": "layers"}[lang] in text
        box = note.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"viewer-main-map-phone-{lang}.png"))
        serious = [v["id"] for v in Axe().run(page).response["violations"]
                   if v["impact"] in ("serious", "critical")]
        assert serious == [], serious
        assert w.errors == []
        note.click()
        page.wait_for_url(f"**/index.html?lang={lang}")
        assert page.locator("article.gp-card").count() == 2


def test_the_index_filters_by_organisation_theme_kind_and_freshness(browser, paged: Site) -> None:
    """The index's filters, the catalogue's (organisation, theme, kind of data, freshness): each
    list says how many layers have each value (facets.json), a choice hides this page's cards
    that lack it and lists the other pages' that have it (search.json); values are text."""
    from axe_playwright_python.sync_playwright import Axe

    facets = json.loads((paged.dir / "facets.json").read_text(encoding="utf-8"))
    assert facets["o"] == [[ORG, 1]] and facets["k"] == [["shelter", 1]] and facets["f"] == [["vector", 3]]
    assert sum(n for _, n in facets["r"]) == 3
    with open_page(browser, paged, "index.html", lang="ru", viewport=PHONE) as w:
        page = w.page
        page.click("#gp-filters summary")
        org = page.locator("select[data-f=o]")
        page.wait_for_function("document.querySelectorAll('select[data-f=o] option').length === 2")
        assert org.locator("option").all_inner_texts() == ["любая", f"{ORG} (1)"]  # as text
        assert page.locator("select[data-f=f] option").all_inner_texts() == [
            "любая", "объекты (точки, линии, площади) (3)"]
        org.select_option(ORG)
        assert page.locator("article.gp-card:visible").evaluate_all("cs => cs.map(c => c.id)") == ["layer-points"]
        page.wait_for_timeout(300)
        assert page.locator("#gp-elsewhere").is_hidden()  # polygons (page 2) has no organisation
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "viewer-index-filters-phone-ru.png"))
        serious = [v["id"] for v in Axe().run(page).response["violations"]
                   if v["impact"] in ("serious", "critical")]
        assert serious == [], serious
        org.select_option("")
        page.locator("select[data-f=f]").select_option("vector")  # every layer: page 2's listed
        page.wait_for_selector("#gp-elsewhere li a")
        assert page.locator("article.gp-card:visible").count() == 2
        assert page.locator("#gp-elsewhere li a").get_attribute("href") == "index-2.html#layer-polygons"
        page.locator("select[data-f=k]").select_option("shelter")
        page.wait_for_timeout(200)
        assert page.locator("article.gp-card:visible").count() == 1 and page.locator("#gp-elsewhere").is_hidden()
        page.fill("#gp-search", "polygon")  # a search and a filter together: nothing
        page.wait_for_timeout(200)
        assert page.locator("#gp-no-match").is_visible()
        page.click("button[data-set-lang=uz]")  # the lists in the page's language
        assert page.locator("select[data-f=f] option").first.inner_text() == "istalgan"
        assert w.errors == [] and w.dialogs == []


def test_the_index_filters_follow_the_site_and_work_offline(browser, paged: Site) -> None:
    """facets.json is not named by version: the service worker asks the network for it first
    (a rebuild's new counts are shown at once) and answers from its copy with no connection."""
    path = paged.dir / "facets.json"
    original = path.read_text(encoding="utf-8")
    ctx = browser.new_context(viewport=PHONE, locale="ru-RU")
    try:
        page = ctx.new_page()
        page.goto(paged.url + "index.html?lang=ru")
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        page.reload()  # now through the service worker
        page.wait_for_function("navigator.serviceWorker.controller !== null")
        options = "document.querySelectorAll('select[data-f=o] option').length"
        page.wait_for_function(f"{options} === 2")
        facets = json.loads(original)
        facets["o"].append(["Another ministry", 4])
        path.write_text(json.dumps(facets, ensure_ascii=False), encoding="utf-8")
        page.reload()
        page.wait_for_function(f"{options} === 3")  # the new counts, not the kept copy
        ctx.set_offline(True)
        page.reload()
        page.wait_for_function(f"{options} === 3")  # and with no connection, the kept copy
        assert "Another ministry (4)" in page.evaluate(
            "[...document.querySelectorAll('select[data-f=o] option')].map(o => o.textContent)")
    finally:
        path.write_text(original, encoding="utf-8")
        ctx.close()
