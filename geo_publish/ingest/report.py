"""The validation report: JSON for machines, HTML (with a small map of problems) for people."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import BaseModel, Field


class SourceFacts(BaseModel):
    """What the pipeline found out about a source (the report and the passport both carry it)."""

    sha256: str | None = None
    format: str | None = None
    layer: str | None = None
    encoding: str | None = None
    encoding_from: str | None = None
    crs: str | None = None
    crs_from: str | None = None


class SourceReport(SourceFacts):
    path: str  # the file name (public reports never show a path of the server)


class Counts(BaseModel):
    read: int = 0
    published: int = 0
    repaired: int = 0
    quarantined: int = 0


class Problem(BaseModel):
    feature: int
    fid: str | None = None
    code: str
    action: Literal["repaired", "quarantined"]
    detail: str = ""
    lon: float | None = Field(default=None, exclude=True)
    lat: float | None = Field(default=None, exclude=True)


class Report(BaseModel):
    collection: str
    status: Literal["published", "rejected", "dry-run"]
    version: int | None = None
    error: str | None = None
    source: SourceReport
    target_crs: str = "OGC:CRS84"
    transformation: str | None = None
    extent: list[float] | None = None
    counts: Counts = Field(default_factory=Counts)
    problems: list[Problem] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    fields: dict[str, str] = Field(default_factory=dict)
    # the first distinct non-ASCII values of each text field, as published: a wrong encoding
    # shows here before the officer publishes
    text_sample: dict[str, list[str]] = Field(default_factory=dict)
    geometry_type: str | None = None
    raster: dict[str, Any] | None = None  # rasters: size, resolution, bands, nodata share
    created: str | None = None

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    def write(self, json_path: Path) -> tuple[Path, Path]:
        """Write FILE.json and FILE.html side by side; return both paths."""
        json_path.parent.mkdir(parents=True, exist_ok=True)
        if json_path.suffix.lower() == ".html":
            json_path = json_path.with_suffix(".json")
        json_path.write_text(self.to_json(), encoding="utf-8")
        html_path = json_path.with_suffix(".html")
        html_path.write_text(render_html(self), encoding="utf-8")
        return json_path, html_path


_env = Environment(
    loader=PackageLoader("geo_publish.ingest", "templates"),
    autoescape=select_autoescape(["html"]),
)

MAX_HTML_ROWS = 2000


def _map_points(report: Report, width: int = 480, height: int = 300) -> dict[str, Any]:
    pts = [(p.lon, p.lat, p.action) for p in report.problems if p.lon is not None and p.lat is not None]
    if report.extent:
        w, s, e, n = report.extent
    elif pts:
        w, s = min(p[0] for p in pts), min(p[1] for p in pts)
        e, n = max(p[0] for p in pts), max(p[1] for p in pts)
    else:
        return {"points": [], "width": width, "height": height}
    for x, y, _ in pts:
        w, e, s, n = min(w, x), max(e, x), min(s, y), max(n, y)
    dx, dy = max(e - w, 1e-9), max(n - s, 1e-9)
    scale = min((width - 20) / dx, (height - 20) / dy)
    out = [
        {"x": round(10 + (x - w) * scale, 1), "y": round(height - 10 - (y - s) * scale, 1), "action": a}
        for x, y, a in pts[:MAX_HTML_ROWS]
    ]
    box = None
    if report.extent:
        ew, es, ee, en = report.extent
        box = {"x": 10 + (ew - w) * scale, "y": height - 10 - (en - s) * scale,
               "w": (ee - ew) * scale, "h": (en - es) * scale}
    return {"points": out, "box": box, "width": width, "height": height}


def render_html(report: Report) -> str:
    template = _env.get_template("report.html")
    return template.render(
        r=report, problems=report.problems[:MAX_HTML_ROWS], more=max(len(report.problems) - MAX_HTML_ROWS, 0),
        map=_map_points(report),
    )
