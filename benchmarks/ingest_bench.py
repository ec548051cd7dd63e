"""Ingest speed and memory against ogr2ogr, side by side in one run.

    .venv/bin/python benchmarks/ingest_bench.py [--points 1000000] [--polygons 100000]

Generates points and 21-vertex polygons (1% of them self-intersecting) in UTM 42N, then for each
file runs, each in its own process (peak RSS from wait4):
  anchor   ogr2ogr -t_srs EPSG:4326 -makevalid -nlt PROMOTE_TO_MULTI, on current GDAL (the
           library inside pyogrio's wheel, see gdal_translate_anchor.py)
  debian   the same with Debian's ogr2ogr (GDAL 3.6), when installed, for reference
  ours     geo-publish ingest into a fresh GeoPackage store
and prints wall time (median of --repeat interleaved runs), peak memory (the largest process's
RSS, and the sampled PSS of the whole process tree) and the ratio ours/anchor.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

import geopandas as gpd
import numpy as np
import pyogrio
import shapely

HERE = Path(__file__).resolve().parent


def make_points(path: Path, n: int) -> None:
    rng = np.random.default_rng(1)
    x, y = rng.uniform(300_000, 700_000, n), rng.uniform(4_200_000, 4_700_000, n)
    frame = gpd.GeoDataFrame({"name": np.char.add("пункт ", np.arange(n).astype(str)),
                              "value": rng.integers(0, 1000, n)},
                             geometry=shapely.points(x, y), crs="EPSG:32642")
    pyogrio.write_dataframe(frame, path, layer="points", use_arrow=True)


def make_polygons(path: Path, n: int) -> None:
    rng = np.random.default_rng(2)
    cx, cy = rng.uniform(300_000, 700_000, n), rng.uniform(4_200_000, 4_700_000, n)
    angles = np.linspace(0, 2 * np.pi, 21)[:-1]
    r = rng.uniform(50, 200, (n, 1))
    xs, ys = cx[:, None] + r * np.cos(angles), cy[:, None] + r * np.sin(angles)
    bad = rng.random(n) < 0.01  # bow-tie: swap two vertices
    xs[bad, 3], xs[bad, 12] = xs[bad, 12].copy(), xs[bad, 3].copy()
    ring = np.stack([np.concatenate([xs, xs[:, :1]], 1), np.concatenate([ys, ys[:, :1]], 1)], -1)
    geoms = shapely.polygons(ring)
    frame = gpd.GeoDataFrame({"id": np.arange(n)}, geometry=geoms, crs="EPSG:32642")
    pyogrio.write_dataframe(frame, path, layer="polygons", use_arrow=True)


# A small launcher process runs each command: a child forked from this (large) process would
# report this process's memory as its own peak. It also samples, every 50 ms, the proportional
# set size (PSS) of the command's whole process tree: geo-publish writes a GeoPackage from a
# forked child, and the two share the pages of the imports, which a sum of RSS would count twice.
_LAUNCH = """
import os, subprocess, sys, threading, time
def tree(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo += [int(c) for c in fh.read().split()]
        except OSError:
            pass
    return out
def pss(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0
peak, done = [0], threading.Event()
t = time.perf_counter()
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
def sample():
    while not done.wait(0.05):
        peak[0] = max(peak[0], sum(pss(q) for q in tree(p.pid)))
threading.Thread(target=sample, daemon=True).start()
_, st, ru = os.wait4(p.pid, 0)
wall = time.perf_counter() - t
done.set()
print(wall, ru.ru_maxrss, peak[0], os.waitstatus_to_exitcode(st))
"""


class Timed(NamedTuple):
    wall: float  # seconds
    rss: float  # MB, the largest single process
    pss: float  # MB, the whole process tree, sampled
    code: int


def timed(cmd: list[str]) -> Timed:
    os.sync()  # the previous tool's writes are flushed before this one starts, not during it
    proc = subprocess.run(["/usr/bin/env", "python3", "-S", "-c", _LAUNCH, *cmd],
                          capture_output=True, text=True)
    wall, rss, pss, code = proc.stdout.split()
    if int(code) != 0:
        print(f"  failed ({code}): {' '.join(cmd)}\n  {proc.stderr[-400:]}")
    return Timed(float(wall), int(rss) / 1024, int(pss) / 1024, int(code))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--polygons", type=int, default=100_000)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs of each tool, interleaved; medians are printed")
    a = ap.parse_args()
    work = a.workdir or Path(tempfile.mkdtemp(prefix="gp-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    files = {"points": (work / f"points_{a.points}.gpkg", make_points, a.points),
             "polygons": (work / f"polygons_{a.polygons}.gpkg", make_polygons, a.polygons)}
    ogr_args = ["-t_srs", "EPSG:4326", "-makevalid", "-nlt", "PROMOTE_TO_MULTI", "-f", "GPKG"]
    print(f"{'input':<10} {'tool':<8} {'wall s':>8} {'RSS MB':>8} {'PSS MB':>8} {'ratio':>7}")
    print("  RSS: peak of the largest single process; PSS: peak of the whole process tree, sampled")
    for label, (path, make, n) in files.items():
        if not path.exists():
            make(path, n)
        runs: dict[str, list[Timed]] = {}
        out = work / "anchor.gpkg"
        for _ in range(a.repeat):  # interleaved, so that a noisy moment hits every tool alike
            out.unlink(missing_ok=True)
            runs.setdefault("anchor", []).append(timed(
                [sys.executable, str(HERE / "gdal_translate_anchor.py"), str(path), str(out), *ogr_args]))
            if shutil.which("ogr2ogr"):
                out.unlink(missing_ok=True)
                runs.setdefault("debian", []).append(timed(["ogr2ogr", *ogr_args, str(out), str(path)]))
            proj = work / "proj"
            shutil.rmtree(proj, ignore_errors=True)
            proj.mkdir()
            (proj / "config.yml").write_text("store: {backend: geopackage, path: store.gpkg}\n")
            runs.setdefault("ours", []).append(timed(
                [sys.executable, "-m", "geo_publish", "--config", str(proj / "config.yml"),
                 "ingest", str(path), "--collection", label]))
        results = {tool: (statistics.median(r.wall for r in rs), max(r.rss for r in rs),
                          max(r.pss for r in rs)) for tool, rs in runs.items()}
        base = results["anchor"][0]
        for tool, (wall, rss, pss) in results.items():
            spread = "" if a.repeat == 1 else "  runs " + ", ".join(f"{r.wall:.2f}" for r in runs[tool])
            print(f"{label:<10} {tool:<8} {wall:8.2f} {rss:8.0f} {pss:8.0f} {wall / base:7.2f}{spread}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
