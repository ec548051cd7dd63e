"""History that costs what changed (GeoPackage store, versioned rows: ``store/gpkg_rows.py``).

    .venv/bin/python benchmarks/versioned_rows_bench.py [--features 100000] [--versions 50]
        [--change 0.01] [--edit-features 1000000] [--edits 100] [--backends geopackage,postgis]
        [--workdir DIR]

Part 1, history: a ``--features`` point layer ingested (the anchor: its first ingest, and the
disk of that one version), then published ``--versions`` - 1 more times with ``--change`` of its
features changed each time, through the real ingest (``workflow.ingest``, in process). Reports
the disk of the collection's layer file after all versions against one version, and the median
republish time against the first ingest.

Part 2, edits: a ``--edit-features`` point layer, then ``--edits`` Part 4 updates of one
feature's attribute and geometry (``store.edit``, the call the API's PATCH makes), p50 and p95,
and the first read of each new version by a server's reader (``items?limit=10``: describe the
version and read a page); the same on a 10-feature layer is the anchor.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyogrio
import shapely

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def frame(n: int, seed: int = 1):
    import geopandas as gpd

    rng = np.random.default_rng(seed)
    return gpd.GeoDataFrame({"code": np.arange(1, n + 1),
                             "name": np.char.add("мактаб ", np.arange(n).astype(str)),
                             "seats": rng.integers(10, 900, n)},
                            geometry=shapely.points(rng.uniform(56, 73, n), rng.uniform(37, 45, n)),
                            crs="OGC:CRS84")


PG = "postgresql://postgres@127.0.0.1:5432"
DB = "gp_versioned_bench"
BACKEND = "geopackage"


def project(work: Path):
    import secrets

    from geo_publish.settings import load_settings

    work.mkdir(parents=True, exist_ok=True)
    if BACKEND == "postgis":
        (work / "config.yml").write_text("store:\n  backend: postgis\n  dsn: ${GEO_PUBLISH_DSN}\n"
                                         f"  schema: b_{secrets.token_hex(4)}\n")
    else:
        (work / "config.yml").write_text("store: {backend: geopackage, path: data/store.gpkg}\n")
    return load_settings(work / "config.yml")


def ingest(settings, src: Path, cid: str) -> float:
    from geo_publish import workflow

    t = time.perf_counter()
    workflow.ingest(settings, src, cid, progress=False)
    return time.perf_counter() - t


def disk(settings, file: Path) -> int:
    """The collection's bytes on disk: the layer file once its log is checkpointed into it, or
    its PostgreSQL tables with their indexes."""
    if BACKEND == "postgis":
        import psycopg

        schema = settings.store.schema_
        with psycopg.connect(os.environ["GEO_PUBLISH_DSN"], autocommit=True) as c:
            c.execute("CHECKPOINT")
            return int(c.execute("SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN "
                                 "pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND "
                                 "c.relkind = 'r' AND c.relname LIKE 'gpf\\_%%'", (schema,)).fetchone()[0])
    with sqlite3.connect(file) as c:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(p.stat().st_size for p in (file, Path(f"{file}-wal")) if p.exists())


def rows_kept(settings, layer: Path) -> int:
    if BACKEND == "postgis":
        import psycopg

        schema = settings.store.schema_
        with psycopg.connect(os.environ["GEO_PUBLISH_DSN"], autocommit=True) as c:
            return sum(c.execute(f'SELECT count(*) FROM "{schema}"."{t}"').fetchone()[0]
                       for (b,) in c.execute(f'SELECT base FROM "{schema}".gp_bases').fetchall()
                       for t in (b, "gph_" + b.removeprefix("gpf_")))  # open rows, closed rows
    with sqlite3.connect(layer) as c:
        return sum(c.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
                   for (b,) in c.execute("SELECT base FROM gp_bases").fetchall()
                   for t in (b, "gph_" + b.removeprefix("gpf_")))


def history(work: Path, n: int, versions: int, change: float) -> dict:
    s = project(work / "history")
    f = frame(n)
    src = work / "history" / "src.gpkg"
    pyogrio.write_dataframe(f, src, layer="schools")
    first = ingest(s, src, "schools")
    layer = work / "history" / "data" / "store.layers" / "schools.gpkg"
    one = disk(s, layer)
    rng = np.random.default_rng(2)
    times = []
    for _ in range(versions - 1):
        pick = rng.choice(n, max(1, int(n * change)), replace=False)
        f.loc[pick, "seats"] = f.loc[pick, "seats"] + 1
        src.unlink()
        pyogrio.write_dataframe(f, src, layer="schools")
        times.append(ingest(s, src, "schools"))
    total = disk(s, layer)
    rows = rows_kept(s, layer)
    return {"first": first, "republish": statistics.median(times), "one": one, "total": total,
            "rows": rows, "versions": versions}


def edits(work: Path, n: int, count: int) -> dict:
    from geo_publish.read.readers import reader
    from geo_publish.store import open_store
    from geo_publish.store.features import Edit

    s = project(work / f"edit{n}")
    src = work / f"edit{n}" / "src.gpkg"
    pyogrio.write_dataframe(frame(n, 3), src, layer="pts")
    ingest(s, src, "pts")
    store = open_store(s)
    from geo_publish.store.location import Source

    Source.export_dsn(s)
    r = reader(Source.of(s).data)
    rng = np.random.default_rng(4)
    took, first_read = [], []
    for k in range(count):
        fid = str(int(rng.integers(1, n + 1)))
        where = {"type": "Point", "coordinates": [float(rng.uniform(56, 73)), float(rng.uniform(37, 45))]}
        t = time.perf_counter()
        store.edit("pts", [Edit("update", fid, {"seats": k}, where)], None, f"{k:064d}")
        took.append(time.perf_counter() - t)
        t = time.perf_counter()
        pub = r.published("pts")
        table = r.table(pub.table)
        r.rows(f"SELECT fid FROM {r.table_sql(table)} WHERE fid >= ? ORDER BY fid LIMIT 10", [1], table)
        first_read.append(time.perf_counter() - t)
    took.sort()
    first_read.sort()
    return {"p50": statistics.median(took), "p95": took[int(0.95 * (len(took) - 1))],
            "read_p95": first_read[int(0.95 * (len(first_read) - 1))]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--features", type=int, default=100_000)
    ap.add_argument("--versions", type=int, default=50)
    ap.add_argument("--change", type=float, default=0.01)
    ap.add_argument("--edit-features", type=int, default=1_000_000)
    ap.add_argument("--edits", type=int, default=100)
    ap.add_argument("--backends", default="geopackage,postgis")
    ap.add_argument("--workdir", type=Path)
    a = ap.parse_args()
    global BACKEND
    work = a.workdir or Path(tempfile.mkdtemp(prefix="gp-versioned-"))
    for BACKEND in a.backends.split(","):
        if BACKEND == "postgis":
            for sql, db in ((f"DROP DATABASE IF EXISTS {DB}", "postgres"), (f"CREATE DATABASE {DB}", "postgres"),
                            ("CREATE EXTENSION IF NOT EXISTS postgis", DB)):
                subprocess.run(["psql", f"{PG}/{db}", "-q", "-c", sql], check=True, capture_output=True)
            os.environ["GEO_PUBLISH_DSN"] = f"{PG}/{DB}"
        report(work / BACKEND, a)
    return 0


def report(work: Path, a: argparse.Namespace) -> None:
    h = history(work, a.features, a.versions, a.change)
    print(f"[{BACKEND}] history: {a.features:,} features, {h['versions']} versions, {a.change:.0%} changed each")
    print(f"  disk of one version          {h['one'] / 1e6:8.1f} MB  (anchor)")
    print(f"  disk of {h['versions']} versions          {h['total'] / 1e6:8.1f} MB  "
          f"{h['total'] / h['one']:.2f}x  (issue: <= 3x; one table per version: ~{h['versions']}x)")
    print(f"  rows kept                    {h['rows']:,}  ({h['rows'] / a.features:.2f}x the features)")
    print(f"  first ingest                 {h['first']:8.2f} s   (anchor)")
    print(f"  republish, median            {h['republish']:8.2f} s   "
          f"{h['republish'] / h['first']:.2f}x  (issue: <= 0.5x)")
    small = edits(work, 10, a.edits)
    big = edits(work, a.edit_features, a.edits)
    print(f"[{BACKEND}] edits: {a.edits} Part 4 updates (attribute and geometry of one feature), store.edit")
    print(f"  {'features':>10} {'p50 ms':>8} {'p95 ms':>8} {'first read p95 ms':>18}")
    for n, e in ((10, small), (a.edit_features, big)):
        print(f"  {n:>10,} {e['p50'] * 1e3:8.1f} {e['p95'] * 1e3:8.1f} {e['read_p95'] * 1e3:18.1f}")
    print(f"  p95 ratio {big['p95'] / small['p95']:.2f}x the 10-feature layer (issue: p95 <= 100 ms)",
          flush=True)


if __name__ == "__main__":
    sys.exit(main())
