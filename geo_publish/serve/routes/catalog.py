"""The DCAT-AP catalogue at stable addresses, for the national portal to harvest:
``/catalog`` (content negotiation: Turtle, RDF/XML, JSON-LD) and ``/catalog.ttl``, ``.rdf``,
``.xml``, ``.jsonld``; ``?page=N`` pages of ``catalogue.page_size`` datasets, linked with hydra.

What it says comes from the store (the published versions and their passports, read through the
server's reader), the portal's accounts (who owns each layer) and the viewer site (the download
files, their sizes and checksums). Each dataset's part of a page is kept, per serialisation,
while what it says stays the same, and a page is assembled from the parts: rdflib takes some
10 ms to describe one layer, so only what changed is described again. Whole pages are kept for a
minute per worker, and dropped at once when anything is published or the site is rebuilt.
Each worker describes its datasets ahead of requests (:func:`keep_warm`) when a version is
published, a site swapped in or a day begins, so a harvester that comes once a day is not the
one who waits for rdflib.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from geo_publish import freshness
from geo_publish.errors import BadRequest, NotAcceptable, NotFound
from geo_publish.http.asgi import VARY, cors, none_match
from geo_publish.passport import dcat
from geo_publish.read.readers import Reader
from geo_publish.serve import caching, validate
from geo_publish.settings import Settings

LOG = logging.getLogger("geo_publish.catalog")
PATH = re.compile(r"^/catalog(?:\.([^/]*))?$")
PARAMS = {"page", "f"}
TTL = 60.0  # seconds a page is reused (freshness states change by the day)
WARM_AHEAD = 200  # datasets described when a worker starts (the first pages); later, only those that change
_ACCEPT = {"text/turtle": "ttl", "application/x-turtle": "ttl", "application/rdf+xml": "rdf",
           "application/ld+json": "jsonld", "application/json": "jsonld",
           "text/n3": "ttl", "application/xml": "rdf", "text/xml": "rdf"}
# download format -> file extension in the viewer site's downloads folder
_DOWNLOADS = {"GeoJSON": "geojson", "GeoPackage": "gpkg", "CSV": "csv", "GeoTIFF (COG)": "tif"}


def negotiate(ext: str | None, params: dict[str, str], accept: str) -> str:
    """The serialisation asked for: the extension, else ``f=``, else the Accept header (by
    q-value; Turtle for */* and for browsers)."""
    if ext is not None:
        if ext not in dcat.SERIALISATIONS:
            raise NotFound("the catalogue is at /catalog.ttl, /catalog.rdf (or .xml) and "
                           "/catalog.jsonld, or /catalog with an Accept header")
        return ext
    if params.get("f"):
        f = params["f"]
        if f not in dcat.SERIALISATIONS:
            raise BadRequest(f"f: the catalogue is offered as {', '.join(dcat.SERIALISATIONS)} (not {f!r})")
        return f
    if not accept.strip():
        return "ttl"
    ranked = []
    for i, part in enumerate(accept.split(",")):
        kind, _, rest = part.strip().partition(";")
        q = 1.0
        for p in rest.split(";"):
            name, _, value = p.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranked.append((-q, i, kind.strip().lower()))
    for q, _, kind in sorted(ranked):
        if q == 0:
            continue
        if kind in _ACCEPT:
            return _ACCEPT[kind]
        if kind in ("*/*", "text/*", "application/*", "text/html", "application/xhtml+xml"):
            return "ttl"
    raise NotAcceptable("the catalogue is offered as text/turtle, application/rdf+xml and "
                        "application/ld+json")


class Catalogue:
    """Builds and keeps the catalogue's pages for one server worker."""

    def __init__(self, settings: Settings, base: str, reader: Reader) -> None:
        c = settings.catalogue
        self.settings = settings
        self.reader = reader
        self.site = dcat.Site(base=base.rstrip("/"), title=c.title, description=c.description,
                              publisher=c.publisher, publisher_email=c.publisher_email,
                              homepage=f"{base.rstrip('/')}/site/")
        self.site_dir = settings.path(settings.build_dir) / "site"
        self.per_page = c.page_size
        self._pages: dict[tuple[Any, ...], tuple[float, bytes]] = {}
        self._parts: dict[tuple[str, ...], str] = {}
        self.made = 0  # parts described so far
        self._lock = threading.Lock()
        self._accounts_ready = False
        self._warmed: dict[str, int] | None = None  # what warm() described last

    # -- what the store says -----------------------------------------------------------------
    def _rows(self, only: list[str] | None = None, offset: int = 0,
              limit: int | None = None) -> list[tuple[str, int, str, dict[str, Any]]]:
        return self.reader.published_passports(only, offset, limit)

    def _owners(self) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
        """Who owns each layer, and the organisations, through the reader's kept connection (a
        new connection to a GeoPackage of hundreds of layers costs tens of milliseconds)."""
        if not self._accounts_ready:  # the portal's tables, made if the portal was never used
            from geo_publish.store import open_store

            open_store(self.settings).accounts(pooled=True).orgs()
            self._accounts_ready = True
        q = self.reader.q
        owners = {c: o for c, o in self.reader.rows(f"SELECT collection, org_id FROM {q('gp_owners')}", [])}
        orgs = {i: {"id": i, "name": n, "email": e}
                for i, n, e in self.reader.rows(f"SELECT id, name, email FROM {q('gp_orgs')}", [])}
        return owners, orgs

    def _downloads(self, cid: str, version: int) -> list[dcat.Download]:
        out = []
        for fmt, ext in _DOWNLOADS.items():
            path = self.site_dir / "downloads" / f"{cid}.v{version}.{ext}"
            try:
                size = path.stat().st_size
            except OSError:
                continue
            out.append(dcat.Download(fmt, f"{self.site.base}/site/downloads/{path.name}", size,
                                     _sidecar(path)))
        return out

    def entries(self, collections: list[str] | None = None, offset: int = 0,
                limit: int | None = None) -> list[dcat.Entry]:
        """The datasets: every one, those named, or a page of them (by collection id)."""
        owners, orgs = self._owners()
        out = []
        for cid, version, created, passport in self._rows(collections, offset, limit):
            org = orgs.get(owners.get(cid, ""))
            page = self.site_dir / f"layer-{cid}.html"
            out.append(dcat.Entry(passport, version, created, org, self._downloads(cid, version),
                                  f"{self.site.base}/site/{page.name}" if page.is_file() else None))
        return out

    # -- answers -------------------------------------------------------------------------------
    def _part(self, entry: dcat.Entry, ext: str, at: datetime) -> str:
        """One dataset's part of a page, kept while what it says stays the same (its version,
        owner, downloads, and its freshness state of the day)."""
        state = freshness.rate(entry.passport.get("update_frequency"), entry.published, at)["state"]
        key = (dcat.SERIALISATIONS[ext][0], at.date().isoformat(), state, json.dumps(
            [entry.passport, entry.version, entry.published, entry.org, entry.landing_page,
             [dataclasses.astuple(d) for d in entry.downloads]], sort_keys=True, default=str))
        with self._lock:
            found = self._parts.get(key)
        if found is None:
            found = dcat.part(dcat.one(self.site, entry, at), ext)
            with self._lock:
                if len(self._parts) > 20_000:
                    self._parts.clear()
                self._parts[key] = found
                self.made += 1
        return found

    def page(self, ext: str, page: int, path_ext: str | None) -> bytes:
        key = (ext, page, path_ext, self.reader.published_token(), self._site_stamp())
        now = time.monotonic()
        with self._lock:
            hit = self._pages.get(key)
            if hit and now - hit[0] < TTL:
                return hit[1]
        # what the page reads is its own datasets, and one summary of all (one query each)
        total, raster, modified = self.reader.published_summary()
        last = max(1, -(-total // self.per_page))
        if page > last:
            raise NotFound(f"page {page} of the catalogue does not exist (it has {last})")
        suffix = f".{path_ext}" if path_ext else ""
        chunk = self.entries(None, (page - 1) * self.per_page, self.per_page)
        at = datetime.now(UTC)
        # what the catalogue says of itself is the same on every page (a harvester merges them)
        head = dcat.header(self.site, [e.collection for e in chunk],
                           raster=raster, modified=modified, total=total,
                           page=page, per_page=self.per_page,
                           page_url=f"{self.site.base}/catalog{suffix}?page={{}}")
        body = dcat.document(ext, [dcat.part(head, ext)] + [self._part(e, ext, at) for e in chunk])
        with self._lock:
            if len(self._pages) > 256:
                self._pages.clear()
            self._pages[key] = (now, body)
        return body

    def warm(self) -> int:
        """Describe datasets in each serialisation ahead of the first request, so that a
        harvester's pages are joined from kept parts: the first ``WARM_AHEAD`` when a worker
        starts, then those whose published version changed (a page asks for the rest of its own
        when it is first built). The number of parts made."""
        at = datetime.now(UTC)
        today = at.date().isoformat()
        with self._lock:  # yesterday's parts will not be asked for again
            self._parts = {k: v for k, v in self._parts.items() if k[1] == today}
        before = self.made
        published = self.reader.all_published()
        if self._warmed is None:  # first: the first WARM_AHEAD datasets (the first pages)
            entries = self.entries(None, 0, WARM_AHEAD)
        else:  # then what changed: a publish costs its dataset, not every one
            entries = self.entries([c for c, v in published.items() if self._warmed.get(c) != v])
        self._warmed = published
        for fmt in ("ttl", "rdf", "jsonld"):
            for entry in entries:
                self._part(entry, fmt, at)
        return self.made - before

    def signature(self) -> tuple[Any, ...]:
        """Changes whenever the parts may: a new version, a new site (downloads), a new day."""
        return (self.reader.published_token(), self._site_stamp(), datetime.now(UTC).date())

    def one(self, cid: str, ext: str) -> bytes | None:
        found = self.entries([cid])
        return dcat.document(ext, [self._part(found[0], ext, datetime.now(UTC))]) if found else None

    def _site_stamp(self) -> float:
        """Changes when a new site (with new downloads) is swapped in."""
        try:
            return (self.site_dir / "index.html").stat().st_mtime
        except OSError:
            return 0.0


def keep_warm(catalogue: Callable[[], Catalogue], interval: float = 5.0) -> threading.Event:
    """A thread that runs :meth:`Catalogue.warm` whenever its :meth:`~Catalogue.signature`
    changes (looked at every ``interval`` seconds). Set the returned event to stop it. A failure
    is logged once and tried again at the next look: requests still build what they need."""
    stop = threading.Event()

    def loop() -> None:
        seen: tuple[Any, ...] | None = None
        failed = ""
        while not stop.wait(1.0 if seen is None else interval):
            try:
                cat = catalogue()
                now = cat.signature()
                if now != seen:
                    cat.warm()
                    seen, failed = now, ""
            except Exception as err:  # noqa: BLE001 - the catalogue is still built on request
                if str(err) != failed:
                    LOG.warning("geo-publish: the catalogue could not be prepared ahead: %s", err)
                failed = str(err)

    threading.Thread(target=loop, name="geo-publish-catalogue", daemon=True).start()
    return stop


def _sidecar(path: Path) -> str | None:
    try:
        text = path.with_name(path.name + ".sha256").read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        return None
    digest = text.split()[0] if text.split() else ""
    return digest if re.fullmatch(r"[0-9a-f]{64}", digest) else None


def parse_page(values: list[str]) -> int:
    if not values:
        return 1
    if len(values) > 1 or not values[0].isdigit() or not 1 <= int(values[0]) <= 10**9:
        raise BadRequest("page: a whole number from 1 (the catalogue's pages count from 1)")
    return int(values[0])


def answer(catalogue: Catalogue, path_ext: str | None, query: str, headers: dict[str, str],
           cache_control: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """A page of the DCAT-AP catalogue in the serialisation asked for; 304 for a harvester (or a
    shared cache) that asks again with the page's tag."""
    params: dict[str, list[str]] = {}
    for k, v in parse_qsl(query, keep_blank_values=True):
        params.setdefault(k, []).append(v)
    problem = validate.unknown(set(params), PARAMS)
    if problem:
        raise BadRequest(problem)
    ext = negotiate(path_ext, {k: v[-1] for k, v in params.items()}, headers.get("accept", ""))
    body = catalogue.page(ext, parse_page(params.get("page", [])), path_ext)
    media = dcat.SERIALISATIONS[ext][1]
    etag = caching.weak(body)
    cache = [(b"etag", etag.encode()), (b"cache-control", cache_control)] + cors() + [VARY]
    if etag in none_match(headers):
        return 304, cache, b""
    return 200, [(b"content-type", f"{media}; charset=utf-8".encode())] + cache, body
