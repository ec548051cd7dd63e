"""The data passport: who answers for a layer, under which licence, and what the pipeline measured."""

from __future__ import annotations

from pydantic import BaseModel, Field

from geo_publish.ingest.report import SourceFacts
from geo_publish.manifest import Contact


class SourcePassport(SourceFacts):
    file_name: str
    transformation: str | None = None


class Quality(BaseModel):
    read: int
    published: int
    repaired: int
    quarantined: int
    warnings: list[str] = Field(default_factory=list)


class Passport(BaseModel):
    collection: str
    title: dict[str, str] = Field(default_factory=dict)
    description: dict[str, str] = Field(default_factory=dict)
    keywords: list[str] = Field(default_factory=list)
    organization: str = ""
    responsible: Contact = Field(default_factory=Contact)
    license: str = ""
    update_frequency: str = "unknown"
    lineage: str = ""
    version: int | None = None
    first_published: str | None = None
    last_modified: str | None = None
    source: SourcePassport
    geometry_type: str | None = None
    feature_count: int = 0
    extent: list[float] | None = None
    temporal_extent: list[str | None] | None = None
    quality: Quality
    raster: dict[str, object] | None = None  # rasters: size, resolution, bands, nodata share
    report: str | None = None
    complete: bool = Field(
        default=False, description="False while the manifest lacks organisation, contact or licence"
    )
