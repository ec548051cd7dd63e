"""The site and the viewer with a 1,000,000-point and a 200,000-polygon layer (issue 15).

1. `geo-publish build` of the site (PMTiles archives, streamed downloads, pages): wall time and
   peak memory (the build process's max RSS), beside the anchor of the previous viewer: the same
   build with vector_tiles.site_threshold above the layers' size (whole-layer files).
2. Headless Chromium, phone viewport (390x844), the static site served by a web server that
   answers byte ranges: first draw (navigation start -> both big layers drawn), then at zoom 10
   where both layers are, a pan of half a screen and a zoom in (-> every tile of the new view
   loaded and drawn), bytes transferred for the first view. Median of 5.

    .venv/bin/python benchmarks/viewer_tiles_bench.py --workdir /tmp/vtb [--anchor] [--viewer-only]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

N_PTS, N_POLY = 1_000_000, 200_000
PHONE = {"width": 390, "height": 844}


def data(work: Path) -> None:
    import geopandas as gpd
    import pyogrio
    import shapely

    rng = np.random.default_rng(1)
    if not (work / "pts.gpkg").exists():
        pts = gpd.GeoDataFrame({"name": [f"p{i}" for i in range(N_PTS)], "cap": rng.integers(0, 500, N_PTS)},
                               geometry=shapely.points(rng.uniform(56, 73, N_PTS), rng.uniform(37, 45.5, N_PTS)),
                               crs="OGC:CRS84")
        pyogrio.write_dataframe(pts, work / "pts.gpkg", layer="pts", use_arrow=True)
    if not (work / "parcels.gpkg").exists():
        x, y = rng.uniform(66, 72, N_POLY), rng.uniform(38, 42, N_POLY)
        boxes = shapely.box(x, y, x + 0.002, y + 0.0015)
        poly = gpd.GeoDataFrame({"kod": [f"k{i}" for i in range(N_POLY)]}, geometry=boxes, crs="OGC:CRS84")
        pyogrio.write_dataframe(poly, work / "parcels.gpkg", layer="parcels", use_arrow=True)


def project(work: Path, name: str, threshold: int) -> Path:
    root = work / name
    if (root / "data" / "store.gpkg").exists():
        shutil.rmtree(root / "build", ignore_errors=True)  # the build measured makes every file
        return root
    (root / "styles").mkdir(parents=True, exist_ok=True)
    (root / "config.yml").write_text("store: {backend: geopackage, path: data/store.gpkg}\n"
                                     f"vector_tiles: {{site_threshold: {threshold}}}\n")
    (root / "styles" / "pts.yml").write_text('color: "#c0392b"\nlabel_field: name\npopup: [cap]\n')
    (root / "styles" / "parcels.yml").write_text('color: "#2c7fb8"\nlabel_field: kod\npopup: [kod]\n')
    for cid in ("pts", "parcels"):
        cli(root, "ingest", str(work / f"{cid}.gpkg"), "--collection", cid)
    shutil.rmtree(root / "build", ignore_errors=True)
    return root


def cli(root: Path, *args: str) -> tuple[float, float]:
    """Wall seconds and the child's peak RSS (MB)."""
    t0 = time.perf_counter()
    code = (f"import resource, sys; from geo_publish.cli.main import main; rc = main({['--config', str(root / 'config.yml'), *args]!r}); "
            "print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    peak = next(int(l.split()[1]) for l in done.stderr.splitlines() if l.startswith("PEAK"))
    return time.perf_counter() - t0, peak / 1024


def serve(folder: Path) -> tuple[object, str]:
    import socket

    import uvicorn
    from starlette.staticfiles import StaticFiles

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(StaticFiles(directory=folder, html=True), host="127.0.0.1",
                                           port=port, log_level="warning", lifespan="off"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}/"


WAIT_TILES = """() => new Promise((done, fail) => {
  // every tiled layer redrawn: its GridLayer 'load' (all tiles of the new view loaded and drawn);
  // a move that asks no layer for a new tile measures nothing and is refused
  const layers = geoPublish.state.layers.filter(l => l.mode === 'tiles');
  let left = layers.length;
  const t0 = performance.now();
  const started = new Set();
  const start = ev => started.add(ev.target);
  layers.forEach(l => {
    l.leaflet.on('tileloadstart', start);
    l.leaflet.once('load', () => { if (--left === 0) done(performance.now() - t0); });
  });
  window.__move();
  layers.forEach(l => {
    l.leaflet.off('tileloadstart', start);
    if (!started.has(l.leaflet)) fail(new Error(l.id + ': the move asked for no tile: ' + window.__move));
  });
  setTimeout(() => fail(new Error('tiles not redrawn in 30 s: ' + left + ' layers left')), 30000);
})"""


def viewer(url: str, runs: int = 5) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from viewer_testlib import CHROMIUM_ARGS, chromium_path

    first, pan, zoom, sizes = [], [], [], []
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        for _ in range(runs):
            ctx = b.new_context(viewport=PHONE, service_workers="block")
            page = ctx.new_page()
            got: list[int] = []
            page.on("requestfinished", lambda r: got.append((r.sizes() or {}).get("responseBodySize", 0)))
            page.goto(url + "map.html")
            page.wait_for_function("document.documentElement.hasAttribute('data-gp-drawn')", timeout=60_000)
            first.append(page.evaluate("geoPublish.state.drawnAt") / 1000)
            sizes.append(sum(got) / 1e6)
            page.wait_for_timeout(1000)  # the first view settled (no move under way)
            # where both layers are (Samarkand - Jizzakh), at a town's scale, then a pan of half
            # a screen and a zoom in
            page.evaluate("() => { window.__move = () => geoPublish.state.map.setView([40.0, 68.5], 10, {animate: false}); }")
            page.evaluate(WAIT_TILES)
            page.evaluate("() => { window.__move = () => geoPublish.state.map.panBy([200, 400], {animate: false}); }")
            pan.append(page.evaluate(WAIT_TILES) / 1000)
            page.evaluate("() => { window.__move = () => geoPublish.state.map.setZoom(geoPublish.state.map.getZoom() + 1, {animate: false}); }")
            zoom.append(page.evaluate(WAIT_TILES) / 1000)
            ctx.close()
        b.close()
    med = statistics.median
    return {"first_draw_s": med(first), "pan_s": med(pan), "zoom_s": med(zoom), "first_view_MB": med(sizes)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/vtb"))
    ap.add_argument("--anchor", action="store_true", help="also build the whole-layer site (1 GB)")
    ap.add_argument("--viewer-only", action="store_true", help="the site of an earlier run, no build")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    data(args.workdir)
    out: dict[str, object] = {}
    if args.viewer_only:
        root = args.workdir / "tiled"
    else:
        root = project(args.workdir, "tiled", 50_000)
        out["build (tiles)"] = dict(zip(("s", "peak_MB"), cli(root, "build")))
    print(out, flush=True)
    if args.anchor:
        anchor = project(args.workdir, "whole", 10_000_000)
        out["build (whole-layer files, anchor)"] = dict(zip(("s", "peak_MB"), cli(anchor, "build")))
        print(out, flush=True)
    server, url = serve(root / "build" / "site")
    out["viewer (static site, archives)"] = viewer(url)
    server.should_exit = True
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
