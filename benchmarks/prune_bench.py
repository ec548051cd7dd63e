"""What pruning old versions saves, beside the anchor of keeping every version, in one run.

    .venv/bin/python benchmarks/prune_bench.py [--versions 200] [--features 10000]

A layer of FEATURES points is published VERSIONS times (as a live layer updated through the API
would be, one copy a version) into two GeoPackage stores: one keeps every version
(store.keep_versions: 0, the anchor), the other prunes after each version with keep_versions 50
(the runner does it every minute; the minute of grace is set to 0 here). Figures: the store's
file size and version tables at the end, the time of each pruning (p50, max), and the time of a
publish in each store (p50).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from portal_bench import make_points  # noqa: E402


def run(work: Path, versions: int, features: int, keep: int) -> dict[str, float]:
    from geo_publish.cli.main import main
    from geo_publish.settings import load_settings
    from geo_publish.store import base, open_store

    base.GRACE_S = 0
    work.mkdir(parents=True)
    (work / "config.yml").write_text(
        f"store: {{backend: geopackage, path: data/store.gpkg, keep_versions: {keep}}}\n")
    src = work / "pts.gpkg"
    make_points(src, features)
    config = str(work / "config.yml")
    store = open_store(load_settings(config))
    publish, prune = [], []
    for _ in range(versions):
        t = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["--config", config, "ingest", str(src), "--collection", "live"]) == 0
        publish.append(time.perf_counter() - t)
        if keep:
            t = time.perf_counter()
            store.prune(keep)
            prune.append(time.perf_counter() - t)
    kept = sum(not v.pruned for v in store.history("live"))
    return {"size": (work / "data" / "store.gpkg").stat().st_size, "kept": kept,
            "publish": statistics.median(publish),
            "prune_p50": statistics.median(prune) if prune else 0.0, "prune_max": max(prune, default=0.0)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--versions", type=int, default=200)
    ap.add_argument("--features", type=int, default=10_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="gp-prune-") as tmp:
        print(f"{args.versions} versions of a {args.features:,}-point layer, GeoPackage store")
        rows = [("keep every version (anchor)", run(Path(tmp) / "all", args.versions, args.features, 0)),
                ("keep_versions: 50", run(Path(tmp) / "keep", args.versions, args.features, 50))]
        print(f"  {'':<28} {'store':>10} {'versions kept':>14} {'publish p50':>12} {'prune p50':>10} {'prune max':>10}")
        for name, r in rows:
            print(f"  {name:<28} {r['size'] / 2**20:>7.1f} MB {r['kept']:>14} {r['publish'] * 1000:>9.0f} ms "
                  f"{r['prune_p50'] * 1000:>7.1f} ms {r['prune_max'] * 1000:>7.1f} ms")
        print(f"  ratio of store sizes: {rows[1][1]['size'] / rows[0][1]['size']:.2f}")


if __name__ == "__main__":
    main()
