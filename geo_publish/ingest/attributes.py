"""Attribute checks: safe, unique field names; the manifest schema (id, required, types)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from typing import TYPE_CHECKING

import numpy as np
from anyascii import anyascii

from geo_publish.ingest.geometry import Problems

if TYPE_CHECKING:  # pandas is imported only when a schema is applied
    import pandas as pd

RESERVED = {"fid", "geom", "geometry", "ogc_fid"}
_UNSAFE = re.compile(r"[^a-z0-9_]+")


def safe_names(names: list[str]) -> dict[str, str]:
    """Original -> safe field name: ASCII (transliterated), lower case, unique, not reserved."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        base = _UNSAFE.sub("_", anyascii(str(name)).lower()).strip("_") or "field"
        if base[0].isdigit():
            base = f"f_{base}"
        if base in RESERVED:
            base = f"{base}_"
        base = base[:60]
        candidate, k = base, 2
        while candidate in used:
            candidate, k = f"{base}_{k}", k + 1
        used.add(candidate)
        out[name] = candidate
    return out


@dataclass
class SchemaState:
    """What must be remembered across batches: ids already seen."""

    seen_ids: set[object] = field(default_factory=set)


def _coerce(series: pd.Series, kind: str) -> pd.Series:
    import pandas as pd

    if kind == "integer":
        num = pd.to_numeric(series, errors="coerce")
        frac = num.notna() & (num % 1 != 0)
        num = num.mask(frac)
        return num.astype("Int64")
    if kind == "number":
        if series.dtype == object or pd.api.types.is_string_dtype(series):
            series = series.astype("string").str.replace(",", ".", regex=False).str.strip()
        return pd.to_numeric(series, errors="coerce").astype("Float64")
    if kind == "boolean":
        text = series.astype("string").str.strip().str.lower()
        mapping = {"true": True, "1": True, "yes": True, "да": True, "ha": True,
                   "false": False, "0": False, "no": False, "нет": False, "yo'q": False}
        return text.map(mapping).astype("boolean")
    if kind in ("date", "datetime"):
        parsed = pd.to_datetime(series, errors="coerce", dayfirst=True, format="mixed")
        if kind == "date":
            return parsed.dt.strftime("%Y-%m-%d").astype("string").where(parsed.notna())
        return parsed
    return series.astype("string")


def apply_schema(
    frame: pd.DataFrame,
    keep: np.ndarray,
    id_field: str | None,
    required: list[str],
    types: dict[str, str],
    state: SchemaState,
    problems: Problems,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Coerce types and check required fields and id uniqueness; quarantine violations."""
    import pandas as pd

    frame = frame.copy()
    for name, kind in types.items():
        if name not in frame.columns:
            continue
        original = frame[name]
        coerced = _coerce(original, kind)
        failed = keep & original.notna().to_numpy() & coerced.isna().to_numpy()
        if kind == "string":
            failed[:] = False
        if failed.any():
            idx = np.flatnonzero(failed)
            values = original.to_numpy()[idx]
            problems.add(idx, "type_error", "quarantined",
                         [f"{name}={str(v)[:60]!r} is not a valid {kind}" for v in values])
            keep &= ~failed
        frame[name] = coerced
    for name in required:
        if name not in frame.columns:
            continue  # the whole layer is rejected before reaching here
        col = frame[name]
        blank = col.isna().to_numpy().copy()
        if pd.api.types.is_string_dtype(col) or col.dtype == object:
            blank |= col.astype("string").str.strip().fillna("").eq("").to_numpy(dtype=bool)
        miss = keep & blank
        if miss.any():
            problems.add(np.flatnonzero(miss), "missing_required", "quarantined",
                         f"required field {name} is empty")
            keep &= ~miss
    if id_field and id_field in frame.columns:
        ids = frame[id_field].to_numpy()
        null = keep & pd.isna(frame[id_field]).to_numpy()
        if null.any():
            problems.add(np.flatnonzero(null), "missing_id", "quarantined", f"{id_field} is empty")
            keep &= ~null
        kept = pd.Series(ids[keep], index=np.flatnonzero(keep), dtype=object)
        dup = kept.duplicated(keep="first") | kept.isin(state.seen_ids)
        if dup.any():
            idx = dup.index[dup.to_numpy()].to_numpy()
            problems.add(idx, "duplicate_id", "quarantined",
                         [f"{id_field}={str(ids[i])[:60]!r} already used by an earlier feature"
                          for i in idx])
            keep[idx] = False
        state.seen_ids.update(ids[keep].tolist())
    return frame, keep
