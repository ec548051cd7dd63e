"""A 1,000,000-point layer republished while the server answers, on both stores: no failed or
slow request, the new version on every worker within seconds of the ingest's end, no worker
restarted (the site is rebuilt beside them, not in them), and the served site updated in place
(data files first, then each page replaced whole) while /site/ keeps answering. Also: a killed worker comes back serving at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pyogrio
import pytest
import shapely

from server_testlib import LiveServer, start, write_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from many_layers_bench import workers_of  # noqa: E402

pytestmark = pytest.mark.slow
N = 1_000_000


def _points(path: Path) -> Path:
    import geopandas as gpd

    rng = np.random.default_rng(5)
    frame = gpd.GeoDataFrame({"value": rng.integers(0, 1000, N)},
                             geometry=shapely.points(rng.uniform(66, 72, N), rng.uniform(38, 42, N)),
                             crs="OGC:CRS84")
    pyogrio.write_dataframe(frame, path, layer="pts", use_arrow=True)
    return path


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _points(tmp_path_factory.mktemp("million") / "pts.gpkg")


@pytest.fixture(params=["geopackage", "postgis"])
def server(request: pytest.FixtureRequest, tmp_path: Path, source: Path) -> LiveServer:
    write_config(tmp_path, request, "million")
    done = subprocess.run([sys.executable, "-m", "geo_publish", "--config", str(tmp_path / "config.yml"),
                           "ingest", str(source), "--collection", "pts"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    srv = start(tmp_path, workers=2, timeout=300)  # the first site of 1,000,000 points: 30 s idle
    yield srv
    srv.stop()


def _workers(serve_pid: int) -> set[int]:
    """uvicorn's worker processes under serve (not the site builder, not the runners)."""
    return set(workers_of(serve_pid)) - {serve_pid}


def _version_everywhere(url: str, want: int) -> bool:
    return all(httpx.get(url + "/collections/pts", timeout=5).json().get("version") == want
               for _ in range(12))


def test_republish_under_load(server: LiveServer, source: Path):
    url = server.url
    workers = _workers(server.proc.pid)
    assert len(workers) == 2, workers
    site_before = (server.root / "build" / "site").resolve()
    results: list[tuple[str, int, float]] = []
    stop = threading.Event()

    def load(paths: list[str]) -> None:
        with httpx.Client(timeout=10) as c:
            i = 0
            while not stop.is_set():
                path = paths[i % len(paths)]
                i += 1
                t0 = time.monotonic()
                try:
                    code = c.get(url + path).status_code
                except httpx.HTTPError:
                    code = -1
                results.append((path, code, time.monotonic() - t0))

    paths = ["/collections/pts/items?limit=10", "/collections/pts/items?bbox=68,39,68.1,39.1&limit=10",
             "/site/index.html"]
    threads = [threading.Thread(target=load, args=(paths[k % 3:] + paths[:k % 3],)) for k in range(8)]
    # the server's time is measured, not this process's: a collection of the suite's heap here
    # would stall all eight clients at once and count as slow answers
    import gc

    gc.collect()
    gc.disable()
    for t in threads:
        t.start()
    try:
        time.sleep(2)
        done = server.cli("ingest", str(source), "--collection", "pts")
        assert done.returncode == 0, done.stderr
        ended = time.monotonic()
        while not _version_everywhere(url, 2):
            assert time.monotonic() - ended < 5, "version 2 not served by every worker within 5 s"
            time.sleep(0.2)
        time.sleep(5)
    finally:
        stop.set()
        for t in threads:
            t.join()
        gc.enable()
    bad = [(p, c) for p, c, _ in results if c != 200]
    # slow is judged on the tail, not on one request: a worker blocked by the reload would make a
    # run of slow answers (p99), a worker blocked for good one answer past 5 s. A single pause of
    # 2.3 s of all four requests on one worker was seen once in CI (the 1,000,000-row COPY in
    # PostgreSQL's own, un-niced backend, with the site builder and 8 clients on 2 cores); p99 here
    # is 0.10-0.12 s, the worst answer 0.7-0.9 s
    took = sorted(s for _, _, s in results)
    p99 = took[int(len(took) * 0.99)]
    slow = [(p, round(s, 2)) for p, _, s in results if s > 5]
    assert len(results) > 200 and not bad and p99 < 0.5 and not slow, (len(results), bad[:5], p99, slow[:5])
    assert _workers(server.proc.pid) == workers, "a worker was restarted"
    # the site builder updates the served site: the layer's page names version 2 once its data are there
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline:
        if "pts.v2." in httpx.get(url + "/site/layer-pts.html", timeout=10).text:
            break
        assert httpx.get(url + "/site/index.html", timeout=10).status_code == 200
        time.sleep(2)
    else:
        raise AssertionError("the site for version 2 never came")
    assert (server.root / "build" / "site").resolve() == site_before  # in place, not a new folder
    # a killed worker comes back serving at once: it builds nothing
    victim = sorted(workers)[0]
    os.kill(victim, signal.SIGKILL)
    t0 = time.monotonic()
    while len(_workers(server.proc.pid) - {victim}) < 2:
        assert time.monotonic() - t0 < 10, "no new worker"
        time.sleep(0.2)
    codes = [httpx.get(url + "/collections/pts/items?limit=1", timeout=5).status_code for _ in range(20)]
    assert codes == [200] * 20 and time.monotonic() - t0 < 15
