"""One rule for which format a request asks for, everywhere (API, portal, site)."""

from __future__ import annotations


def chosen(f: str | None, accept: str) -> str:
    """``f`` when given (``f=html``, ``f=json``, ``f=jsonld``...); else ``html`` for a browser
    (its Accept names text/html before any JSON type) and ``json`` for everything else (scripts,
    GDAL, QGIS, an empty Accept)."""
    if f:
        return f
    accept = accept.lower()
    html, json_at = accept.find("text/html"), accept.find("json")
    return "html" if html >= 0 and (json_at < 0 or html < json_at) else "json"
