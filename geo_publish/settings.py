"""config.yml -> pydantic models, one per concern. Secrets only from ${ENV} placeholders."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from geo_publish.errors import ConfigError

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Retention(_Model):
    keep_versions: int = Field(50, ge=0, description=(
        "versions of a layer whose features are kept (the newest, and the published one); older "
        "ones keep their passport and report; 0 keeps every version"))

    @field_validator("keep_versions")
    @classmethod
    def _two_at_least(cls, value: int) -> int:
        if value == 1:
            raise ValueError("keep at least 2 versions (the published one and the one before), or 0 for all")
        return value


class GeoPackageStoreSettings(_Retention):
    backend: Literal["geopackage"] = "geopackage"
    path: Path = Path("data/store.gpkg")


class PostGISStoreSettings(_Retention):
    backend: Literal["postgis"]
    dsn: SecretStr = Field(description="from the environment only: dsn: ${GEO_PUBLISH_DSN}")
    read_dsn: SecretStr | None = Field(None, description="a read replica for the API, ${VAR} too")
    schema_: str = Field("geo_publish", alias="schema", pattern=r"^[a-z_][a-z0-9_]*$")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


StoreSettings = Annotated[
    GeoPackageStoreSettings | PostGISStoreSettings, Field(discriminator="backend")
]


class IngestSettings(_Model):
    chunk_size: int = Field(100_000, ge=1_000, description="features per streamed batch")
    max_unzipped_bytes: int = Field(2 * 1024**3, ge=1, description="refuse zips expanding past this")
    max_zip_ratio: float = Field(200.0, ge=1, description="refuse zip members compressed more than this")
    area_margin_degrees: float = Field(
        6.0, ge=0,
        description="tolerance around the source CRS's area of use: national layers often run a "
        "zone past their UTM zone; wrong zones, prefixes and swapped axes land much farther",
    )
    reject_outside_share: float = Field(
        0.5, gt=0, le=1, description="reject the layer when this share of features is out of place"
    )
    nice: int = Field(
        10, ge=0, le=19,
        description="CPU priority the ingest command lowers itself by, so that a server on the "
        "same machine keeps answering while a large layer is ingested (0: not lowered)",
    )


class ServerSettings(_Model):
    host: str = "127.0.0.1"
    port: int = 5000
    url: str | None = None
    workers: int = Field(2, ge=1, description="server processes")
    tiles: str | None = Field(None, description="base map tile URL template; none by default (offline)")
    tiles_attribution: str = ""
    cache_max_age: int = Field(
        60, ge=0, description="seconds a shared cache (CDN, proxy) may serve an answer before "
        "asking again: also how long a new version can take to show through one")
    max_body_bytes: int = Field(1_048_576, ge=1024, description="largest request body (413 above)")
    max_in_list: int = Field(1000, ge=1, description="most values in one CQL2 IN list (400 above)")
    coverage_max_cells: int = Field(
        500_000, ge=1,
        description="most cells (width x height x bands) one coverage request may read; larger "
        "requests are refused with 400 naming this budget (ask for a bbox or fewer bands)")
    heavy_queries: int = Field(
        default_factory=lambda: max(1, (os.cpu_count() or 2) // 2), ge=1,
        description="filtered, searched or sorted queries one worker runs at once (others wait "
        "their turn, up to statement_timeout): a few slow ones cannot starve quick requests")
    statement_timeout: float = Field(
        10.0, gt=0, description="seconds one store query may run before it is cancelled (503)")


class PortalSettings(_Model):
    max_upload_bytes: int = Field(
        4 * 1024**3, ge=1024, description="largest file an officer may upload (413 above); "
        "uploads are streamed to disk in parts and resumable, so this is a policy, not a memory limit")
    uploads_dir: Path = Field(Path("data/uploads"), description="uploaded files and job work areas")
    keep_uploads_days: float = Field(
        14, gt=0, description="an uploaded file is removed once every job made from it is "
        "published, or after this many days without activity (unfinished, rejected, drafts)")
    session_hours: float = Field(8, gt=0, description="a sign-in lasts this long at most")
    session_idle_minutes: float = Field(
        60, gt=0, description="a session not used for this long ends (kept on the server: sign-out, "
        "a new password or an admin ends it at once on every worker)")
    token_days: int = Field(90, ge=1, le=366, description="default lifetime of a new API token")
    secret_key: SecretStr | None = Field(
        None, description="signs session cookies: ${GEO_PUBLISH_SECRET_KEY}; unset, a random key "
        "is kept in <uploads_dir>/../portal.key (mode 600), the same for every worker")


class MailSettings(_Model):
    host: str | None = Field(None, description="SMTP server; none: mail waits in the outbox")
    port: int = Field(25, ge=1, le=65535)
    sender: str = Field("geo-publish@localhost", description="From: address")
    helpdesk: str = Field("", description="copied on every problem report (Cc:), as data.gov does")
    username: str | None = None
    password: SecretStr | None = Field(None, description="${GEO_PUBLISH_SMTP_PASSWORD}, never in the file")
    starttls: bool = False
    timeout: float = Field(10.0, gt=0)
    max_attempts: int = Field(50, ge=1, description="then a message stays in the outbox, marked")


class FeedbackSettings(_Model):
    max_text: int = Field(2000, ge=100, description="longest report text")
    per_address: int = Field(5, ge=1, description="reports one address may send per window")
    window_minutes: float = Field(10, gt=0, le=15)


class CatalogueSettings(_Model):
    """The DCAT-AP catalogue a national portal harvests (``/catalog``): who publishes it."""
    title: dict[str, str] = Field(default_factory=lambda: {
        "en": "Open geographic data", "ru": "Открытые геоданные", "uz": "Ochiq geografik ma'lumotlar"})
    description: dict[str, str] = Field(default_factory=lambda: {
        "en": "Published layers with their data passports",
        "ru": "Опубликованные слои с паспортами данных",
        "uz": "E'lon qilingan qatlamlar va ularning pasportlari"})
    publisher: str = Field("GIS office", min_length=1, description="the office that runs the catalogue")
    publisher_email: str = ""
    page_size: int = Field(100, ge=1, le=1000, description="datasets per catalogue page (hydra paging)")


class VectorTileSettings(_Model):
    """OGC API - Tiles on the vector collections (``tiles/cut.py``)."""
    full_zoom: int = Field(14, ge=0, le=20, description=(
        "from this zoom every feature is in its tiles; below it, one feature per cell of 1/64 "
        "of a tile (point thinning), and lines and polygons simplified to the tile's pixels"))
    max_features: int = Field(50_000, ge=100, description="most features in one tile")
    cache_mb: int = Field(64, ge=0, description="tiles kept in memory per server process")
    site_threshold: int = Field(50_000, ge=1, description=(
        "a vector layer with at least this many features gets a PMTiles archive in the site "
        "(data/<id>.v<version>.<key>.pmtiles, built with the site), and the server answers its "
        "WebMercatorQuad tiles from it; the viewer draws such a layer from its tiles"))
    offline_tiles: int = Field(3000, ge=0, description=(
        "tiles (or archive byte ranges) a visitor's browser keeps for use with no connection, "
        "the oldest dropped first"))


class BasemapSettings(_Model):
    """The citizen map's base map (``geo_publish/basemap``): drawn under the layers, offline."""
    pmtiles: Path | None = Field(None, description=(
        "a vector PMTiles archive drawn under the layers: one that `geo-publish basemap build` "
        "made from an OSM extract, or any archive in the Protomaps basemap schema (a path from "
        "config.yml's folder); none: the layers on a plain background"))
    attribution: str = Field("© OpenStreetMap contributors (ODbL)", description=(
        "shown on every map drawing the base map (OpenStreetMap's licence asks for it)"))


class Settings(_Model):
    store: StoreSettings = Field(default_factory=GeoPackageStoreSettings)
    collections_dir: Path = Path("collections")
    styles_dir: Path = Path("styles")
    reports_dir: Path = Path("data/reports")
    rasters_dir: Path = Path("data/rasters")
    build_dir: Path = Path("build")
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    portal: PortalSettings = Field(default_factory=PortalSettings)
    mail: MailSettings = Field(default_factory=MailSettings)
    feedback: FeedbackSettings = Field(default_factory=FeedbackSettings)
    catalogue: CatalogueSettings = Field(default_factory=CatalogueSettings)
    vector_tiles: VectorTileSettings = Field(default_factory=VectorTileSettings)
    basemap: BasemapSettings = Field(default_factory=BasemapSettings)
    root: Path = Field(default=Path("."), exclude=True)

    def path(self, p: Path) -> Path:
        """A path from the config, relative to the config file's folder."""
        return p if p.is_absolute() else (self.root / p)

    def base_url(self) -> str:
        """server.url, else the host and port served on."""
        if self.server.url:
            return self.server.url.rstrip("/")
        return f"http://{self.server.host}:{self.server.port}"

    def public_url(self) -> str:
        """The server's address as the public reaches it: server.url, else the GEO_PUBLISH_URL
        that `serve` sets for its processes, else host and port."""
        return (self.server.url or os.environ.get("GEO_PUBLISH_URL") or self.base_url()).rstrip("/")


def _expand(value: object, where: str) -> object:
    if isinstance(value, dict):
        return {k: _expand(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, where) for v in value]
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            raise ConfigError(
                f"{where}: environment variable {name} is not set",
                hint=f"export {name}=... before running",
            )

        return _PLACEHOLDER.sub(sub, value)
    return value


def _secrets_from_environment(raw: dict[str, object], cfg: Path) -> None:
    """A connection string written into config.yml would end up in version control."""
    store = raw.get("store")
    for key in ("dsn", "read_dsn") if isinstance(store, dict) else ():
        value = store.get(key)  # type: ignore[union-attr]
        if isinstance(value, str) and not _PLACEHOLDER.fullmatch(value.strip()):
            raise ConfigError(f"{cfg}: store.{key} must come from the environment, not the file",
                              hint=f"write `{key}: ${{GEO_PUBLISH_{key.upper()}}}` and export it")
    for section, key, env in (("portal", "secret_key", "GEO_PUBLISH_SECRET_KEY"),
                              ("mail", "password", "GEO_PUBLISH_SMTP_PASSWORD")):
        part = raw.get(section)
        value = part.get(key) if isinstance(part, dict) else None
        if isinstance(value, str) and not _PLACEHOLDER.fullmatch(value.strip()):
            raise ConfigError(f"{cfg}: {section}.{key} must come from the environment, not the file",
                              hint=f"write `{key}: ${{{env}}}` and export it")


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Read config.yml; a missing default config means built-in defaults in the current folder."""
    cfg = Path(path) if path is not None else Path("config.yml")
    if not cfg.exists():
        if path is not None:
            raise ConfigError(f"{cfg}: config file not found", hint="pass --config PATH")
        return Settings(root=Path.cwd())
    if cfg.is_dir():
        raise ConfigError(f"{cfg}: is a folder, not a config file")
    try:
        raw = yaml.safe_load(cfg.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(f"{cfg}: not valid YAML: {str(err).splitlines()[0]}") from err
    if not isinstance(raw, dict):
        raise ConfigError(f"{cfg}: expected a mapping at the top level")
    _secrets_from_environment(raw, cfg)
    raw = _expand(raw, cfg.name)
    try:
        return Settings(**raw, root=cfg.resolve().parent)  # type: ignore[arg-type]
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        raise ConfigError(
            f"{cfg}: {loc}: {first['msg']} (got {first.get('input')!r})"
        ) from err
