"""Reading versioned rows against reading one table per version, side by side in one run.

    apt-get install wrk                               # once (benchmarks/setup_anchors.sh does it)
    .venv/bin/python benchmarks/rows_read_bench.py [--points 1000000] [--republish 10]
        [--backends geopackage,postgis] [--base df91d8a] [--workdir DIR]

The anchor is the code before versioned rows (``--base``, a git worktree), which kept a table
per version. Each side ingests the same ``--points`` layer and republishes it ``--republish``
times with 1 % of its features changed (so the versioned side reads a view over rows of several
generations), then serves it (2 workers), alternating the two sides for 3 rounds; wrk -c16
for 10 s per request: ``items?limit=10``, one item, a bbox of ~1,000 features, a filter, and a
page deep in by offset. Prints requests/s of each side and the change.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyogrio

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from portal_bench import make_points, serve, wrk  # noqa: E402
from serve_bench import free_port, stop  # noqa: E402

PG = "postgresql://postgres@127.0.0.1:5432"
PATHS = {"items?limit=10": "/collections/pts/items?limit=10",
         "one item": "/collections/pts/items/500",
         "bbox": "/collections/pts/items?bbox=64,40,64.5,40.5&limit=1000",
         "filter": "/collections/pts/items?filter=value%20%3E%200.999&limit=100",
         "offset 500,000": "/collections/pts/items?limit=10&offset=500000"}


@contextlib.contextmanager
def worktree(at: Path, base: str) -> Iterator[Path]:
    """This repository at commit ``base``, checked out at ``at`` for the time of the block:
    the code a benchmark compares against."""
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(at), base],
                   check=True, capture_output=True)
    try:
        yield at
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(at)],
                       capture_output=True)


def gp(config: Path, *args: str, env: dict[str, str]) -> None:
    """geo-publish in the config's folder: ``python -m`` puts the working directory first on
    sys.path, so run from this checkout it would import this checkout, not ``PYTHONPATH``'s."""
    done = subprocess.run([sys.executable, "-m", "geo_publish", "--config", str(config), *args],
                          capture_output=True, text=True, env=env, cwd=config.parent)
    if done.returncode:
        raise SystemExit(f"geo-publish {' '.join(args)}: {done.stderr.strip()}")


def side(root: Path, backend: str, env: dict[str, str], src: Path, republish: int) -> Path:
    root.mkdir(parents=True)
    config = root / "config.yml"
    if backend == "postgis":
        config.write_text("store: {backend: postgis, dsn: '${GEO_PUBLISH_DSN}', schema: "
                          f"s_{root.name.replace('-', '_')}}}\n")
    else:
        config.write_text("store: {backend: geopackage, path: data/store.gpkg}\n")
    gp(config, "ingest", str(src), "--collection", "pts", env=env)
    frame = pyogrio.read_dataframe(src)
    rng = np.random.default_rng(5)
    for k in range(republish):
        pick = rng.choice(len(frame), len(frame) // 100, replace=False)
        frame.loc[pick, "value"] = rng.random(len(pick))
        again = root / f"v{k}.gpkg"
        pyogrio.write_dataframe(frame, again, layer="pts", use_arrow=True)
        gp(config, "ingest", str(again), "--collection", "pts", env=env)
        again.unlink()
    return config


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--republish", type=int, default=10)
    ap.add_argument("--backends", default="geopackage,postgis")
    ap.add_argument("--base", default="df91d8a")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--workdir", type=Path)
    a = ap.parse_args()
    work = a.workdir or Path(tempfile.mkdtemp(prefix="gp-rows-read-"))
    with worktree(work / "base-tree", a.base) as tree:
        src = work / "pts.gpkg"
        make_points(src, a.points)
        for backend in a.backends.split(","):
            env = os.environ.copy()
            if backend == "postgis":
                import psycopg

                with psycopg.connect(PG, autocommit=True) as c:
                    c.execute("DROP DATABASE IF EXISTS gp_rows_read WITH (FORCE)")
                    c.execute("CREATE DATABASE gp_rows_read")
                env["GEO_PUBLISH_DSN"] = f"{PG}/gp_rows_read"
            base_env = {**env, "PYTHONPATH": str(tree)}
            configs = {"tables": (side(work / f"{backend}-tables", backend, base_env, src, a.republish), base_env),
                       "rows": (side(work / f"{backend}-rows", backend, env, src, a.republish), env)}
            for which, (config, e) in configs.items():  # each side wrote what it should
                import sqlite3

                if backend == "geopackage":
                    with sqlite3.connect(config.parent / "data" / "store.layers" / "pts.gpkg") as c:
                        rows = bool(c.execute("SELECT 1 FROM sqlite_master WHERE name = 'gp_rowsets'").fetchone())
                    assert rows == (which == "rows"), f"{which}: the store was written by the other side's code"
            figures: dict[str, dict[str, list[float]]] = {k: {"tables": [], "rows": []} for k in PATHS}
            for _round in range(3):
                for which, (config, e) in configs.items():
                    port = free_port()
                    proc = serve(config, port, env=e)
                    try:
                        for name, path in PATHS.items():
                            wrk(f"http://127.0.0.1:{port}{path}", 2)  # warm
                            figures[name][which].append(wrk(f"http://127.0.0.1:{port}{path}", a.seconds))
                    finally:
                        stop(proc)
            print(f"[{backend}] {a.points:,} points, {a.republish + 1} versions (1 % changed each), "
                  f"2 workers, wrk -c16, mean of 3 alternating rounds (req/s)")
            print(f"  {'request':<16} {'table per version':>18} {'versioned rows':>15} {'change':>8}")
            for name, f in figures.items():
                t, r = statistics.mean(f["tables"]), statistics.mean(f["rows"])
                change = f"{(r / t - 1) * 100:+7.1f} %" if t else "(no answer under wrk's 2 s)"
                print(f"  {name:<16} {t:18,.0f} {r:15,.0f} {change}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
