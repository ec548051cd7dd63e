"""What changed between two versions of a collection, by the manifest's id field."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely

from geo_publish.errors import UsageError
from geo_publish.store.base import Store


@dataclass
class Diff:
    collection: str
    old: int
    new: int
    id_field: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)


def _keyed(frame: pd.DataFrame, id_field: str) -> pd.DataFrame:
    frame = frame.copy()
    frame["__wkb"] = shapely.to_wkb(np.asarray(frame.geometry.array), hex=True) if len(frame) else []
    frame = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    frame["__key"] = frame[id_field].astype("string")
    return frame.set_index("__key")


def diff_versions(store: Store, collection: str, id_field: str | None, old: int, new: int) -> Diff:
    if not id_field:
        raise UsageError(
            f"collection {collection!r} has no schema.id_field in its manifest",
            hint=f"set schema.id_field in collections/{collection}.yml; diff matches features by it",
        )
    a = store.read(collection, old)
    b = store.read(collection, new)
    for frame, v in ((a, old), (b, new)):
        if id_field not in frame.columns:
            raise UsageError(f"version {v} of {collection!r} has no field {id_field!r}")
    ka, kb = _keyed(a, id_field), _keyed(b, id_field)
    added = sorted(set(kb.index) - set(ka.index))
    removed = sorted(set(ka.index) - set(kb.index))
    common = sorted(set(ka.index) & set(kb.index))
    cols = [c for c in kb.columns if c in ka.columns]
    left = ka.loc[common, cols].astype("string").fillna("\0")
    right = kb.loc[common, cols].astype("string").fillna("\0")
    changed_mask = (left != right).any(axis=1)
    extra = set(ka.columns) ^ set(kb.columns)
    changed = common if extra else list(changed_mask[changed_mask].index)
    return Diff(collection, old, new, id_field, added, removed, sorted(changed))
