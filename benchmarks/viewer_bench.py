"""Citizen map with 100,000 points: from page navigation to markers drawn, in headless Chromium.

    .venv/bin/python benchmarks/viewer_bench.py [--points 100000] [--runs 5] [--workdir DIR]

One run, side by side, same points, same browser, each page opened cold in a fresh context and
served by the same plain web server on 127.0.0.1 (no compression), all assets local:
  ours-canvas    geo-publish site, data as a separate file, drawn on one canvas (the default for
                 a large layer)
  ours-cluster   geo-publish site with ``cluster: true`` (supercluster)
  anchor-mc      folium MarkerCluster (plugins.MarkerCluster with the points), Leaflet and
                 Leaflet.markercluster vendored
  anchor-fmc     folium FastMarkerCluster, same assets
"Drawn" is the first animation frame after the markers (cluster icons or canvas dots) are in
the page: our viewer records it itself; for the anchors a MutationObserver records the first
.leaflet-marker-icon, plus two animation frames. Bytes are what the browser received (resource
timing, uncompressed as served) and what gzip -6 would make of them. Prints medians and
ratios against anchor-fmc (the faster anchor), and the target (<= 1.5 s).
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))

from geo_publish.publish.viewer import assets  # noqa: E402

MARKERCLUSTER = assets.Package(
    "leaflet.markercluster", "1.5.3",
    "sha512-vPTw/Bndq7eQHjLBVlWpnGeLa3t+3zGiuM7fJwCkiMFq+nmRuG3RI3f7f4N4TDX7T4NpbAXpR2+NTRSEGfCSeA==",
    ("dist/leaflet.markercluster.js", "dist/MarkerCluster.css", "dist/MarkerCluster.Default.css"))
AWESOME = assets.Package(
    "leaflet.awesome-markers", "2.0.5",
    "sha512-Ne/xDjkGyaujwNVVkv2tyXQUV0ZW7gZ0Mo0FuQY4jp2qWrvXi0hwDBvmZyF/8YOvybyMabTMM/mFWCTd1jZIQA==",
    ("dist/leaflet.awesome-markers.js", "dist/leaflet.awesome-markers.css", "dist/images/"))
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
OBSERVER = """
window.__drawnAt = null;
new MutationObserver(function (list, obs) {
  if (document.querySelector('.leaflet-marker-icon')) {
    obs.disconnect();
    requestAnimationFrame(function () { requestAnimationFrame(function () {
      window.__drawnAt = performance.now(); }); });
  }
}).observe(document, {subtree: true, childList: true});
"""


def make_points(n: int) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(11)
    return gpd.GeoDataFrame(
        {"nomi": np.char.add("Punkt ", np.arange(n).astype(str)), "sigim": rng.integers(10, 900, n)},
        geometry=shapely.points(rng.uniform(56.0, 73.0, n), rng.uniform(37.2, 45.5, n)),
        crs="OGC:CRS84")


def our_sites(work: Path, frame: gpd.GeoDataFrame) -> dict[str, Path]:
    from geo_publish.cli.main import main

    src = work / "points.gpkg"
    frame.to_file(src, driver="GPKG")
    out = {}
    for name, style in (("canvas", "cluster: false\n"), ("cluster", "cluster: true\n")):
        root = work / f"ours-{name}"
        (root / "styles").mkdir(parents=True)
        (root / "styles" / "points.yml").write_text(
            style + "label_field: nomi\npopup: [nomi, sigim]\n")
        (root / "config.yml").write_text("store: {backend: geopackage, path: data/store.gpkg}\n")
        cfg = str(root / "config.yml")
        assert main(["--config", cfg, "ingest", str(src), "--collection", "points"]) == 0
        t = time.perf_counter()
        assert main(["--config", cfg, "build"]) == 0
        print(f"build ours-{name}: {time.perf_counter() - t:.1f} s (site, data files, downloads)",
              flush=True)
        out[f"ours-{name}"] = root / "build" / "site" / "layer-points.html"
    return out


def anchor_pages(work: Path, frame: gpd.GeoDataFrame) -> dict[str, Path]:
    import folium
    from folium import plugins

    vendor = work / "anchors" / "vendor"
    assets.fetch(vendor, packages=(*assets.PACKAGES, MARKERCLUSTER, AWESOME))
    leaflet = f"vendor/{assets.package_dir(assets.PACKAGES[0]).name}/dist"
    mc = f"vendor/{MARKERCLUSTER.folder}-{MARKERCLUSTER.version}/dist"
    am = f"vendor/{AWESOME.folder}-{AWESOME.version}/dist"
    fa = assets.url("@fortawesome/fontawesome-free", "css")
    coords = shapely.get_coordinates(frame.geometry.values)[:, ::-1].tolist()
    out = {}
    for name in ("anchor-mc", "anchor-fmc"):
        t = time.perf_counter()
        m = folium.Map(location=[41.0, 64.5], zoom_start=6, tiles=None, maxZoom=18)
        # folium's own set, minus jQuery and Bootstrap (the markers need neither), all local
        m.default_js = [("leaflet", f"{leaflet}/leaflet.js"),
                        ("awesome_markers", f"{am}/leaflet.awesome-markers.js")]
        m.default_css = [("leaflet_css", f"{leaflet}/leaflet.css"),
                         ("awesome_markers_css", f"{am}/leaflet.awesome-markers.css"),
                         ("fa", f"{fa}/fontawesome.min.css"), ("fa_solid", f"{fa}/solid.min.css")]
        if name == "anchor-mc":
            layer = plugins.MarkerCluster(locations=coords)
        else:
            layer = plugins.FastMarkerCluster(data=coords)
        layer.default_js = [("markerclusterjs", f"{mc}/leaflet.markercluster.js")]
        layer.default_css = [("markerclustercss", f"{mc}/MarkerCluster.css"),
                             ("markerclusterdefaultcss", f"{mc}/MarkerCluster.Default.css")]
        layer.add_to(m)
        page = work / "anchors" / f"{name}.html"
        m.save(str(page))
        print(f"build {name}: {time.perf_counter() - t:.1f} s, page {page.stat().st_size / 1e6:.1f} MB",
              flush=True)
        out[name] = page
    return out


def measure(browser, url: str, ours: bool, sizes: dict[str, int]) -> tuple[float, int, int, int]:
    """Seconds from navigation to drawn; bytes needed for that draw (as served, and gzipped);
    bytes in all, once the popup data that follows the draw has arrived."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    if not ours:
        page.add_init_script(OBSERVER)
    page.goto(url, wait_until="commit")
    if ours:
        page.wait_for_function("window.geoPublish && geoPublish.state && geoPublish.state.drawnAt",
                               timeout=120_000, polling=50)
        drawn = page.evaluate("geoPublish.state.drawnAt")
        page.wait_for_function("geoPublish.state.layers.every(l => l.props) && performance"
                               ".getEntriesByType('resource').some(e => e.name.includes('.props.'))",
                               timeout=120_000)
    else:
        page.wait_for_function("window.__drawnAt", timeout=300_000, polling=50)
        drawn = page.evaluate("window.__drawnAt")
    entries = page.evaluate(
        "performance.getEntriesByType('resource').concat(performance.getEntriesByType('navigation'))"
        ".map(e => [e.name, e.responseEnd])")
    ctx.close()
    if errors:
        raise RuntimeError(f"{url}: {errors[0]}")
    first = [n.split("?")[0] for n, end in entries if end <= drawn]
    every = [n.split("?")[0] for n, _ in entries]
    return (drawn / 1000.0, sum(sizes.get(n, 0) for n in first),
            sum(sizes.get("gz:" + n, 0) for n in first), sum(sizes.get(n, 0) for n in every))


def file_sizes(base: str, work: Path, folders: list[Path]) -> dict[str, int]:
    """URL -> bytes served, and 'gz:'+URL -> gzip -6 size (what a compressing server sends)."""
    sizes: dict[str, int] = {}
    for folder in folders:
        for f in folder.rglob("*"):
            if f.is_file() and "downloads" not in f.parts:
                url = base + str(f.relative_to(work))
                data = f.read_bytes()
                sizes[url] = len(data)
                sizes["gz:" + url] = len(gzip.compress(data, 6))
    return sizes


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from viewer_testlib import chromium_path, serve_dir

    work = args.workdir or Path(tempfile.mkdtemp(prefix="viewer-bench-"))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    frame = make_points(args.points)
    pages = {**our_sites(work, frame), **anchor_pages(work, frame)}
    httpd, base = serve_dir(work)
    folders = [p.parent for p in pages.values()]
    sizes = file_sizes(base, work, list(dict.fromkeys(folders)))
    version = subprocess.run([chromium_path(), "--version"], capture_output=True, text=True).stdout.strip()
    print(f"\n{args.points:,} points, {args.runs} cold runs each, {version}, 1280x800")
    results: dict[str, float] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=ARGS)
        for name, page in pages.items():
            url = base + str(page.relative_to(work))
            runs = [measure(browser, url, name.startswith("ours"), sizes) for _ in range(args.runs)]
            results[name] = statistics.median(r[0] for r in runs)
            _, first, gz, total = runs[-1]
            print(f"{name:<13} drawn {results[name]:5.2f} s (runs {', '.join(f'{r[0]:.2f}' for r in runs)});"
                  f" bytes to draw {first / 1e6:5.2f} MB (gzip {gz / 1e6:4.2f} MB),"
                  f" in all {total / 1e6:5.2f} MB", flush=True)
        browser.close()
    httpd.shutdown()
    anchor = results["anchor-fmc"]
    print("\nratios (time / anchor-fmc):")
    for name, t in results.items():
        print(f"  {name:<13} {t / anchor:5.2f}x")
    ok = results["ours-canvas"] <= 1.5
    print(f"\ntarget: ours-canvas <= 1.5 s: {'met' if ok else 'NOT met'} ({results['ours-canvas']:.2f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
