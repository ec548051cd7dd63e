"""The viewer on vector tiles and the offline map, in a real headless Chromium.

A static site (served by a plain web server that answers byte ranges, as any object store does)
draws its large layers from their PMTiles archives; a live site draws them from the API's tiles.
Both: no request leaves the origin, popups and "Nearest to me" work, the big layers' whole data
are never fetched. The offline map: after one visit the browser goes offline and the web server
stops; the map of the offline layers still draws, lists the five nearest with distances and
says from which date its data are; back online, a newly published version replaces it.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from urllib.parse import unquote

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

from geo_publish.cli.main import main
from server_testlib import XSS, free_port, start
from viewer_testlib import ARTIFACTS, CHROMIUM_ARGS, chromium_path

N_PTS, N_PARCELS = 20_000, 4_000
HERE = (69.2401, 41.2995)  # the visitor, in Tashkent
PHONE = {"width": 390, "height": 844}


def _points() -> gpd.GeoDataFrame:
    rng = np.random.default_rng(3)
    xy = np.vstack((np.column_stack((rng.normal(HERE[0], 0.05, N_PTS // 2), rng.normal(HERE[1], 0.05, N_PTS // 2))),
                    np.column_stack((rng.uniform(56, 73, N_PTS // 2), rng.uniform(37, 45.5, N_PTS // 2)))))
    names = [f"pt{i}" for i in range(N_PTS)]
    names[N_PTS // 2 + 7] = XSS  # alone far out: clicked in a test
    # found by name through the API (the layer is drawn from tiles): Uzbek Cyrillic, typed in Latin
    names[N_PTS // 2 + 3], names[N_PTS // 2 + 4] = "Мактаб №5", "Maktab 15"
    return gpd.GeoDataFrame({"name": names, "cap": np.arange(N_PTS) % 50,
                             "opened": ["2020-01-02"] * N_PTS},
                            geometry=shapely.points(xy), crs="OGC:CRS84")


def _parcels() -> gpd.GeoDataFrame:
    side, step = 64, 0.004
    x0, y0 = HERE[0] - 0.1, HERE[1] - 0.1
    boxes = [shapely.box(x0 + i * step, y0 + j * step, x0 + (i + 0.7) * step, y0 + (j + 0.7) * step)
             for i in range(side) for j in range(side)][:N_PARCELS]
    return gpd.GeoDataFrame({"kod": [f"k{i}" for i in range(len(boxes))]}, geometry=boxes, crs="OGC:CRS84")


def _shelters(names: list[str]) -> gpd.GeoDataFrame:
    """Small, kept offline: one shelter 300 m further out than the one before."""
    lat = HERE[1] + 0.0027 * np.arange(1, len(names) + 1)
    return gpd.GeoDataFrame({"nazvanie": names, "vmest": np.arange(len(names)) * 10},
                            geometry=shapely.points(np.full(len(names), HERE[0]), lat), crs="OGC:CRS84")


def _project(root: Path, extra: str = "") -> Path:
    (root / "collections").mkdir(parents=True)
    (root / "styles").mkdir()
    (root / "config.yml").write_text("store: {backend: geopackage, path: data/store.gpkg}\n"
                                     "vector_tiles: {site_threshold: 2000, full_zoom: 12}\n" + extra)
    (root / "styles" / "pts.yml").write_text('color: "#c0392b"\nlabel_field: name\npopup: [cap]\noffline: true\n')
    (root / "styles" / "parcels.yml").write_text('color: "#2c7fb8"\nlabel_field: kod\npopup: [kod]\n')
    (root / "styles" / "shelters.yml").write_text(
        'color: "#d62728"\nicon: person-shelter\nlabel_field: nazvanie\noffline: true\npopup: [vmest]\n')
    src = root / "sources"
    src.mkdir()
    _points().to_file(src / "pts.gpkg", driver="GPKG")
    _parcels().to_file(src / "parcels.gpkg", driver="GPKG")
    _shelters([f"Shelter {i}" for i in range(8)]).to_file(src / "shelters.gpkg", driver="GPKG")
    cfg = str(root / "config.yml")
    for cid in ("pts", "parcels", "shelters"):
        assert main(["--config", cfg, "ingest", str(src / f"{cid}.gpkg"), "--collection", cid]) == 0
    return root


class RangeServer:
    """A plain static web server that answers byte ranges (Starlette's StaticFiles on uvicorn),
    on a fixed port so that it can stop and come back at the same origin."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.folder, self.port = folder, port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.start()

    def start(self) -> None:
        import uvicorn
        from starlette.staticfiles import StaticFiles

        self.server = uvicorn.Server(uvicorn.Config(StaticFiles(directory=self.folder, html=True),
                                                    host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def static_site(tmp_path_factory: pytest.TempPathFactory):
    root = _project(tmp_path_factory.mktemp("tiled-static"))
    assert main(["--config", str(root / "config.yml"), "build"]) == 0
    server = RangeServer(root / "build" / "site")
    yield root, server
    server.stop()


def _open(browser, url: str, **context):
    ctx = browser.new_context(viewport=PHONE, geolocation={"latitude": HERE[1], "longitude": HERE[0]},
                              permissions=["geolocation"], **context)
    page = ctx.new_page()
    seen: list[tuple[str, str | None, int | None]] = []
    page.on("requestfinished", lambda r: seen.append((r.url, r.headers.get("range"),
                                                      (r.sizes() or {}).get("responseBodySize"))))
    page.goto(url)
    page.wait_for_function("document.documentElement.hasAttribute('data-gp-drawn')", timeout=30_000)
    return ctx, page, seen


def _until(page, script: str, arg: object = None, timeout: float = 20) -> None:
    """Poll an async predicate in the page (wait_for_function takes a promise for true)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(script, arg):
        assert time.monotonic() < deadline, script
        time.sleep(0.2)


def _painted(page) -> int:
    """Pixels with colour on the tile canvases of the tiled layers."""
    return page.evaluate("""() => {
      let n = 0;
      document.querySelectorAll('canvas.leaflet-tile').forEach(c => {
        if (!c.width) return;
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
      });
      return n;
    }""")


def _painted_layer(page, cid: str) -> int:
    """Pixels with colour on one tiled layer's canvases."""
    return page.evaluate("""(cid) => {
      let n = 0;
      const l = geoPublish.state.layers.find(l => l.id === cid).leaflet;
      l.getContainer().querySelectorAll('canvas').forEach(c => {
        if (!c.width) return;
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
      });
      return n;
    }""", cid)


def _click_feature(page, layer: str, lon: float, lat: float) -> str:
    page.evaluate("""([lat, lon]) => { const m = geoPublish.state.map; m.setView([lat, lon], 14, {animate: false}); }""",
                  [lat, lon])
    page.wait_for_timeout(300)
    page.wait_for_function("""() => [...document.querySelectorAll('canvas.leaflet-tile')]
        .filter(c => c.width).length > 0""")
    page.wait_for_timeout(800)
    pt = page.evaluate("""([lat, lon]) => geoPublish.state.map.latLngToContainerPoint([lat, lon])""", [lat, lon])
    box = page.locator(".folium-map").first.bounding_box()
    page.mouse.click(box["x"] + pt["x"], box["y"] + pt["y"])
    page.wait_for_selector(".gp-popup-title", timeout=10_000)
    return page.locator(".gp-popup-title").inner_text()


def test_static_site_draws_big_layers_from_their_archives(browser, static_site):
    root, server = static_site
    data = root / "build" / "site" / "data"
    # the big layers have their archives and no whole-layer drawing or popup files
    assert list(data.glob("pts.v1.*.pmtiles")) and list(data.glob("parcels.v1.*.pmtiles"))
    for cid in ("pts", "parcels"):
        assert not [p.name for p in data.glob(f"{cid}.v1.*.json") if not p.name.endswith(".meta.json")]
    assert list(data.glob("shelters.v1.*.json"))
    ctx, page, seen = _open(browser, server.url + "map.html")
    try:
        assert all(u.startswith(server.url) for u, _, _ in seen), [u for u, _, _ in seen if not u.startswith(server.url)]
        ranged = [u for u, r, _ in seen if r and u.endswith(".pmtiles")]
        assert any("pts.v1." in u for u in ranged) and any("parcels.v1." in u for u in ranged)
        assert page.evaluate("geoPublish.state.failed") == 0
        assert _painted(page) > 500
        assert page.evaluate("geoPublish.state.drawn") == N_PTS + N_PARCELS + 8
        # the legend names the big layers with their counts
        legend = page.locator(".gp-legend").inner_text()
        assert f"{N_PTS:,}".replace(",", "") in legend.replace(",", "").replace("\u00a0", "").replace(" ", "")
    finally:
        ctx.close()


def test_static_popup_of_a_tiled_point_and_parcel(browser, static_site):
    root, server = static_site
    pts, parcels = _points(), _parcels()
    ctx, page, _ = _open(browser, server.url + "map.html")
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        # the point named with script, alone far out: its name shows as text
        far = pts.geometry.iloc[N_PTS // 2 + 7]
        title = _click_feature(page, "pts", far.x, far.y)
        assert title == pts["name"].iloc[N_PTS // 2 + 7]
        assert str(pts["cap"].iloc[N_PTS // 2 + 7]) in page.locator(".gp-popup").inner_text()
        page.keyboard.press("Escape")
        page.evaluate("geoPublish.state.map.closePopup()")
        # a parcel away from the dense points: its code
        c = parcels.geometry.iloc[-1].centroid
        # hide the points so that the click reaches the parcel
        page.evaluate("""() => { const l = geoPublish.state.layers.find(x => x.id === 'pts');
                                 geoPublish.state.map.removeLayer(l.leaflet); }""")
        assert _click_feature(page, "parcels", c.x, c.y) == parcels["kod"].iloc[-1]
        assert not dialogs and not page.locator(".gp-popup img").count()
    finally:
        ctx.close()


def test_big_layer_downloads_are_written_whole(static_site):
    root, _ = static_site
    down = root / "build" / "site" / "downloads"
    pts = _points()
    for ext in ("gpkg", "geojson", "csv"):
        path = down / f"pts.v1.{ext}"
        assert path.is_file() and (down / f"pts.v1.{ext}.sha256").is_file()
        got = pyogrio.read_dataframe(path) if ext != "csv" else pyogrio.read_dataframe(
            path, X_POSSIBLE_NAMES="X", Y_POSSIBLE_NAMES="Y")
        assert len(got) == N_PTS
        assert sorted(got["name"]) == sorted(pts["name"])
        if ext == "gpkg":
            assert str(got["cap"].dtype).startswith("int")
            assert np.allclose(np.sort(got.geometry.x.to_numpy()), np.sort(pts.geometry.x.to_numpy()))
    parcels = pyogrio.read_dataframe(down / "parcels.v1.gpkg")
    from geo_publish.settings import load_settings
    from geo_publish.store import open_store

    stored = open_store(load_settings(root / "config.yml")).read("parcels")
    assert len(parcels) == N_PARCELS and list(parcels.geom_type) == list(stored.geom_type)
    assert list(parcels["kod"]) == list(stored["kod"])
    assert abs(parcels.area.sum() - _parcels().area.sum()) < 1e-9


@pytest.fixture(scope="module")
def live_site(tmp_path_factory: pytest.TempPathFactory):
    root = _project(tmp_path_factory.mktemp("tiled-live"))
    srv = start(root)
    deadline = time.monotonic() + 120
    while not list((root / "build" / "site" / "data").glob("pts.v1.*.pmtiles")):
        assert time.monotonic() < deadline, (root / "server.log").read_text()[-2000:]
        time.sleep(0.5)
    yield srv
    srv.stop()


def test_live_site_draws_from_the_api_tiles_and_finds_the_nearest(browser, live_site):
    url = live_site.url
    ctx, page, seen = _open(browser, url + "/site/map.html")
    try:
        assert all(u.startswith(url) for u, _, _ in seen)
        tiles = [u for u, _, _ in seen if "/tiles/WebMercatorQuad/" in u]
        assert any("/collections/pts/" in u for u in tiles) and any("/collections/parcels/" in u for u in tiles)
        assert _painted(page) > 500
        # popup: the tile's fields, then the feature from the API
        pts = _points()
        far = pts.geometry.iloc[N_PTS // 2 + 11]
        assert _click_feature(page, "pts", far.x, far.y) == pts["name"].iloc[N_PTS // 2 + 11]
        page.wait_for_timeout(500)
        assert any(f"/collections/pts/items/{N_PTS // 2 + 12}" in u for u, _, _ in seen)
        page.evaluate("geoPublish.state.map.closePopup()")
        # nearest: the five nearest of all layers, from the API for the tiled ones
        page.click("#gp-locate")
        page.wait_for_selector(".gp-nearest-item", timeout=20_000)
        names = page.locator(".gp-nearest-name").all_inner_texts()
        meta = page.locator(".gp-nearest-meta").all_inner_texts()
        frame = gpd.GeoDataFrame(
            {"name": list(pts["name"]) + list(_parcels()["kod"]) + [f"Shelter {i}" for i in range(8)]},
            geometry=list(pts.geometry) + list(_parcels().geometry.centroid) + list(_shelters(
                [f"Shelter {i}" for i in range(8)]).geometry), crs="OGC:CRS84").to_crs("EPSG:32642")
        here = gpd.GeoSeries(shapely.points([HERE]), crs="OGC:CRS84").to_crs("EPSG:32642").iloc[0]
        want = list(frame.assign(d=frame.distance(here)).sort_values("d")["name"][:5])
        assert len(names) == 5 and names == want, (names, want)
        assert all(m.split("·")[-1].strip().endswith(("m", "km")) for m in meta)
    finally:
        ctx.close()


def test_find_by_name_from_the_index_asks_the_api_for_a_tiled_layer(browser, live_site):
    """The index's search box leads to the places by that name on the map; a large layer drawn
    from tiles has no names in the page, so the API is asked (q, the word in both scripts) and
    only names holding every word typed are listed."""
    ctx = browser.new_context(viewport=PHONE)
    page = ctx.new_page()
    seen: list[str] = []
    page.on("requestfinished", lambda r: seen.append(r.url))
    try:
        page.goto(live_site.url + "/site/index.html?lang=uz")
        page.fill("#gp-search", "maktab 5")
        link = page.locator("#gp-find-places a")
        assert link.is_visible() and "maktab 5" in link.inner_text()
        link.click()
        page.wait_for_selector(".gp-nearest-item", timeout=20_000)
        assert page.input_value("#gp-find") == "maktab 5"
        assert page.locator(".gp-nearest-name").all_inner_texts() == ["Мактаб №5"]
        asked = [u for u in seen if "/collections/pts/items?" in u and "q=" in u]
        assert asked and "мактаб" in unquote(asked[0]), asked
        page.locator(".gp-nearest-item").first.click()
        page.wait_for_selector(".leaflet-popup-content", timeout=10_000)
        assert "Мактаб №5" in page.inner_text(".leaflet-popup-content")
    finally:
        ctx.close()


def test_offline_after_one_visit_then_the_new_version(browser, tmp_path_factory):
    root = _project(tmp_path_factory.mktemp("offline"))
    cfg = str(root / "config.yml")
    assert main(["--config", cfg, "build"]) == 0
    server = RangeServer(root / "build" / "site")
    ctx = browser.new_context(viewport=PHONE, geolocation={"latitude": HERE[1], "longitude": HERE[0]},
                              permissions=["geolocation"])
    page = ctx.new_page()
    try:
        page.goto(server.url + "map.html")
        page.wait_for_function("document.documentElement.hasAttribute('data-gp-drawn')", timeout=30_000)
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        # the pages, assets and the offline layers' data are kept once the worker is installed
        _until(page, """async () => { const keys = await caches.keys();
            if (!keys.some(k => k.startsWith('gp-site-'))) return false;
            const c = await caches.open(keys.find(k => k.startsWith('gp-site-')));
            return (await c.keys()).some(r => r.url.includes('data/shelters.v1.'));}""")
        # the visitor's position asked once: the tiles around it of the large offline layer (pts)
        # are kept, not those of the other (parcels)
        page.click("#gp-locate")
        page.wait_for_selector(".gp-nearest-item", timeout=20_000)
        page.wait_for_function("document.documentElement.hasAttribute('data-gp-kept-around')", timeout=30_000)
        kept = page.evaluate("""async () => { const k = (await caches.keys()).find(k => k.startsWith('gp-tiles-'));
            return (await (await caches.open(k)).keys()).map(r => r.url); }""")
        assert sum("pts.v1." in u and "gp-range=" in u for u in kept) > 10
        # no connection at all: the browser is offline and the web server is gone
        server.stop()
        ctx.set_offline(True)
        page.goto(server.url + "map.html")
        page.wait_for_function("document.documentElement.hasAttribute('data-gp-drawn')", timeout=30_000)
        assert page.locator("#gp-offline").is_visible()
        today = time.strftime("%Y-%m-%d", time.gmtime())
        assert today in page.locator("#gp-data-date").inner_text()
        shelters = page.evaluate("geoPublish.state.layers.find(l => l.id === 'shelters').error || null")
        assert shelters is None
        page.click("#gp-locate")
        page.wait_for_selector(".gp-nearest-item", timeout=20_000)
        names = page.locator(".gp-nearest-name").all_inner_texts()
        meta = page.locator(".gp-nearest-meta").all_inner_texts()
        assert names == [f"Shelter {i}" for i in range(5)]
        metres = [6371008.8 * np.radians(0.0027 * k) for k in range(1, 6)]  # due north
        assert [m.split("·")[-1].strip() for m in meta] == [
            f"{d:.0f} m" if d < 1000 else f"{d / 1000:.1f} km" for d in metres]
        # the big offline layer draws around the position from the kept tiles
        page.evaluate("([lat, lon]) => geoPublish.state.map.setView([lat, lon], 12, {animate: false})", [HERE[1], HERE[0]])
        page.wait_for_timeout(2000)
        assert _painted_layer(page, "pts") > 200
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "offline-phone.png"))
        first = page.evaluate("async () => (await caches.keys()).filter(k => k.startsWith('gp-site-'))")
        assert len(first) == 1
        # back online, with a new version published meanwhile: it replaces the kept one
        new = root / "sources" / "shelters2.gpkg"
        _shelters([f"Moved {i}" for i in range(6)]).to_file(new, driver="GPKG")
        assert main(["--config", cfg, "ingest", str(new), "--collection", "shelters"]) == 0
        assert main(["--config", cfg, "build"]) == 0
        server.start()
        ctx.set_offline(False)
        page.goto(server.url + "map.html")
        page.wait_for_function("document.documentElement.hasAttribute('data-gp-drawn')", timeout=30_000)
        assert not page.locator("#gp-offline").count()
        page.click("#gp-locate")
        page.wait_for_selector(".gp-nearest-item", timeout=20_000)
        assert page.locator(".gp-nearest-name").all_inner_texts()[0] == "Moved 0"
        # the old version's caches go once the new worker is active
        _until(page, """async (old) => { const k = (await caches.keys()).filter(k => k.startsWith('gp-site-'));
                                         return k.length === 1 && k[0] !== old; }""", first[0],
               timeout=60)  # the new worker activates in its own time: 20 s was missed once under load
        names = page.evaluate("async () => await caches.keys()")
        assert {k.rsplit("-", 1)[1] for k in names} == {names[0].rsplit("-", 1)[1]} != {first[0].rsplit("-", 1)[1]}
        kept = page.evaluate("""async () => { const k = (await caches.keys()).find(k => k.startsWith('gp-site-'));
            return (await (await caches.open(k)).keys()).map(r => r.url); }""")
        assert any("data/shelters.v2." in u for u in kept) and not any("data/shelters.v1." in u for u in kept)
    finally:
        ctx.close()
        server.stop()


@pytest.mark.slow
def test_a_million_points_and_200000_parcels_on_a_phone(browser, tmp_path):
    """The issue's sizes: the site builds, and on a phone the map draws both layers from their
    archives with under 2 MB transferred for the first view, pans, zooms and opens a popup.
    (Times and memory are measured in benchmarks/viewer_tiles_bench.py.)"""
    import re

    rng = np.random.default_rng(8)
    n_pts, n_parcels = 1_000_000, 200_000
    root = tmp_path
    (root / "styles").mkdir()
    (root / "config.yml").write_text("store: {backend: geopackage, path: data/store.gpkg}\n"
                                     "vector_tiles: {full_zoom: 12}\n")
    (root / "styles" / "pts.yml").write_text('color: "#c0392b"\nlabel_field: name\npopup: [cap]\n')
    (root / "styles" / "parcels.yml").write_text('color: "#2c7fb8"\nlabel_field: kod\npopup: [kod]\n')
    pts = gpd.GeoDataFrame({"name": [f"p{i}" for i in range(n_pts)], "cap": rng.integers(0, 500, n_pts)},
                           geometry=shapely.points(rng.uniform(56, 73, n_pts), rng.uniform(37, 45.5, n_pts)),
                           crs="OGC:CRS84")
    x, y = rng.uniform(68.5, 70, n_parcels), rng.uniform(40.8, 41.8, n_parcels)
    parcels = gpd.GeoDataFrame({"kod": [f"k{i}" for i in range(n_parcels)]},
                               geometry=shapely.box(x, y, x + 0.002, y + 0.0015), crs="OGC:CRS84")
    pyogrio.write_dataframe(pts, root / "pts.gpkg", layer="pts", use_arrow=True)
    pyogrio.write_dataframe(parcels, root / "parcels.gpkg", layer="parcels", use_arrow=True)
    del parcels
    cfg = str(root / "config.yml")
    for cid in ("pts", "parcels"):
        assert main(["--config", cfg, "ingest", str(root / f"{cid}.gpkg"), "--collection", cid]) == 0
    assert main(["--config", cfg, "build"]) == 0
    site = root / "build" / "site"
    server = RangeServer(site)
    ctx = None
    try:
        ctx, page, seen = _open(browser, server.url + "map.html")
        assert page.evaluate("geoPublish.state.failed") == 0
        assert page.evaluate("geoPublish.state.drawn") == n_pts + n_parcels
        assert _painted(page) > 1000
        assert all(u.startswith(server.url) for u, _, _ in seen)
        assert not [u for u, _, _ in seen if "/downloads/" in u]  # the whole layers never fetched
        first_view = sum(size or 0 for _, _, size in seen)
        assert 0 < first_view < 2_000_000, first_view
        # the second visit, with the service worker in control from the start: it answers the
        # archives' byte ranges, each with its own bytes (every tile decodes)
        page.evaluate("async () => { await navigator.serviceWorker.ready; }")
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.reload()
        page.wait_for_function("document.documentElement.hasAttribute('data-gp-drawn')", timeout=30_000)
        assert page.evaluate("navigator.serviceWorker.controller !== null")
        assert page.evaluate("geoPublish.state.failed") == 0 and _painted(page) > 1000
        # over Tashkent, where both layers are: a popup of a point of the million
        i = int(np.flatnonzero((np.abs(pts.geometry.x - HERE[0]) < 0.3) & (np.abs(pts.geometry.y - HERE[1]) < 0.3))[0])
        title = _click_feature(page, "pts", float(pts.geometry.x[i]), float(pts.geometry.y[i]))
        assert re.fullmatch(r"p\d+|k\d+", title), title
        page.evaluate("() => geoPublish.state.map.panBy([200, 400], {animate: false})")
        page.evaluate("() => geoPublish.state.map.setZoom(geoPublish.state.map.getZoom() - 1, {animate: false})")
        _until(page, "() => [...document.querySelectorAll('canvas.leaflet-tile')].filter(c => c.width).length > 4")
        page.wait_for_timeout(1500)
        assert _painted(page) > 500 and page.evaluate("geoPublish.state.failed") == 0
        page.screenshot(path=str(ARTIFACTS / "viewer-tiles-million.png"))
        assert not errors, errors[:3]
    finally:
        if ctx is not None:
            ctx.close()
        server.stop()
