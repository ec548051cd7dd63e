"""Through a real shared cache: nginx (Debian's, installed by scripts/system-deps.sh) with
proxy_cache in front of a live server, keyed on the URL alone, as a CDN would be. Alternating
languages, formats and compression through it never gives one client another variant's body
(the server's Vary does that), and a republished layer shows through it once max-age expires."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from geo_publish.cli.main import main
from server_testlib import LiveServer, free_port, make_sources, start

pytestmark = pytest.mark.slow
MAX_AGE = 2
NGINX = """
user root;
daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  proxy_cache_path {d}/cache levels=1:2 keys_zone=gp:10m max_size=100m inactive=10m use_temp_path=off;
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass {upstream};
      proxy_http_version 1.1;
      proxy_cache gp;
      proxy_cache_key $scheme$proxy_host$request_uri;
      add_header X-Cache-Status $upstream_cache_status always;
    }}
  }}
}}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> LiveServer:
    root = tmp_path_factory.mktemp("cached")
    (root / "config.yml").write_text("store: {backend: geopackage, path: data/store.gpkg}\n"
                                     f"server: {{cache_max_age: {MAX_AGE}}}\n")
    for cid, path in make_sources(root / "sources").items():
        assert main(["--config", str(root / "config.yml"), "ingest", str(path), "--collection", cid]) == 0
    srv = start(root)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def cache(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(nginx).exists(), "nginx is installed by scripts/system-deps.sh"
    d = tmp_path_factory.mktemp("nginx")
    port = free_port()
    (d / "nginx.conf").write_text(NGINX.format(d=d, port=port, upstream=server.url))
    proc = subprocess.Popen([nginx, "-p", str(d), "-c", str(d / "nginx.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/conformance", timeout=2)
            break
        except httpx.HTTPError:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(10)


VARIANTS = [  # (headers, what the body must show)
    ({"Accept-Language": "ru", "Accept": "application/json"}, ("json", "Каталог опубликованных слоёв")),
    ({"Accept-Language": "en", "Accept": "application/json"}, ("json", "Catalogue of published layers")),
    ({"Accept-Language": "uz", "Accept": "application/json"}, ("json", "E'lon qilingan qatlamlar katalogi")),
    ({"Accept-Language": "ru", "Accept": "text/html"}, ("html", "Каталог опубликованных слоёв")),
    ({"Accept-Language": "en", "Accept": "text/html"}, ("html", "Catalogue of published layers")),
]


def _get(url: str, headers: dict[str, str]) -> httpx.Response:
    # no automatic decompression: what the cache sent is what we look at
    with httpx.Client(timeout=30) as c:
        return c.get(url, headers={"Accept-Encoding": "identity", **headers})


def test_alternating_variants_never_get_another_ones_body(cache):
    statuses = []
    for _ in range(4):
        for headers, (kind, title) in VARIANTS:
            r = _get(cache + "/collections/catalogue", headers)
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/html" if kind == "html" else "application/json")
            assert title in r.text, (headers, r.text[:200])
            others = {t for _, (k, t) in VARIANTS if t != title}
            assert not any(t in r.text for t in others if t not in title), headers
            statuses.append(r.headers.get("x-cache-status"))
    assert "HIT" in statuses, statuses  # the cache did cache: what passed above came through it


def test_compressed_and_plain_clients_each_get_theirs(cache):
    path = cache + "/collections/many/items?limit=200"
    for _ in range(3):
        for enc in ("gzip", "identity"):
            with httpx.Client(timeout=30) as c, c.stream(
                    "GET", path, headers={"Accept-Encoding": enc}) as r:
                raw = b"".join(r.iter_raw())
            if enc == "gzip":
                assert r.headers.get("content-encoding") == "gzip"
                raw = gzip.decompress(raw)
            else:
                assert "content-encoding" not in r.headers
            assert raw.startswith(b'{"type":"FeatureCollection"')
            assert raw.count(b'"type":"Feature",') == 200


def test_a_republish_shows_through_the_cache_once_max_age_expires(server, cache, tmp_path):
    path = "/collections/many/items?limit=1"
    first = _get(cache + path, {})
    again = _get(cache + path, {})
    assert again.headers.get("x-cache-status") == "HIT"
    before = first.json()["numberMatched"]
    src = make_sources(tmp_path / "v2")["points"]  # a different layer as version 2
    assert server.cli("ingest", str(src), "--collection", "many").returncode == 0
    deadline = time.monotonic() + MAX_AGE + 10
    seen = before
    while time.monotonic() < deadline and seen == before:
        time.sleep(0.5)
        seen = _get(cache + path, {}).json()["numberMatched"]
    assert seen != before, "the new version never showed through the cache"
    assert time.monotonic() < deadline


def test_etag_changes_after_a_republish_and_a_rollback(server, tmp_path):
    def etag() -> str:
        return server.get("/collections/polygons/items", params={"limit": 1}).headers["etag"]

    def wait_for(old: str) -> str:
        end = time.monotonic() + 15
        while time.monotonic() < end:
            new = etag()
            if new != old:
                return new
            time.sleep(0.3)
        raise AssertionError("the ETag did not change")

    v1 = etag()
    src = make_sources(tmp_path / "again")["polygons"]
    assert server.cli("ingest", str(src), "--collection", "polygons").returncode == 0
    v2 = wait_for(v1)
    old = server.get("/collections/polygons/items", params={"limit": 1}, headers={"If-None-Match": v1})
    assert old.status_code == 200  # the old tag no longer matches
    assert server.cli("rollback", "polygons", "--to", "1").returncode == 0
    wait_for(v2)
