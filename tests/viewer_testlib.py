"""A built viewer site served by a plain web server on 127.0.0.1, and a real headless Chromium."""

from __future__ import annotations

import functools
import http.server
import math
import os
import platform
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from geo_publish.cli.main import main
from server_testlib import XSS, make_sources

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
ORG = "<script>alert('org')</script>Ministry & Co"
TITLE_EN = "Shelters <b>bold</b> & points"

POINTS_MANIFEST = f"""\
id: points
title: {{en: "{TITLE_EN}", ru: Пункты размещения, uz: Boshpanalar}}
description: {{en: Test points, ru: Тестовые точки, uz: Sinov nuqtalari}}
keywords: [shelter]
passport:
  organization: "{ORG}"
  responsible: {{name: "<b>Officer</b>", email: officer@example.org}}
  license: CC-BY-4.0
  update_frequency: monthly
style: points
"""
POINTS_STYLE = """\
color: "#c0392b"
icon: person-shelter
label_field: nazvanie
popup:
  - field: vmest
    label: {en: Capacity, ru: Вместимость, uz: "Sig'imi"}
  - field: nomi
    label: {en: Name (uz), ru: Название (узб.), uz: Nomi}
"""
POLYGONS_STYLE = """\
color: "#555555"
icon: draw-polygon
background: true
label_field: nomi
popup: [nazvanie]
"""


def haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """The great-circle distance in metres (the mean Earth radius, as the viewer's)."""
    r = math.radians
    a = math.sin(r(lat2 - lat1) / 2) ** 2 + math.cos(r(lat1)) * math.cos(r(lat2)) * math.sin(r(lon2 - lon1) / 2) ** 2
    return 2 * 6371008.8 * math.asin(min(1.0, math.sqrt(a)))


def chromium_path() -> str:
    path = os.environ.get("GEO_PUBLISH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if platform.system() != "Linux":
        pytest.skip("not on this platform: the viewer tests drive Debian's Chromium")
    if not Path(path).exists():
        pytest.fail(f"{path}: Chromium is not installed; scripts/test.sh installs it (apt-get)")
    return path


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium through Playwright, one per test module."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield b
        b.close()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@dataclass
class Site:
    root: Path
    dir: Path
    url: str
    server: http.server.ThreadingHTTPServer

    @property
    def config(self) -> Path:
        return self.root / "config.yml"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve_dir(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """Any plain web server will do: Python's own, on a free port."""
    class Server(http.server.ThreadingHTTPServer):
        # socketserver's default backlog is 5: a browser opening a page's files at once on a
        # loaded machine had connections refused, and a data file failed to load
        request_queue_size = 128

    handler = functools.partial(_Quiet, directory=str(folder))
    httpd = Server(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/"


def build_site(root: Path) -> Site:
    """Three layers: 13 points (one named with an XSS payload) as markers, 12 polygons as
    background outlines, 2,500 points drawn on a canvas; passports with HTML in them."""
    (root / "collections").mkdir(parents=True)
    (root / "styles").mkdir()
    (root / "config.yml").write_text("store: {backend: geopackage, path: data/store.gpkg}\n")
    (root / "collections" / "points.yml").write_text(POINTS_MANIFEST, encoding="utf-8")
    (root / "styles" / "points.yml").write_text(POINTS_STYLE, encoding="utf-8")
    (root / "styles" / "polygons.yml").write_text(POLYGONS_STYLE, encoding="utf-8")
    cfg = str(root / "config.yml")
    for cid, path in make_sources(root / "sources").items():
        assert main(["--config", cfg, "ingest", str(path), "--collection", cid]) == 0
    assert main(["--config", cfg, "build"]) == 0
    site_dir = root / "build" / "site"
    httpd, url = serve_dir(site_dir)
    return Site(root, site_dir, url, httpd)


__all__ = ["ARTIFACTS", "CHROMIUM_ARGS", "ORG", "TITLE_EN", "XSS", "Site", "build_site",
           "chromium_path", "serve_dir"]
