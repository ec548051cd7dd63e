"""PostGIS in operation: the API reading from a streaming replica while ingest writes to the
primary, and a database restart under a running server (503 for the outage only, then back by
itself). Private PostgreSQL servers on free local ports (tests/pg_cluster.py)."""

from __future__ import annotations

import os
import threading
import time

import httpx
import psycopg
import pytest

from geo_publish.cli.main import main
from pg_cluster import Cluster, primary, remove, replica, wait_until
from server_testlib import LiveServer, make_sources, start

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pair():
    main_db = primary()
    standby = replica(main_db)
    yield main_db, standby
    remove(standby)
    remove(main_db)


@pytest.fixture(scope="module")
def live(pair, tmp_path_factory) -> LiveServer:
    main_db, standby = pair
    root = tmp_path_factory.mktemp("replica")
    os.environ["GP_TEST_PRIMARY"] = main_db.dsn
    os.environ["GP_TEST_REPLICA"] = standby.dsn
    (root / "config.yml").write_text(
        "store:\n  backend: postgis\n  dsn: ${GP_TEST_PRIMARY}\n  read_dsn: ${GP_TEST_REPLICA}\n")
    sources = make_sources(root / "sources")
    assert main(["--config", str(root / "config.yml"), "ingest", str(sources["points"]),
                 "--collection", "points"]) == 0
    srv = start(root, workers=2)
    yield srv
    srv.stop()


def _apps(cluster: Cluster) -> set[str]:
    with psycopg.connect(cluster.dsn, autocommit=True) as c:
        return {r[0] for r in c.execute("SELECT application_name FROM pg_stat_activity "
                                        "WHERE datname = 'gis'")}


def test_api_reads_from_the_replica(pair, live):
    main_db, standby = pair
    r = live.get("/collections/points/items", params={"limit": 100})
    assert r.status_code == 200 and r.json()["numberMatched"] == 13
    assert "geo-publish-serve" in _apps(standby)  # the API's pool is on the replica
    assert "geo-publish-serve" not in _apps(main_db)
    # a version published on the primary is served through the replica within seconds
    assert live.cli("ingest", str(live.root / "sources" / "many.gpkg"), "--collection", "points").returncode == 0
    assert wait_until(lambda: live.get("/collections/points/items", params={"limit": 1})
                      .json().get("numberMatched") == 2500, timeout=20)
    assert wait_until(lambda: {live.get("/collections/points").json()["version"]
                               for _ in range(8)} == {2}, timeout=20)  # every worker


def test_database_restart_gives_503_then_recovers(pair, live):
    _, standby = pair
    statuses: list[tuple[float, int]] = []
    passports: list[tuple[float, int]] = []  # read through the same pool: 503, not 404
    stop = threading.Event()

    def poll() -> None:
        with httpx.Client(timeout=30) as c:
            while not stop.is_set():
                for path, seen in (("/collections/points/items?limit=2", statuses),
                                   ("/passports/points.json", passports)):
                    try:
                        code = c.get(live.url + path).status_code
                    except httpx.HTTPError:
                        code = -1
                    seen.append((time.monotonic(), code))
                time.sleep(0.05)

    t = threading.Thread(target=poll)
    t.start()
    try:
        time.sleep(1)
        down = time.monotonic()
        standby.stop()
        time.sleep(6)
        up = time.monotonic()
        standby.start()
        assert wait_until(lambda: statuses and statuses[-1][1] == 200 and statuses[-1][0] > up,
                          timeout=30)
        time.sleep(1)
    finally:
        stop.set()
        t.join()
    codes = {code for _, code in statuses}
    assert codes <= {200, 503}, codes  # never a 500, never a dropped connection
    assert {code for _, code in passports} <= {200, 503}, passports
    assert any(code == 503 for when, code in passports if down < when < up + 1)
    assert any(code == 503 for when, code in statuses if down < when < up + 1)
    assert all(code == 200 for when, code in statuses if when < down)
    recovered = [when for when, code in statuses if code == 200 and when > up]
    assert recovered and recovered[0] - up < 15  # back by itself, no restart of ours
    assert all(code == 200 for when, code in statuses if when > recovered[0] + 2)
    r = live.get("/collections/points/items/1")
    assert r.status_code == 200
