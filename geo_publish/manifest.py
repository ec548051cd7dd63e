"""collections/<id>.yml -> pydantic model; written on first ingest for the officer to complete."""

from __future__ import annotations

import copy

import re
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationError, field_validator

from geo_publish.errors import ConfigError, UsageError

COLLECTION_ID = re.compile(r"^[a-z0-9_-]+$")
LANGS = ("en", "uz", "ru")
FieldType = Literal["integer", "number", "string", "boolean", "date", "datetime"]
Frequency = Literal[
    "continual", "daily", "weekly", "fortnightly", "monthly", "quarterly", "biannually",
    "annually", "asNeeded", "irregular", "notPlanned", "unknown",
]


class StrictModel(BaseModel):
    """Unknown keys are an error (a typo in a YAML file must not pass silently)."""

    model_config = ConfigDict(extra="forbid")


def by_language(value: object) -> object:
    """A plain string means English; None means no text."""
    if value is None:
        return {}
    if isinstance(value, str):
        return {"en": value}
    return value


class SourceSpec(StrictModel):
    path: str | None = None
    layer: str | None = None
    crs: str | None = None
    encoding: str | None = None


class SchemaSpec(StrictModel):
    id_field: str | None = None
    required: list[str] = Field(default_factory=list)
    types: dict[str, FieldType] = Field(default_factory=dict)
    date_field: str | None = None


class Contact(StrictModel):
    name: str = ""
    email: EmailStr | Literal[""] = ""
    phone: str = ""


class PassportSpec(StrictModel):
    organization: str = ""
    responsible: Contact = Field(default_factory=Contact)
    license: str = ""
    update_frequency: Frequency = "unknown"
    lineage: str = ""

    @property
    def complete(self) -> bool:
        """Someone to answer for the layer, reachable, and a licence."""
        return bool(self.organization and self.responsible.name and self.responsible.email
                    and self.license)


class Manifest(StrictModel):
    id: str
    title: dict[str, str] = Field(default_factory=dict)
    description: dict[str, str] = Field(default_factory=dict)
    keywords: list[str] = Field(default_factory=list)
    source: SourceSpec = Field(default_factory=SourceSpec)
    schema_: SchemaSpec = Field(default_factory=SchemaSpec, alias="schema")
    passport: PassportSpec = Field(default_factory=PassportSpec)
    style: str | None = None
    editable: bool = False  # OGC API - Features Part 4 writes by the owning organisation's tokens

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    _t = field_validator("title", "description", mode="before")(by_language)

    @field_validator("id")
    @classmethod
    def _valid_id(cls, v: str) -> str:
        check_collection_id(v)
        return v

    def text(self, field: Literal["title", "description"], lang: str = "en") -> str:
        values = getattr(self, field)
        return values.get(lang) or values.get("en") or next(iter(values.values()), "") or (
            self.id if field == "title" else ""
        )


def check_collection_id(value: str) -> str:
    if not COLLECTION_ID.match(value or ""):
        raise UsageError(
            f"collection id {value!r} is not allowed",
            hint="use lower-case letters, digits, '_' and '-' only",
        )
    return value


def manifest_path(collections_dir: Path, collection: str) -> Path:
    return collections_dir / f"{collection}.yml"


M = TypeVar("M", bound=BaseModel)


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~10x faster to parse
_parsed: dict[str, tuple[tuple[int, int, int], Any]] = {}
_KEEP_PARSED = 2_000  # a server re-reads only what changed: a small cache is enough


def _parse(path: Path) -> Any:
    """A YAML file's content, parsed once while the file is unchanged: a server reads the
    manifest and style of each of thousands of layers, and parsing is what costs."""
    st = path.stat()
    key = (st.st_mtime_ns, st.st_size, st.st_ino)
    kept = _parsed.get(str(path))
    if kept is not None and kept[0] == key:
        return copy.deepcopy(kept[1])
    raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader) or {}  # noqa: S506 - safe
    if len(_parsed) >= _KEEP_PARSED:
        _parsed.clear()
    _parsed[str(path)] = (key, raw)
    return copy.deepcopy(raw)


def load_yaml_model(path: Path, model: type[M]) -> M:
    """A YAML file as ``model``; a ConfigError naming the file, the field and the value."""
    try:
        raw = _parse(path)
        return model.model_validate(raw)
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not valid YAML: {str(err).splitlines()[0]}") from err
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        raise ConfigError(f"{path}: {loc}: {first['msg']} (got {first.get('input')!r})") from err


def load_manifest(collections_dir: Path, collection: str) -> Manifest | None:
    """The manifest of a collection, or None when it has none yet."""
    path = manifest_path(collections_dir, collection)
    if not path.exists():
        return None
    manifest = load_yaml_model(path, Manifest)
    if manifest.id != collection:
        raise ConfigError(f"{path}: id is {manifest.id!r} but the file is named for {collection!r}")
    return manifest


_TEMPLATE = """\
# Collection manifest for {id!r}, written by `geo-publish ingest` on first ingest.
# Complete the passport (who answers for this data, licence, update frequency) and the titles,
# then run `geo-publish build`. Keep this file under version control.
"""


def template(collection: str, source: SourceSpec) -> Manifest:
    """The manifest written on first ingest: a title from the id, the rest to be filled in."""
    title = collection.replace("_", " ").replace("-", " ").capitalize()
    return Manifest(id=collection, title={"en": title, "uz": "", "ru": ""},
                    description={"en": "", "uz": "", "ru": ""}, source=source,
                    passport=PassportSpec(), style=collection)


def write_template(collections_dir: Path, manifest: Manifest) -> Path | None:
    """Write a manifest to be completed, whole or not at all (a server may read it at any
    moment); never overwrites one. None when another ingest of the same new collection, running
    at the same time, wrote it first."""
    import os

    path = manifest_path(collections_dir, manifest.id)
    collections_dir.mkdir(parents=True, exist_ok=True)
    data = manifest.model_dump(mode="json", by_alias=True)
    text = _TEMPLATE.format(id=manifest.id) + yaml.safe_dump(
        data, allow_unicode=True, sort_keys=False
    )
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    try:
        os.link(tmp, path)  # fails when the file exists: never overwritten
    except FileExistsError:
        return None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_manifest(collections_dir: Path, manifest: Manifest, note: str = "") -> Path:
    """Replace a collection's manifest, whole (readers see the old file or the new one)."""
    import os

    path = manifest_path(collections_dir, manifest.id)
    collections_dir.mkdir(parents=True, exist_ok=True)
    data = manifest.model_dump(mode="json", by_alias=True)
    text = (f"# Collection manifest for {manifest.id!r}{note}\n"
            + yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.new")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path
