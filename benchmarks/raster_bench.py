"""Rasters: ingest memory on a 10,000 x 10,000 grid, and a 1 km2 coverage request against reading
the same window from the COG with rasterio directly, side by side in one run.

    .venv/bin/python benchmarks/raster_bench.py [--size 10000] [--requests 300] [--workdir DIR]

1. Writes a single-band float32 GeoTIFF (UTM 42N, 30 m cells, tiled, written window by window),
   then `geo-publish ingest` in its own process: wall time and peak RSS (target < 500 MB).
2. Serves it (`geo-publish serve`, 1 worker) and asks `/coverage?bbox=<1 km2>&f=GTiff` N times
   over one keep-alive connection; the anchor opens the COG with rasterio and reads the same
   window N times (open + read each time, as a client would). Prints medians and the ratio
   (target <= 2).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from ingest_bench import timed  # noqa: E402


def make_raster(path: Path, size: int) -> None:
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    rng = np.random.default_rng(5)
    with rasterio.open(path, "w", driver="GTiff", width=size, height=size, count=1,
                       dtype="float32", crs="EPSG:32642", nodata=-9999.0, tiled=True,
                       blockxsize=512, blockysize=512, compress="deflate",
                       transform=from_origin(400000, 4600000, 30, 30)) as d:
        d.set_band_description(1, "peak ground acceleration")
        rows = 512
        yy = np.linspace(0, 6 * np.pi, size)
        for r0 in range(0, size, rows):
            h = min(rows, size - r0)
            base = np.sin(yy[r0:r0 + h])[:, None] * np.cos(yy)[None, :]
            d.write((base + rng.random((h, size)) * 0.1).astype("float32"), 1,
                    window=Window(0, r0, size, h))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=10_000)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--workdir", type=Path, default=None)
    a = ap.parse_args()
    import httpx
    import rasterio
    from rasterio.warp import transform_bounds
    from rasterio.windows import from_bounds

    from server_testlib import start

    work = a.workdir or Path(tempfile.mkdtemp(prefix="gp-raster-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    src = work / f"grid_{a.size}.tif"
    if not src.exists():
        t = time.perf_counter()
        make_raster(src, a.size)
        print(f"made {src.name} ({src.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s")
    proj = work / "proj"
    if proj.exists():
        import shutil

        shutil.rmtree(proj)
    proj.mkdir()
    (proj / "config.yml").write_text("store: {backend: geopackage, path: data/store.gpkg}\n")
    wall, mb, _, code = timed([sys.executable, "-m", "geo_publish", "--config", str(proj / "config.yml"),
                            "ingest", str(src), "--collection", "grid"])
    print(f"ingest {a.size} x {a.size} float32: {wall:.1f} s, peak {mb:.0f} MB "
          f"({'under' if mb < 500 else 'OVER'} the 500 MB target), exit {code}")
    if code:
        return 1
    from geo_publish.settings import load_settings
    from geo_publish.store import open_store

    cog = open_store(load_settings(proj / "config.yml")).version("grid").layer
    with rasterio.open(cog) as ds:
        cx, cy = (ds.bounds.left + ds.bounds.right) / 2, (ds.bounds.bottom + ds.bounds.top) / 2
        # 1 km x 1 km around the centre, in degrees (via UTM 42N)
        from pyproj import Transformer

        x, y = Transformer.from_crs(4326, 32642, always_xy=True).transform(cx, cy)
        box = transform_bounds("EPSG:32642", "EPSG:4326", x - 500, y - 500, x + 500, y + 500)
        window = from_bounds(*box, ds.transform).round_offsets().round_lengths()
    print(f"window: {int(window.width)} x {int(window.height)} cells, bbox {', '.join(f'{v:.5f}' for v in box)}")

    def direct() -> float:
        t = time.perf_counter()
        with rasterio.open(cog) as ds:
            ds.read(1, window=window)
        return time.perf_counter() - t

    srv = start(proj, workers=1)
    try:
        url = f"{srv.url}/collections/grid/coverage"
        params = {"f": "GTiff", "bbox": ",".join(f"{v:.7f}" for v in box)}
        with httpx.Client(timeout=30) as c:
            assert c.get(url, params=params).status_code == 200

            def served() -> float:
                t = time.perf_counter()
                r = c.get(url, params=params)
                r.raise_for_status()
                return time.perf_counter() - t

            for f in (direct, served):  # warm both
                f()
            runs_d, runs_s = [], []
            for _ in range(a.requests):  # interleaved: same conditions for both
                runs_d.append(direct())
                runs_s.append(served())
    finally:
        srv.stop()
    md, ms = statistics.median(runs_d), statistics.median(runs_s)
    print(f"rasterio direct (open + window read): median {md * 1000:.2f} ms")
    print(f"coverage request over HTTP (GeoTIFF): median {ms * 1000:.2f} ms")
    print(f"ratio served / direct: {ms / md:.2f} (target <= 2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
