"""styles/<id>.yml -> how a layer looks in the viewer: colour, icon, popup fields and their labels
per language, label field, clustering. A layer without a style file gets a readable default."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from geo_publish.errors import ConfigError
from geo_publish.manifest import Manifest, StrictModel, by_language, load_yaml_model
from geo_publish.publish.viewer.i18n import texts

PALETTE = ("#1f78b4", "#e31a1c", "#33a02c", "#ff7f00", "#6a3d9a", "#b15928", "#a6761d", "#e7298a")


class PopupField(StrictModel):
    field: str
    label: dict[str, str] = Field(default_factory=dict, description="per language: en, ru, uz")

    _l = field_validator("label", mode="before")(by_language)

    def labels(self) -> dict[str, str]:
        return texts(self.label, self.field)


class Style(StrictModel):
    color: str = Field("#1f78b4", pattern=r"^#[0-9a-fA-F]{6}$")
    icon: str = Field("location-dot", pattern=r"^[a-z0-9-]+$",
                      description="Font Awesome (solid) icon name, as in fa-<name>")
    label_field: str | None = Field(None, description="field that names a feature (popup title, lists)")
    popup: list[PopupField] = Field(default_factory=list)
    cluster: bool = False
    marker: Literal["auto", "centroid"] = Field(
        "auto", description="centroid: draw small polygons or lines as markers at their centre")
    background: bool = Field(False, description="draw as outlines under every map (regions)")
    visible: bool = Field(True, description="shown when the map of all layers opens")
    offline: bool = Field(False, description="kept on the phone after one visit, for use with "
                                             "no connection (shelters, hospitals)")
    emergency: bool = Field(False, description=(
        "a layer people look for in an emergency (shelters, hospitals): the site's index opens "
        "with it and a 'Nearest shelter or hospital' button, before any metadata"))
    fill_opacity: float = Field(0.25, ge=0, le=1)
    weight: float = Field(2.0, ge=0, le=20)
    # rasters
    ramp: list[tuple[float, str]] | None = Field(
        None, description="raster colours: [value, '#rrggbb'] stops, linear between them")
    opacity: float = Field(0.65, ge=0, le=1, description="raster overlay opacity at start")
    band: int = Field(1, ge=1, description="raster band drawn")

    @field_validator("ramp")
    @classmethod
    def _ramp(cls, value: list[tuple[float, str]] | None) -> list[tuple[float, str]] | None:
        import re

        if value is None:
            return None
        if len(value) < 2:
            raise ValueError("a ramp needs at least two stops")
        if any(not re.fullmatch(r"#[0-9a-fA-F]{6}", c) for _, c in value):
            raise ValueError("ramp colours are '#rrggbb'")
        if any(b[0] <= a[0] for a, b in zip(value, value[1:])):
            raise ValueError("ramp values must increase")
        return value

    @field_validator("popup", mode="before")
    @classmethod
    def _fields(cls, value: object) -> object:
        if isinstance(value, list):
            return [{"field": v} if isinstance(v, str) else v for v in value]
        return value


def default_style(collection: str) -> Style:
    return Style(color=PALETTE[zlib.crc32(collection.encode()) % len(PALETTE)])


def load_style(styles_dir: Path, manifest: Manifest | None, collection: str) -> tuple[Style, Path | None]:
    """The style of a collection (file named by the manifest's ``style``, else by its id)."""
    name = (manifest.style if manifest and manifest.style else None) or collection
    path = styles_dir / f"{name}.yml"
    if not path.exists():
        if manifest and manifest.style and manifest.style != collection:
            raise ConfigError(f"collections/{collection}.yml: style {name!r} not found ({path})")
        return default_style(collection), None
    return load_yaml_model(path, Style), path


def check_style(style: Style, path: Path | None, fields: list[str], icons: frozenset[str]) -> None:
    """Fields named by the style must exist in the layer; the icon must exist in the icon font."""
    where = str(path) if path else "default style"
    named = [p.field for p in style.popup] + ([style.label_field] if style.label_field else [])
    for name in named:
        if name not in fields:
            raise ConfigError(f"{where}: field {name!r} is not in the layer",
                              hint=f"fields: {', '.join(fields) or '(none)'}")
    if icons and style.icon not in icons:
        raise ConfigError(f"{where}: icon {style.icon!r} is not a Font Awesome icon",
                          hint="see https://fontawesome.com/v6/search?o=r&m=free&s=solid")


def tile_fields(settings: Any, manifest: Manifest | None, cid: str) -> list[str]:
    """The style's popup and label fields and the id field, in that order, once each."""
    try:
        style, _ = load_style(settings.path(settings.styles_dir), manifest, cid)
    except ConfigError:
        return []
    names = [p.field for p in style.popup] + [style.label_field or ""]
    if manifest and manifest.schema_.id_field:
        names.append(manifest.schema_.id_field)
    return list(dict.fromkeys(n for n in names if n))
