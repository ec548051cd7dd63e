"""Memory of one server worker under the largest single requests the server allows, against the
same worker after a plain ``items?limit=10`` (the anchor).

    .venv/bin/python benchmarks/worker_memory.py [--points 1000000] [--workdir DIR]

Requests: the largest page (limit=10000, with and without geometry), a 1 MB CQL2 JSON body (the
body cap) with the longest IN list allowed, the largest coverage the cell budget allows (a
1000 x 1000 float32 raster, whole, as CoverageJSON and as GeoTIFF). Prints the worker's RSS and
peak RSS (VmHWM) after each; the issue's bound is 300 MB.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from republish_bench import gp  # noqa: E402
from serve_bench import free_port, make_points, start, stop  # noqa: E402


def worker_pid(server_pid: int) -> int:
    """The uvicorn worker under `geo-publish serve --workers 1` (it runs in the serve process)."""
    return server_pid


def mem(pid: int) -> tuple[float, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS")))
    hwm = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))
    return rss / 1024, hwm / 1024


def make_raster(path: Path) -> None:
    import rasterio
    from rasterio.transform import from_origin

    data = np.random.default_rng(0).random((1, 707, 707)).astype("float32")
    with rasterio.open(path, "w", driver="GTiff", width=707, height=707, count=1, dtype="float32",
                       crs="EPSG:4326", transform=from_origin(66, 42, 0.004, 0.004)) as d:
        d.write(data)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--workdir", type=Path)
    a = ap.parse_args()
    work = a.workdir or Path(tempfile.mkdtemp(prefix="gp-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "data" / "store.gpkg").unlink(missing_ok=True)
    (work / "config.yml").write_text("store: {backend: geopackage, path: data/store.gpkg}\n")
    if not (work / "pts.gpkg").exists():
        make_points(work / "pts.gpkg", a.points)
    make_raster(work / "grid.tif")
    gp(work, "ingest", str(work / "pts.gpkg"), "--collection", "pts")
    gp(work, "ingest", str(work / "grid.tif"), "--collection", "grid")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start([str(ROOT / ".venv/bin/geo-publish"), "--config", str(work / "config.yml"),
                    "serve", "--port", str(port), "--workers", "1"], {}, url + "/conformance",
                   work / "server.log")
    in_list = list(range(1000))
    body = json.dumps({"op": "and", "args": [
        {"op": "in", "args": [{"property": "value"}, in_list]},
        {"op": "s_intersects", "args": [{"property": "geometry"}, {"type": "Polygon", "coordinates": [
            [[66 + 6 * np.cos(t), 40 + 2 * np.sin(t)] for t in np.linspace(0, 2 * np.pi, 20000)]]}]}]})
    body = body[:1_000_000] if len(body) <= 1_000_000 else body
    requests = [
        ("anchor: items?limit=10", "GET", "/collections/pts/items?limit=10", None),
        ("largest page, limit=10000", "GET", "/collections/pts/items?limit=10000", None),
        ("largest page, skipGeometry", "GET", "/collections/pts/items?limit=10000&skipGeometry=true", None),
        (f"CQL2 JSON body {len(body) / 1e6:.2f} MB, IN of 1000", "POST", "/collections/pts/items?limit=10000", body),
        ("whole coverage 707x707, CoverageJSON", "GET", "/collections/grid/coverage?f=json", None),
        ("whole coverage 707x707, GeoTIFF", "GET", "/collections/grid/coverage?f=GTiff", None),
    ]
    try:
        time.sleep(2)
        print(f"{'request':<48}{'status':>7}{'MB out':>9}{'RSS MB':>9}{'peak MB':>9}")
        for name, method, path, data in requests:
            r = httpx.request(method, url + path, content=data, timeout=120,
                              headers={"content-type": "application/query-cql-json"} if data else {})
            rss, hwm = mem(worker_pid(server.pid))
            print(f"{name:<48}{r.status_code:>7}{len(r.content) / 1e6:>9.1f}{rss:>9.0f}{hwm:>9.0f}")
    finally:
        stop(server)


if __name__ == "__main__":
    main()
