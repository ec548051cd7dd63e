"""Every link of every page the server serves leads somewhere, after a live publish, a rollback
and a prune, on both stores: no 5xx, no broken internal link (HTML and JSON, API, site and the
portal signed in)."""

from __future__ import annotations

import re
import secrets
from collections import Counter, deque
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin, urlsplit

import httpx
import pytest

from gp_testlib import canonical_points, cli_here
from portal_testlib import Portal, setup_people, wait_for
from server_testlib import make_sources, start, write_config

pytestmark = pytest.mark.slow
MAX_PAGES = 900  # a bound on the walk: the test layers make about half of that
PER_SHAPE = 6  # pages of one shape (one item page looks like the next) visited at most


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value and (name == "href" and tag in ("a", "link", "area")
                          or name == "src" and tag in ("script", "img", "iframe")):
                self.links.append(value)


def _json_links(doc: object) -> list[str]:
    found: list[str] = []
    if isinstance(doc, dict):
        if isinstance(doc.get("href"), str) and "{" not in doc["href"]:  # templated links aside
            found.append(doc["href"])
        for value in doc.values():
            found += _json_links(value)
    elif isinstance(doc, list):
        for value in doc:
            found += _json_links(value)
    return found


def _shape(path: str, query: str) -> str:
    """/collections/x/items/17?f=html -> /collections/x/items/#?f: pages alike, counted together."""
    parts = [p if not re.search(r"\d", p) or p.startswith("layer-") else "#" for p in path.split("/")]
    return "/".join(parts) + "?" + ",".join(sorted(k.split("=")[0] for k in query.split("&") if k))


def walk(client: httpx.Client, base: str, starts: list[str], skip: re.Pattern[str]) -> dict[str, int]:
    """GET every page reachable from ``starts`` on ``base``; {url: status}."""
    seen: dict[str, int] = {}
    shapes: Counter[str] = Counter()
    queue = deque(urljoin(base, s) for s in starts)
    origin = urlsplit(base).netloc
    while queue and len(seen) < MAX_PAGES:
        url = urldefrag(queue.popleft())[0]
        parts = urlsplit(url)
        if url in seen or parts.netloc != origin or skip.search(parts.path):
            continue
        shape = _shape(parts.path, parts.query)
        if shapes[shape] >= PER_SHAPE:
            continue
        shapes[shape] += 1
        r = client.get(url)
        seen[url] = r.status_code
        if r.status_code != 200:
            continue
        kind = r.headers.get("content-type", "")
        if "html" in kind:
            parser = _Links()
            parser.feed(r.text)
            links = parser.links
        elif "json" in kind and len(r.content) < 5_000_000:
            try:
                links = _json_links(r.json())
            except ValueError:
                links = []
        else:
            links = []
        for link in links:
            if link.startswith(("mailto:", "tel:", "javascript:", "data:", "geo:")):
                continue
            queue.append(urljoin(url, link))
    return seen


@pytest.fixture(scope="module", params=["geopackage", "postgis"])
def portal(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Portal:
    root = tmp_path_factory.mktemp(f"links-{request.param}")
    write_config(root, request, f"links_{secrets.token_hex(4)}")
    sources = make_sources(root / "sources")
    for cid in ("points", "polygons"):
        done = cli_here(root / "config.yml", "ingest", str(sources[cid]), "--collection", cid)
        assert done.returncode == 0, done.stderr
    server = start(root, workers=2)
    p = Portal(server)
    setup_people(p)
    assert p.cli("admin", "assign", "--org", "emergency").returncode == 0
    yield p
    server.stop()


def test_every_link_leads_somewhere_after_live_changes(portal: Portal) -> None:
    srv = portal.server
    for _ in range(10):  # both workers have rendered HTML pages (pygeoapi keeps what they used)
        assert srv.get("/collections/points?f=html").status_code == 200
    # while the server runs: a new layer, a new version, a rollback and a prune
    assert srv.cli("ingest", str(srv.root / "sources" / "many.gpkg"), "--collection", "fresh").returncode == 0
    pts = canonical_points()
    for n in (5, 8):
        src = srv.root / "sources" / f"points{n}.geojson"
        pts.iloc[:n].to_file(src, driver="GeoJSON")
        assert srv.cli("ingest", str(src), "--collection", "polygons").returncode == 0  # v2, v3
    assert srv.cli("rollback", "polygons", "--to", "2").returncode == 0
    done = srv.cli("prune", "polygons", "--keep", "2")
    assert done.returncode == 0, done.stderr
    # every worker and the site have seen them
    assert wait_for(lambda: all("fresh" in {c["id"] for c in srv.get("/collections").json()["collections"]}
                                for _ in range(6)), 20)
    assert wait_for(lambda: "layer-fresh.html" in srv.get("/site/index.html").text, 60)
    # each worker's HTML pages of the new layer (a request lands on either worker)
    for path in ("/collections/fresh?f=html", "/collections/fresh/items?f=html", "/collections?f=html",
                 "/collections/polygons?f=html"):
        statuses = {srv.get(path).status_code for _ in range(10)}
        assert statuses == {200}, (path, statuses)

    with httpx.Client(timeout=30, follow_redirects=True) as anonymous:
        public = walk(anonymous, srv.url, ["/", "/?f=html", "/collections?f=html", "/collections?f=json",
                                           "/collections/fresh?f=html", "/site/", "/publish/login",
                                           "/catalog"],
                      re.compile(r"^/publish/(?!login|password)|/openapi|\.pmtiles$"))
    signed_in = portal.session("anna@example.org")
    signed_in.follow_redirects = True
    portal_pages = walk(signed_in, srv.url, ["/publish/"],
                        re.compile(r"^/(?!publish/)|/publish/logout|/publish/api/"))
    seen = public | portal_pages
    assert len(public) > 100 and len(portal_pages) >= 5, (len(public), len(portal_pages))
    assert "/collections/fresh" in " ".join(public)  # the layer published live was walked
    bad = {url: status for url, status in seen.items() if status >= 500 or status == 404}
    assert bad == {}, bad


@pytest.mark.parametrize("path, accept", [
    ("/site/nothing.html", "text/html"), ("/site/downloads/x", "application/json"),
    ("/site/data/nothing.v1.json", "*/*"),
])
def test_a_missing_site_file_is_a_404_in_the_format_asked_for(portal: Portal, path: str, accept: str) -> None:
    r = httpx.get(portal.url + path, headers={"Accept": accept}, timeout=30)
    assert r.status_code == 404
    if accept == "text/html":
        assert r.headers["content-type"].startswith("text/html") and "<html" in r.text.lower()
    else:
        assert r.json()["code"] == "NotFound"
