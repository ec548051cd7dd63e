"""A national portal's catalogue in CI: 1,000 small layers built through the real ingest, and
the cost of each operation compared with the same operation at 10 layers (the ratios the issue
asks of the benchmark, ``benchmarks/many_layers_bench.py``, which reports them at 10, 1,000 and
10,000). Absolute times are only asserted where the issue gives a bound. (2,000 layers took
160 s of a suite that must keep to 25 minutes; the benchmark measures 10,000.)"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from many_layers_bench import grow, publish, rss, settle, timed, workers_of  # noqa: E402
from server_testlib import start  # noqa: E402

pytestmark = pytest.mark.slow
N = 1000
SMALL = 10
# p50 of a request of ~1 ms, measured minutes apart on a shared 2-core machine: the benchmark
# gives the figure (the bound is 1.2x); here a margin for the machine's noise
NOISE = 1.5


def _figures(root: Path, n: int) -> dict[str, float]:
    srv = start(root, workers=2, timeout=120)
    t0 = time.monotonic()
    try:
        settle(srv.proc.pid)  # measured once the first site build and the warming are done
        mid, out = f"layer-{n // 2:05d}", {}
        with httpx.Client(base_url=srv.url, timeout=60) as c:
            for path in ("/collections?f=json", f"/collections/{mid}/items?limit=10&f=json", "/catalog.jsonld"):
                assert c.get(path).status_code == 200, path
            out["items"] = timed(c, f"{srv.url}/collections/{mid}/items?limit=10&f=json", 300)
            out["item"] = timed(c, f"{srv.url}/collections/{mid}/items/7?f=json", 300)
            out["collection"] = timed(c, f"{srv.url}/collections/{mid}?f=json", 300)
            out["dcat"] = timed(c, f"{srv.url}/catalog.jsonld", 50)
            out["collections"] = timed(c, f"{srv.url}/collections?f=json", 20)
            out["q latin"] = timed(c, f"{srv.url}/collections/catalogue/items?q=maktab&f=json", 20)
            out["q cyrillic"] = timed(c, f"{srv.url}/collections/catalogue/items?q=мактаб&f=json", 20)
            assert c.get("/collections/catalogue/items?q=мактаб&f=json").json()["numberMatched"] == -(-n // 4)
            out["rss"] = max(rss(w) for w in workers_of(srv.proc.pid))
            done = publish(root, mid, 13)
            seen = 0
            while seen < 20 and time.monotonic() - done < 30:  # 20 answers in a row: both workers
                seen = seen + 1 if c.get(f"/collections/{mid}/items?limit=100&f=json").json()[
                    "numberMatched"] == 13 else 0
            out["visible"] = time.monotonic() - done
        out["up"] = t0  # (start() returned when /conformance answered)
    finally:
        srv.stop()
    return out


def test_the_cost_of_an_operation_does_not_grow_with_the_number_of_layers(tmp_path: Path) -> None:
    root = tmp_path / "portal"
    root.mkdir()
    # DCAT pages of 10 datasets: the page at 10 layers and at 1,000 say as much
    (root / "config.yml").write_text("store: {backend: geopackage, path: data/store.gpkg}\n"
                                     "catalogue: {page_size: 10}\n")
    first = grow(root, 0, SMALL)
    small = _figures(root, SMALL)
    t = time.monotonic()
    grown = grow(root, SMALL, N, jobs=2)
    build_s = time.monotonic() - t
    started = time.monotonic()
    big = _figures(root, N)
    up = big["up"] - started
    report = {k: (round(small[k], 2), round(big[k], 2)) for k in small if k != "up"}
    print(f"\n{N} layers built in {build_s:.0f} s; serve answered after {up:.1f} s; "
          f"(at {SMALL}, at {N}): {report}")
    # ingest of one more small layer: its cost with 1,000 layers as with the first ones
    early = statistics.median(first[2:] + grown[:20])
    late = statistics.median(grown[-40:])
    assert late <= 1.5 * early, (early, late)
    assert up <= 30, up
    for key in ("items", "item", "collection", "dcat"):
        # (below 1 ms, a fraction of a millisecond is the machine, not the number of layers)
        assert big[key] <= NOISE * max(small[key], 1.0), (key, report[key])
    for key in ("collections", "q latin", "q cyrillic"):
        assert big[key] <= 200, (key, report[key])
    assert big["visible"] <= 2.0, report["visible"]
    assert big["rss"] < 300, report["rss"]
