"""A live geo-publish server on 127.0.0.1 for the API tests: real processes, real sockets."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import geopandas as gpd
import httpx
import numpy as np
import pytest
import shapely

from gp_testlib import canonical_points, canonical_polygons

XSS = "<img src=x onerror=alert(1)>"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    root: Path
    url: str
    proc: subprocess.Popen[bytes]

    @property
    def config(self) -> Path:
        return self.root / "config.yml"

    def get(self, path: str, **kw: object) -> httpx.Response:
        return httpx.get(self.url + path, timeout=30, **kw)  # type: ignore[arg-type]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "geo_publish", "--config", str(self.config), *args],
                              capture_output=True, text=True, timeout=300)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        try:  # workers, site builder, runners: nothing of it outlives the test
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def write_config(root: Path, request: object, schema: str, extra: str = "") -> Path:
    """config.yml for the backend ``request.param`` names (a PostGIS database per test run, its
    DSN in the environment as the store requires), plus ``extra`` settings."""
    if request.param == "postgis":  # type: ignore[attr-defined]
        os.environ["GEO_PUBLISH_DSN"] = request.getfixturevalue("pg_database")  # type: ignore[attr-defined]
        store = f"store:\n  backend: postgis\n  dsn: ${{GEO_PUBLISH_DSN}}\n  schema: {schema}\n"
    else:
        store = "store: {backend: geopackage, path: data/store.gpkg}\n"
    (root / "config.yml").write_text(store + extra)
    return root / "config.yml"


def make_sources(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    pts = canonical_points()
    extra = gpd.GeoDataFrame({"ID": [13], "НАЗВАНИЕ": [XSS], "ВМЕСТ": [None], "nomi": ["Бухоро"]},
                             geometry=shapely.points([(64.4286, 39.7747)]), crs="OGC:CRS84")
    pts = gpd.GeoDataFrame(pd_concat([pts, extra]), crs="OGC:CRS84")
    out = {"points": folder / "points.geojson", "polygons": folder / "polygons.gpkg",
           "many": folder / "many.gpkg"}
    pts.to_file(out["points"], driver="GeoJSON")
    canonical_polygons().to_crs("EPSG:32642").to_file(out["polygons"], driver="GPKG")
    rng = np.random.default_rng(7)
    n = 2500
    many = gpd.GeoDataFrame({"kod": np.arange(n), "val": rng.integers(0, 100, n)},
                            geometry=shapely.points(rng.uniform(56, 73, n), rng.uniform(37, 45.5, n)),
                            crs="OGC:CRS84")
    many.to_file(out["many"], driver="GPKG")
    return out


def pd_concat(frames: list[gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    import pandas as pd

    return pd.concat(frames, ignore_index=True)  # type: ignore[return-value]


def start(root: Path, workers: int = 2, timeout: float = 90) -> LiveServer:
    """`geo-publish serve` on a free port, once /conformance and the site's index answer
    (within ``timeout`` s, the first site build included: serve answers the API before it)."""
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log = open(root / "server.log", "wb")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(
        [sys.executable, "-m", "geo_publish", "--config", str(root / "config.yml"), "serve",
         "--port", str(port), "--workers", str(workers)],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root, start_new_session=True,
    )
    server = LiveServer(root, f"http://127.0.0.1:{port}", proc)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited: " + (root / "server.log").read_text()[-2000:])
        try:
            if httpx.get(server.url + "/conformance", timeout=2).status_code == 200 \
                    and httpx.get(server.url + "/site/index.html", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    server.stop()
    raise RuntimeError("server did not start: " + (root / "server.log").read_text()[-2000:])


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`geo-publish demo` (the repository's sample layers and styles) served once for the session:
    what a new user sees; read, never changed, by the tests that use it."""
    from geo_publish.cli.main import main

    repo = Path(__file__).resolve().parents[1]
    root = tmp_path_factory.mktemp("demo")
    (root / "config.yml").write_text(
        f"collections_dir: {repo / 'collections'}\nstyles_dir: {repo / 'styles'}\n")
    assert main(["--config", str(root / "config.yml"), "demo", "--no-serve"]) == 0
    srv = start(root / "data" / "demo", workers=1)
    yield srv
    srv.stop()
