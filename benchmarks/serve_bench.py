"""Serving speed against stock pygeoapi (PostgreSQL provider, default and count: false) and tipg,
on the same 1,000,000 points, side by side in one run, 2 workers each, load from wrk.

    benchmarks/setup_anchors.sh                      # wrk, PostGIS, anchor venvs (once)
    .venv/bin/python benchmarks/serve_bench.py [--points 1000000] [--duration 10] [--workdir DIR]

Scenarios: items?limit=10 (ours with exact numberMatched), single item, a bbox returning ~1,000
features, page 1 vs page 90,000 (ours: reached by offset, which our next links use). Prints
requests/second per server and the ratios the issue sets targets for.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyogrio
import shapely

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PG = "postgresql://postgres@127.0.0.1:5432"
DB = "gp_bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    import urllib.request

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server for {url} exited")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except Exception:  # noqa: BLE001
            time.sleep(0.5)
    raise RuntimeError(f"{url} did not come up")


def wrk(url: str, duration: int, connections: int) -> tuple[float, int]:
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{duration}s", url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return rps, int(bad.group(1)) if bad else 0


def make_points(path: Path, n: int) -> None:
    import geopandas as gpd

    rng = np.random.default_rng(1)
    frame = gpd.GeoDataFrame({"name": np.char.add("пункт ", np.arange(n).astype(str)),
                              "value": rng.integers(0, 1000, n)},
                             geometry=shapely.points(rng.uniform(66, 72, n), rng.uniform(38, 42, n)),
                             crs="OGC:CRS84")
    pyogrio.write_dataframe(frame, path, layer="points", use_arrow=True)


def psql(sql: str, db: str = "postgres") -> None:
    subprocess.run(["psql", f"{PG}/{db}", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True,
                   capture_output=True)


def published_table(store: Path) -> tuple[Path, str]:
    import sqlite3

    with sqlite3.connect(store) as c:
        layer = c.execute("SELECT v.layer FROM gp_published p JOIN gp_versions v "
                          "USING (collection, version) WHERE collection = 'points'").fetchone()[0]
    return store, layer


def load_postgis(src: tuple[Path, str], work: Path) -> None:
    """The same features (already in CRS84, from the store) into PostGIS for the anchors."""
    psql(f"DROP DATABASE IF EXISTS {DB}")
    psql(f"CREATE DATABASE {DB}")
    psql("CREATE EXTENSION postgis", DB)
    psql("CREATE TABLE points (fid integer PRIMARY KEY, name text, value integer, "
         "geom geometry(Point, 4326))", DB)
    frame = pyogrio.read_dataframe(src[0], layer=src[1], use_arrow=True)
    csv = work / "points.csv"
    wkb = shapely.to_wkb(frame.geometry.array, hex=True, include_srid=False)
    import pandas as pd

    pd.DataFrame({"fid": np.arange(1, len(frame) + 1), "name": frame["name"], "value": frame["value"],
                  "geom": ["SRID=4326;" + w for w in wkb]}).to_csv(csv, index=False, header=False)
    psql(f"\\copy points FROM '{csv}' WITH (FORMAT csv)", DB)
    psql("CREATE INDEX ON points USING gist (geom)", DB)
    psql("VACUUM ANALYZE points", DB)  # now, not as autovacuum during the measurements


def start(cmd: list[str], env: dict[str, str], url: str, log: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=log.open("wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    wait(url, proc)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
    except Exception:  # noqa: BLE001
        os.killpg(proc.pid, signal.SIGKILL)


def pygeoapi_config(work: Path, count: bool, port: int) -> tuple[Path, Path]:
    import yaml

    cfg = {
        "server": {"bind": {"host": "127.0.0.1", "port": port}, "url": f"http://127.0.0.1:{port}",
                   "mimetype": "application/json; charset=UTF-8", "encoding": "utf-8",
                   "languages": ["en-US"], "limits": {"default_items": 10, "max_items": 10000},
                   "map": {"url": "", "attribution": ""}},
        "logging": {"level": "ERROR"},
        "metadata": {"identification": {"title": "anchor", "description": "anchor", "keywords": ["a"],
                                        "terms_of_service": "", "url": "http://x"},
                     "license": {"name": "x", "url": "http://x"},
                     "provider": {"name": "x", "url": "http://x"},
                     "contact": {"name": "x", "position": "x", "address": "x", "city": "x",
                                 "stateorprovince": "x", "postalcode": "x", "country": "x",
                                 "phone": "x", "fax": "x", "email": "x@x", "url": "http://x",
                                 "hours": "x", "instructions": "x", "role": "pointOfContact"}},
        "resources": {"points": {
            "type": "collection", "title": "points", "description": "points", "keywords": ["p"],
            "extents": {"spatial": {"bbox": [66, 38, 72, 42]}},
            "providers": [{"type": "feature", "name": "PostgreSQL",
                           "data": {"host": "127.0.0.1", "port": 5432, "dbname": DB, "user": "postgres"},
                           "id_field": "fid", "table": "points", "geom_field": "geom",
                           "count": count}]}},
    }
    path = work / f"pygeoapi-{count}.yml"
    path.write_text(yaml.safe_dump(cfg))
    return path, pygeoapi_openapi(path, work / f"openapi-{count}.yml")


def pygeoapi_openapi(config: Path, oas: Path) -> Path:
    """The anchor pygeoapi's OpenAPI document for ``config``, by its own command."""
    py = HERE / ".venv-pygeoapi" / "bin"
    subprocess.run([str(py / "pygeoapi"), "openapi", "generate", str(config), "--output-file", str(oas)],
                   check=True, capture_output=True, env={**os.environ, "PYGEOAPI_CONFIG": str(config)})
    return oas


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--republish", action=argparse.BooleanOptionalAction, default=True,
                    help="also: 64 connections for 60 s while the layer is re-published")
    a = ap.parse_args()
    work = a.workdir or Path(tempfile.mkdtemp(prefix="gp-serve-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    src = work / f"points_{a.points}.gpkg"
    if not src.exists():
        make_points(src, a.points)
    proj = work / "proj"
    proj.mkdir(exist_ok=True)
    (proj / "config.yml").write_text("store: {backend: geopackage, path: store.gpkg}\n")
    if not (proj / "store.gpkg").exists():
        subprocess.run([sys.executable, "-m", "geo_publish", "--config", str(proj / "config.yml"),
                        "ingest", str(src), "--collection", "points"], check=True)
    load_postgis(published_table(proj / "store.gpkg"), work)
    # our PostGIS backend, in the anchors' database (its own schema), same source file
    proj_pg = work / "proj-pg"
    proj_pg.mkdir(exist_ok=True)
    (proj_pg / "config.yml").write_text("store:\n  backend: postgis\n  dsn: ${GP_BENCH_DSN}\n")
    pg_env = {"GP_BENCH_DSN": f"{PG}/{DB}"}
    subprocess.run([sys.executable, "-m", "geo_publish", "--config", str(proj_pg / "config.yml"),
                    "ingest", str(src), "--collection", "points"], check=True, capture_output=True,
                   env={**os.environ, **pg_env})
    psql("VACUUM ANALYZE", DB)

    bbox = "69.0,40.0,69.155,40.155"  # ~1,000 of 1 M uniform points over 6 x 4 degrees
    mid = a.points // 2
    page = 90_000
    servers: dict[str, tuple[list[str], dict[str, str], str, dict[str, str]]] = {}
    port = free_port()
    servers["geo-publish"] = (
        [sys.executable, "-m", "geo_publish", "--config", str(proj / "config.yml"), "serve",
         "--port", str(port), "--workers", "2"], {}, f"http://127.0.0.1:{port}",
        {"items": "/collections/points/items?limit=10", "item": f"/collections/points/items/{mid}",
         "bbox": f"/collections/points/items?bbox={bbox}&limit=10000",
         "page90k": f"/collections/points/items?limit=10&offset={page * 10}"})
    port = free_port()
    servers["geo-publish postgis"] = (
        [sys.executable, "-m", "geo_publish", "--config", str(proj_pg / "config.yml"), "serve",
         "--port", str(port), "--workers", "2"], pg_env, f"http://127.0.0.1:{port}",
        dict(servers["geo-publish"][3]))
    for count in (True, False):
        port = free_port()
        cfg, oas = pygeoapi_config(work, count, port)
        py = HERE / ".venv-pygeoapi" / "bin" / "python"
        servers[f"pygeoapi-pg{'' if count else ' count:false'}"] = (
            [str(py), "-m", "uvicorn", "pygeoapi.starlette_app:APP", "--port", str(port), "--workers", "2",
             "--log-level", "warning"], {"PYGEOAPI_CONFIG": str(cfg), "PYGEOAPI_OPENAPI": str(oas)},
            f"http://127.0.0.1:{port}",
            {"items": "/collections/points/items?limit=10", "item": f"/collections/points/items/{mid}",
             "bbox": f"/collections/points/items?bbox={bbox}&limit=10000",
             "page90k": f"/collections/points/items?limit=10&offset={page * 10}"})
    port = free_port()
    py = HERE / ".venv-tipg" / "bin" / "python"
    servers["tipg"] = (
        [str(py), "-m", "uvicorn", "tipg.main:app", "--port", str(port), "--workers", "2",
         "--log-level", "warning"], {"DATABASE_URL": f"{PG}/{DB}", "TIPG_MAX_FEATURES_PER_QUERY": "10000"},
        f"http://127.0.0.1:{port}",
        {"items": "/collections/public.points/items?limit=10",
         "item": f"/collections/public.points/items/{mid}",
         "bbox": f"/collections/public.points/items?bbox={bbox}&limit=10000",
         "page90k": f"/collections/public.points/items?limit=10&offset={page * 10}"})

    results: dict[str, dict[str, float]] = {}
    for name, (cmd, env, base, paths) in servers.items():
        proc = start(cmd, env, base + paths["item"], work / f"{name.replace(' ', '_')}.log")
        try:
            results[name] = {}
            for scenario, path in paths.items():
                rps, bad = wrk(base + path, a.duration, a.connections)
                results[name][scenario] = rps
                print(f"{name:<24} {scenario:<8} {rps:10.1f} req/s" + (f"  non-2xx {bad}" if bad else ""),
                      flush=True)
            if name == "geo-publish" and a.republish:
                # 64 connections for 60 s while the layer is re-published (a new version)
                load = subprocess.Popen(["wrk", "-t2", "-c64", "-d60s", base + paths["items"]],
                                        stdout=subprocess.PIPE, text=True)
                time.sleep(5)
                subprocess.run([sys.executable, "-m", "geo_publish", "--config", str(proj / "config.yml"),
                                "ingest", str(src), "--collection", "points"], check=True,
                               capture_output=True)
                out = load.communicate()[0]
                bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
                errs = re.search(r"Socket errors: (.*)", out)
                total = re.search(r"(\d+) requests in", out)
                print(f"geo-publish republish under -c64 60s: {total.group(1) if total else '?'} requests, "
                      f"non-2xx {bad.group(1) if bad else 0}, socket errors {errs.group(1) if errs else 'none'}",
                      flush=True)
        finally:
            stop(proc)

    for variant in ("geo-publish", "geo-publish postgis"):
        ours = results[variant]
        print(f"\nratios for {variant} (targets from issues 3 and 5):")
        print(f"  items?limit=10 vs pygeoapi count:false  {ours['items'] / results['pygeoapi-pg count:false']['items']:.2f}x (>= 1.5)")
        print(f"  items?limit=10 vs tipg                  {ours['items'] / results['tipg']['items']:.2f}x (>= 10)")
        faster = max(results["pygeoapi-pg"]["bbox"], results["tipg"]["bbox"])
        print(f"  bbox ~1000 vs faster anchor             {ours['bbox'] / faster:.2f}x (>= 3)")
        print(f"  page 90,000 time / page 1 time          {ours['items'] / ours['page90k']:.2f} (<= 2)")
        print(f"  single item vs pygeoapi                 {ours['item'] / results['pygeoapi-pg']['item']:.2f}x (>= 1.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
