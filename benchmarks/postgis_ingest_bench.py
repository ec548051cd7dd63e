"""Bulk ingest into PostGIS against ogr2ogr -f PostgreSQL, side by side in one run.

    benchmarks/setup_anchors.sh   # once: Debian's ogr2ogr (gdal-bin), PostGIS
    .venv/bin/python benchmarks/postgis_ingest_bench.py [--points 1000000] [--dsn postgresql://...]

The same GeoPackage of points in UTM 42N (as benchmarks/ingest_bench.py makes it) goes, each
command in its own process, into a fresh database on the local PostgreSQL:
  anchor  ogr2ogr -f PostgreSQL -t_srs EPSG:4326 -makevalid -nlt PROMOTE_TO_MULTI (COPY, GiST
          index), Debian's GDAL
  ours    geo-publish ingest into a PostGIS store (validation, repair, reprojection, COPY, GiST
          and primary key, version and passport in one transaction)
and prints wall time, peak memory (of the client process) and the ratio ours/anchor.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import psycopg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from ingest_bench import make_points, make_polygons, timed  # noqa: E402


def fresh_db(admin: str, name: str) -> str:
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        c.execute(f"CREATE DATABASE {name}")
    dsn = psycopg.conninfo.make_conninfo(admin, dbname=name)
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("CREATE EXTENSION postgis")
    return dsn


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--polygons", type=int, default=0)
    ap.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/postgres",
                    help="an administrator connection (a database per run is created)")
    ap.add_argument("--workdir", type=Path, default=None)
    a = ap.parse_args()
    if not shutil.which("ogr2ogr"):
        print("ogr2ogr not found: run benchmarks/setup_anchors.sh", file=sys.stderr)
        return 2
    work = a.workdir or Path(tempfile.mkdtemp(prefix="gp-pgbench-"))
    work.mkdir(parents=True, exist_ok=True)
    inputs = []
    if a.points:
        inputs.append(("points", work / f"points_{a.points}.gpkg", make_points, a.points))
    if a.polygons:
        inputs.append(("polygons", work / f"polygons_{a.polygons}.gpkg", make_polygons, a.polygons))
    print(f"{'input':<10} {'tool':<8} {'wall s':>8} {'peak MB':>8} {'ratio':>7}")
    for label, path, make, n in inputs:
        if not path.exists():
            make(path, n)
        results = {}
        dsn = fresh_db(a.dsn, "gp_bench_anchor")
        info = psycopg.conninfo.conninfo_to_dict(dsn)
        pg = " ".join(f"{k}={v}" for k, v in info.items())
        results["anchor"] = timed(["ogr2ogr", "-f", "PostgreSQL", f"PG:{pg}", str(path),
                                   "-t_srs", "EPSG:4326", "-makevalid", "-nlt", "PROMOTE_TO_MULTI",
                                   "-nln", label, "-lco", "SPATIAL_INDEX=GIST",
                                   "--config", "PG_USE_COPY", "YES"])
        dsn = fresh_db(a.dsn, "gp_bench_ours")
        proj = work / "proj"
        shutil.rmtree(proj, ignore_errors=True)
        proj.mkdir()
        (proj / "config.yml").write_text("store:\n  backend: postgis\n  dsn: ${GP_BENCH_DSN}\n")
        os.environ["GP_BENCH_DSN"] = dsn
        results["ours"] = timed([sys.executable, "-m", "geo_publish", "--config",
                                 str(proj / "config.yml"), "ingest", str(path), "--collection", label])
        base = results["anchor"].wall
        for tool, r in results.items():
            print(f"{label:<10} {tool:<8} {r.wall:8.2f} {r.rss:8.0f} {r.wall / base:7.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
