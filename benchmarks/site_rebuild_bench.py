"""The citizen site rebuilt after one layer is published again, at N layers, against the code
before (``--base``, a git worktree), side by side in one run.

    .venv/bin/python benchmarks/site_rebuild_bench.py [--layers 1000] [--base 796f8b6]
        [--rounds 5] [--workdir DIR]
    .venv/bin/python benchmarks/site_rebuild_bench.py --layers 10000 --base none

``--base none`` measures this checkout alone (at 10,000 layers the other side would double an
hour-long run), its layers grown two ingests at a time; with ``--reuse``, the project already in
``--workdir``/now is measured again without growing it (the first build is then the site made
again by this code, in place).

Each side grows its own GeoPackage project of ``--layers`` small layers (20 points each, the
layers of ``many_layers_bench.py``) through the real ingest with its own code, builds the site
once (``publish_site``, as the server's site builder does, live), then ``--rounds`` times
publishes one layer again and times the rebuild in the same process (a warm builder, as the
server's is). Prints the median and the largest rebuild of each side and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from many_layers_bench import BUILDER, grow, make_layer  # noqa: E402
from rows_read_bench import worktree  # noqa: E402

REBUILD = r"""
import json, sys, time
from pathlib import Path
from geo_publish import workflow
from geo_publish.publish.viewer.deploy import publish_site
from geo_publish.settings import load_settings
root, rounds = Path(sys.argv[1]), int(sys.argv[2])
s = load_settings(root / "config.yml")
import inspect
# the server's site builder names what its watcher saw change (the layer's manifest, which an
# ingest may write); code before that had no such parameter
watched = {}
if "changed" in inspect.signature(publish_site).parameters:
    from geo_publish.read.state import FileTimes, state_signature, watched as folders
    times = FileTimes(folders(s))  # the builder's: kept up to date from what its watcher names
    watched = {"changed": {"layer-00007"}}
t = time.perf_counter(); publish_site(s, live=True); first = time.perf_counter() - t
out = []
for k in range(rounds):
    src = root / "src" / "layer-00007.geojson"
    d = json.loads(src.read_text()); d["features"][0]["properties"]["n"] += 1
    src.write_text(json.dumps(d))
    workflow.ingest(s, src, "layer-00007", progress=False)
    t = time.perf_counter()
    if watched:
        times.update({"layer-00007"})
        watched["signature"] = state_signature(s, times)
    _, built = publish_site(s, live=True, **watched); out.append(time.perf_counter() - t)
    assert built
import resource
print(json.dumps({"first": first, "rebuilds": out,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def side(root: Path, layers: int, rounds: int, pythonpath: Path, jobs: int = 1,
         reuse: bool = False) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    scripts = [(REBUILD, [str(root), str(rounds)])]
    if reuse and (root / "config.yml").exists():
        pass
    elif jobs > 1:  # this checkout's code: many_layers_bench's ingests side by side
        root.mkdir(parents=True)
        (root / "config.yml").write_text("store: {backend: geopackage, path: data/store.gpkg}\n")
        grow(root, 0, layers, jobs=jobs)
    else:
        root.mkdir(parents=True)
        (root / "config.yml").write_text("store: {backend: geopackage, path: data/store.gpkg}\n")
        for i in range(layers):
            make_layer(root, i)
        scripts.insert(0, (BUILDER, [str(root), "0", str(layers)]))
    for script, args in scripts:
        done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                              env=env, cwd=root)
        if done.returncode:
            raise SystemExit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=1000)
    ap.add_argument("--base", default="796f8b6")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--reuse", action="store_true", help="with --base none: the project in --workdir as it is")
    a = ap.parse_args()
    work = a.workdir or Path(tempfile.mkdtemp(prefix="gp-site-rebuild-"))
    if a.base == "none":
        now = side(work / "now", a.layers, a.rounds, ROOT, jobs=2, reuse=a.reuse)
        print(f"site of {a.layers:,} layers (GeoPackage), rebuilt after one publish, {a.rounds} rounds (s): "
              f"first build {now['first']:.2f}, rebuild median {statistics.median(now['rebuilds']):.2f}, "
              f"largest {max(now['rebuilds']):.2f}; peak memory of the process {now['peak_mb']:.0f} MB")
        return 0
    with worktree(work / "base-tree", a.base) as tree:
        figures = {"before": side(work / "before", a.layers, a.rounds, tree),
                   "now": side(work / "now", a.layers, a.rounds, ROOT)}
    print(f"site of {a.layers:,} layers (GeoPackage), rebuilt after one publish, {a.rounds} rounds (s)")
    print(f"  {'':<24} {a.base + ' (before)':>16} {'this checkout':>14} {'ratio':>6}")
    rows = {"first build": lambda f: f["first"],
            "rebuild, median": lambda f: statistics.median(f["rebuilds"]),
            "rebuild, largest": lambda f: max(f["rebuilds"])}
    for name, get in rows.items():
        b, n = get(figures["before"]), get(figures["now"])
        print(f"  {name:<24} {b:16.2f} {n:14.2f} {n / b:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
