"""Vector tile throughput (issue 15) beside pygeoapi's MVT-postgresql provider and tipg, on the
same PostGIS tables, side by side in one run: random WebMercatorQuad tiles of zooms 8 to 14 over
the data's extent, wrk -c16, 2 workers each.

    benchmarks/setup_anchors.sh                      # wrk, PostGIS, anchor venvs (once)
    .venv/bin/python benchmarks/tiles_bench.py [--points 1000000] [--polygons 200000] [--duration 10]

Layers: 1,000,000 points (uniform over 6 x 4 degrees, as serve_bench) and 200,000 polygons
(squares of 30-120 m around 2,000 centres). Servers: geo-publish on its GeoPackage store and on
its PostGIS store, pygeoapi 0.24 MVT-postgresql (ST_AsMVT), tipg (ST_AsMVT). Every request is a
different random tile (the Lua script draws z, x and y), so in-memory tile caches rarely hit:
the figure is cutting speed. Printed: requests/s, non-2xx answers, mean tile size, and the
ratios the issue sets (ours on PostGIS >= 3x each anchor; GeoPackage within 2x of PostGIS).
Our servers are measured once the site builder has written their PMTiles archives (layers over
vector_tiles.site_threshold are answered from them).

build: the PMTiles archive of the 1,000,000 points beside GDAL's PMTiles driver (wall time,
peak memory).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyogrio
import shapely

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from serve_bench import (  # noqa: E402
    DB, PG, free_port, load_postgis, make_points, psql, pygeoapi_config, pygeoapi_openapi,
    published_table, start, stop,
)

BOX = (66.0, 38.0, 72.0, 42.0)


def make_polygons(path: Path, n: int) -> None:
    import geopandas as gpd

    rng = np.random.default_rng(2)
    centres = np.column_stack((rng.uniform(BOX[0], BOX[2], 2000), rng.uniform(BOX[1], BOX[3], 2000)))
    at = centres[rng.integers(0, len(centres), n)] + rng.normal(0, 0.02, (n, 2))
    half = rng.uniform(0.00015, 0.0006, n)
    geoms = shapely.box(at[:, 0] - half, at[:, 1] - half, at[:, 0] + half, at[:, 1] + half)
    frame = gpd.GeoDataFrame({"kod": np.char.add("uchastka ", np.arange(n).astype(str)),
                              "area": np.round(half * half * 1e10)}, geometry=geoms, crs="OGC:CRS84")
    pyogrio.write_dataframe(frame, path, layer="parcels", use_arrow=True)


def load_polygons(store: Path, layer: str, work: Path) -> None:
    import pandas as pd

    psql("DROP TABLE IF EXISTS parcels", DB)
    psql("CREATE TABLE parcels (fid integer PRIMARY KEY, kod text, area double precision, "
         "geom geometry(MultiPolygon, 4326))", DB)
    frame = pyogrio.read_dataframe(store, layer=layer, use_arrow=True)
    wkb = shapely.to_wkb(frame.geometry.array, hex=True, include_srid=False)
    csv = work / "parcels.csv"
    pd.DataFrame({"fid": np.arange(1, len(frame) + 1), "kod": frame["kod"], "area": frame["area"],
                  "geom": ["SRID=4326;" + w for w in wkb]}).to_csv(csv, index=False, header=False)
    psql(f"\\copy parcels FROM '{csv}' WITH (FORMAT csv)", DB)
    psql("CREATE INDEX ON parcels USING gist (geom)", DB)
    psql("VACUUM ANALYZE parcels", DB)


def lua(template: str, seed: int) -> str:
    """A wrk script asking for a random tile of zoom 8..14 over BOX each time."""
    ranges = []
    for z in range(8, 15):
        n = 2 ** z
        x0, x1 = (int((BOX[0] + 180) / 360 * n), int((BOX[2] + 180) / 360 * n))
        ys = [int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n) for lat in (BOX[3], BOX[1])]
        ranges.append(f"{{{z},{x0},{x1},{ys[0]},{ys[1]}}}")
    return f"""
local ranges = {{{",".join(ranges)}}}
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
function init(args)
  math.randomseed({seed} + id)
end
request = function()
  local r = ranges[math.random(#ranges)]
  local path = string.gsub(string.gsub(string.gsub("{template}", "{{z}}", r[1]),
    "{{x}}", math.random(r[2], r[3])), "{{y}}", math.random(r[4], r[5]))
  return wrk.format("GET", path)
end
done = function(summary, latency, requests)
  io.write(string.format("bytes %d\\n", summary.bytes))
end
"""


def wrk_tiles(base: str, template: str, duration: int, work: Path, seed: int) -> tuple[float, int, float]:
    script = work / f"tiles-{seed}.lua"
    script.write_text(lua(template, seed))
    out = subprocess.run(["wrk", "-t2", "-c16", f"-d{duration}s", "-s", str(script), base],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    size = int(re.search(r"bytes (\d+)", out).group(1)) / max(1, total)  # type: ignore[union-attr]
    return rps, int(bad.group(1)) if bad else 0, size


def pygeoapi_tiles_config(work: Path, port: int) -> tuple[Path, Path]:
    import yaml

    cfg_path, _ = pygeoapi_config(work, False, port)
    cfg = yaml.safe_load(cfg_path.read_text())
    base = cfg["resources"].pop("points")
    for name, table, bbox in (("points", "points", list(BOX)), ("parcels", "parcels", list(BOX))):
        res = {**base, "title": name, "extents": {"spatial": {"bbox": bbox}}}
        res["providers"] = [{
            "type": "tile", "name": "MVT-postgresql",
            "data": {"host": "127.0.0.1", "port": 5432, "dbname": DB, "user": "postgres"},
            "id_field": "fid", "table": table, "geom_field": "geom",
            "options": {"zoom": {"min": 0, "max": 16}},
            "format": {"name": "pbf", "mimetype": "application/vnd.mapbox-vector-tile"}}]
        cfg["resources"][name] = res
    path = work / "pygeoapi-tiles.yml"
    path.write_text(yaml.safe_dump(cfg))
    return path, pygeoapi_openapi(path, work / "openapi-tiles.yml")


def timed_run(code: str, cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak resident MB of ``python -c code`` (GNU time)."""
    import time

    t = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-v", sys.executable, "-c", code], cwd=cwd,
                          capture_output=True, text=True)
    wall = time.perf_counter() - t
    if done.returncode:
        raise SystemExit(done.stderr[-2000:])
    peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1))  # type: ignore[union-attr]
    return wall, peak / 1024


def bench_build(work: Path, pts: Path) -> None:
    """The PMTiles archive of the 1,000,000 points, zooms 0-14: ours (tiles/pyramid.py, from
    the GeoPackage store) beside GDAL's PMTiles driver run directly on the same points."""
    ours = (
        "from pathlib import Path\n"
        "from geo_publish.read import readers\n"
        "from geo_publish.tiles import pyramid\n"
        "r = readers.reader('store.gpkg', 600)\n"
        "p = r.published('points')\n"
        "b = pyramid.build(r, r.table(p.table), ['name', 'value'], 'points', "
        f"Path({str(work / 'ours.pmtiles')!r}), 14, 50000, {{}})\n"
        "print(b.tiles)\n")
    gdal = (
        "import pyogrio\n"
        f"meta, table = pyogrio.read_arrow({str(pts)!r})\n"
        f"pyogrio.write_arrow(table, {str(work / 'gdal.pmtiles')!r}, driver='PMTiles', layer='points', "
        "geometry_name=meta['geometry_name'] or 'geom', geometry_type='Point', crs=meta['crs'], "
        "dataset_options={'MINZOOM': '0', 'MAXZOOM': '14'})\n")
    for f in ("ours.pmtiles", "gdal.pmtiles"):
        (work / f).unlink(missing_ok=True)
    w1, m1 = timed_run(ours, work / "proj")
    w2, m2 = timed_run(gdal, work)
    print(f"PMTiles build, 1,000,000 points, z0-14: geo-publish {w1:.0f} s, peak {m1:.0f} MB, "
          f"{(work / 'ours.pmtiles').stat().st_size / 2**20:.0f} MB")
    print(f"                                   GDAL PMTiles driver {w2:.0f} s, peak {m2:.0f} MB, "
          f"{(work / 'gdal.pmtiles').stat().st_size / 2**20:.0f} MB")
    print(f"  ratio geo-publish / GDAL: {w1 / w2:.2f}x (<= 1.5), memory {m1:.0f} MB (<= 500)")


def wait_archives(root: Path, timeout: float = 900) -> None:
    """The site builder's PMTiles archives of both layers (served from then on)."""
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = list((root / "build" / "site" / "data").glob("*.pmtiles"))
        if {p.name.split(".")[0] for p in got} >= {"points", "parcels"}:
            return
        time.sleep(2)
    raise SystemExit(f"no PMTiles archives in {root / 'build' / 'site' / 'data'}")


def reuse_stores(work: Path) -> bool:
    """The stores of an earlier run in ``work`` (--workdir) are kept: ingest and load skipped."""
    return (work / "proj" / "store.gpkg").exists() and (work / "loaded").exists()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--polygons", type=int, default=200_000)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--only", default="", help="comma-separated: build and server names (default: all)")
    a = ap.parse_args()
    work = a.workdir or Path(tempfile.mkdtemp(prefix="gp-tiles-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    pts, polys = work / f"points_{a.points}.gpkg", work / f"parcels_{a.polygons}.gpkg"
    if not pts.exists():
        make_points(pts, a.points)
    if not polys.exists():
        make_polygons(polys, a.polygons)
    proj, proj_pg = work / "proj", work / "proj-pg"
    pg_env = {"GP_BENCH_DSN": f"{PG}/{DB}"}
    for p, store in ((proj, "store: {backend: geopackage, path: store.gpkg}\n"),
                     (proj_pg, "store:\n  backend: postgis\n  dsn: ${GP_BENCH_DSN}\n")):
        p.mkdir(exist_ok=True)
        (p / "config.yml").write_text(store + "vector_tiles: {cache_mb: 64}\n")
        (p / "styles").mkdir(exist_ok=True)
        (p / "styles" / "points.yml").write_text("label_field: name\npopup: [value]\n")
        (p / "styles" / "parcels.yml").write_text("popup: [kod, area]\n")
    if not (proj / "store.gpkg").exists():
        for src, cid in ((pts, "points"), (polys, "parcels")):
            subprocess.run([sys.executable, "-m", "geo_publish", "--config", str(proj / "config.yml"),
                            "ingest", str(src), "--collection", cid], check=True, capture_output=True)
    if not reuse_stores(work):
        load_postgis(published_table(proj / "store.gpkg"), work)
        import sqlite3

        with sqlite3.connect(proj / "store.gpkg") as c:
            layer = c.execute("SELECT v.layer FROM gp_published p JOIN gp_versions v "
                              "USING (collection, version) WHERE collection = 'parcels'").fetchone()[0]
        load_polygons(proj / "store.gpkg", layer, work)
        for src, cid in ((pts, "points"), (polys, "parcels")):
            subprocess.run([sys.executable, "-m", "geo_publish", "--config", str(proj_pg / "config.yml"),
                            "ingest", str(src), "--collection", cid], check=True, capture_output=True,
                           env={**os.environ, **pg_env})
        psql("VACUUM ANALYZE", DB)
        (work / "loaded").touch()

    if not a.only or "build" in a.only.split(","):
        bench_build(work, pts)
        if a.only == "build":
            return 0
    servers: dict[str, tuple[list[str], dict[str, str], str, dict[str, str]]] = {}
    ours = {c: f"/collections/{c}/tiles/WebMercatorQuad/{{z}}/{{y}}/{{x}}" for c in ("points", "parcels")}
    port = free_port()
    servers["geo-publish gpkg"] = (
        [sys.executable, "-m", "geo_publish", "--config", str(proj / "config.yml"), "serve",
         "--port", str(port), "--workers", "2"], {}, f"http://127.0.0.1:{port}", ours)
    port = free_port()
    servers["geo-publish postgis"] = (
        [sys.executable, "-m", "geo_publish", "--config", str(proj_pg / "config.yml"), "serve",
         "--port", str(port), "--workers", "2"], pg_env, f"http://127.0.0.1:{port}", ours)
    port = free_port()
    cfg, oas = pygeoapi_tiles_config(work, port)
    py = HERE / ".venv-pygeoapi" / "bin" / "python"
    servers["pygeoapi MVT-postgresql"] = (
        [str(py), "-m", "uvicorn", "pygeoapi.starlette_app:APP", "--port", str(port), "--workers", "2",
         "--log-level", "warning"], {"PYGEOAPI_CONFIG": str(cfg), "PYGEOAPI_OPENAPI": str(oas)},
        f"http://127.0.0.1:{port}",
        {c: f"/collections/{c}/tiles/WebMercatorQuad/{{z}}/{{y}}/{{x}}?f=mvt" for c in ("points", "parcels")})
    port = free_port()
    py = HERE / ".venv-tipg" / "bin" / "python"
    servers["tipg"] = (
        [str(py), "-m", "uvicorn", "tipg.main:app", "--port", str(port), "--workers", "2",
         "--log-level", "warning"], {"DATABASE_URL": f"{PG}/{DB}"}, f"http://127.0.0.1:{port}",
        {c: f"/collections/public.{c}/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}" for c in ("points", "parcels")})

    results: dict[str, dict[str, float]] = {}
    for name, (cmd, env, base, templates) in servers.items():
        if a.only and name not in a.only.split(","):
            continue
        # the landing page: a z0 tile would ask the anchors for every feature
        proc = start(cmd, env, base + "/", work / f"{name.replace(' ', '_')}.log")
        if name.startswith("geo-publish"):
            wait_archives(proj if "gpkg" in name else proj_pg)
        try:
            results[name] = {}
            for cid, template in templates.items():
                rps, bad, size = wrk_tiles(base, template, a.duration, work, seed=7)
                results[name][cid] = rps
                print(f"{name:<26} {cid:<8} {rps:9.1f} tiles/s  mean {size / 1024:7.1f} KiB"
                      + (f"  non-2xx {bad}" if bad else ""), flush=True)
        finally:
            stop(proc)
    print("\nratios (random z8-z14 tiles, wrk -c16, 2 workers)")
    for cid in ("points", "parcels") if len(results) == len(servers) else ():
        pg = results["geo-publish postgis"][cid]
        for anchor in ("pygeoapi MVT-postgresql", "tipg"):
            print(f"  {cid:<8} geo-publish postgis / {anchor:<24} {pg / results[anchor][cid]:6.2f}x (>= 3)")
        print(f"  {cid:<8} geo-publish gpkg / geo-publish postgis      "
              f"{results['geo-publish gpkg'][cid] / pg:6.2f}x (>= 0.5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
