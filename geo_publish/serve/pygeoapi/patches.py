"""What geo-publish changes in pygeoapi at run time, each tested in tests/test_pygeoapi_patches.py
against the pinned range: its JSON writer (UTF-8 as is, values not turned into HTML entities),
its CRS lookup (cached per thread), its configuration translation cache (keyed by the
configuration installed now, not by the language alone, and per collection), ``/collections``
in pages (``paging.py``) and its filter of the configuration's resources (kept per installed
configuration: pygeoapi runs it, over every collection, on nearly every request)."""

from __future__ import annotations

from typing import Any

from geo_publish.serve.common import cached_crs, dumps


def _to_json(dict_: dict[str, Any], pretty: bool = False) -> str:
    """pygeoapi's to_json, but UTF-8 as is and with < and > escaped the JSON way instead of as
    HTML entities, which corrupted values."""
    from pygeoapi.util import json_serial

    return dumps(dict_, default=json_serial, indent=4 if pretty else None)


class _NoCache(dict):  # type: ignore[type-arg]
    """Stands in for pygeoapi's ``l10n._cfg_cache``, which keeps one translated configuration per
    language for the life of the process: after a live publish its templates still saw the old
    collections (``/collections/<new>?f=html`` answered 500 until a restart)."""

    def get(self, *_: object) -> None:  # type: ignore[override]
        return None

    def __setitem__(self, key: object, value: object) -> None:
        return None


_TRANSLATED: dict[tuple[int, str], tuple[Any, Any]] = {}


def _translate_struct(struct: Any, locale_: Any, is_config: bool = False) -> Any:
    """pygeoapi's translate_struct, with its configuration cache keyed by the configuration it
    translated (the one installed now), not by the language alone."""
    if not (is_config and struct and locale_):
        return _ORIGINAL_TRANSLATE(struct, locale_, is_config)
    key = (id(struct), str(locale_))
    hit = _TRANSLATED.get(key)
    if hit is not None and hit[0] is struct:
        return hit[1]
    resources = struct.get("resources") if isinstance(struct, dict) else None
    if not isinstance(resources, dict):
        return _ORIGINAL_TRANSLATE(struct, locale_, True)
    # the configuration without its resources, then each resource: a resource that did not
    # change between configurations is the same object, translated once (a new configuration
    # after one publish costs one resource, not 10,000)
    result = _ORIGINAL_TRANSLATE({k: v for k, v in struct.items() if k != "resources"}, locale_, True)
    result["resources"] = {cid: _resource(r, locale_) for cid, r in resources.items()}
    if len(_TRANSLATED) > 32:  # the configurations of earlier generations go
        _TRANSLATED.clear()
    _TRANSLATED[key] = (struct, result)  # the struct held: its id is not reused meanwhile
    return result


_RESOURCES: dict[tuple[int, str], tuple[Any, Any]] = {}


def _resource(resource: Any, locale_: Any) -> Any:
    key = (id(resource), str(locale_))
    hit = _RESOURCES.get(key)
    if hit is not None and hit[0] is resource:
        return hit[1]
    # a resource alone is translated at every level, as it is inside a configuration (where
    # translate_struct skips the two levels above it)
    out = _ORIGINAL_TRANSLATE(resource, locale_, False)
    if len(_RESOURCES) > 100_000:  # resources of earlier configurations, long gone
        _RESOURCES.clear()
    _RESOURCES[key] = (resource, out)
    return out


_ORIGINAL_TRANSLATE: Any = None
_FROZEN: list[Any] = [None, {}]  # the installed configuration's resources, and what was asked of them


def freeze_resources(resources: dict[str, Any]) -> None:
    """Say that ``resources`` (the installed configuration's) will not change: pygeoapi's
    ``filter_dict_by_key_value`` over it is then worked out once per value (pygeoapi asks it
    on nearly every request, a loop over every collection)."""
    _FROZEN[:] = [resources, {}]


def _filter_dict_by_key_value(dict_: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """pygeoapi's ``filter_dict_by_key_value``, kept for the installed resources (read only:
    pygeoapi's callers look up and iterate what it returns)."""
    frozen, kept = _FROZEN
    if dict_ is frozen:
        found = kept.get((key, value))
        if found is None:
            found = kept[(key, value)] = {k: v for k, v in dict_.items() if v.get(key) == value}
        return found  # type: ignore[no-any-return]
    return {k: v for k, v in dict_.items() if v[key] == value}


def patch_pygeoapi() -> None:
    import sys

    import pygeoapi.crs
    import pygeoapi.util
    from pygeoapi import l10n

    from geo_publish.serve.pygeoapi import paging

    paging.install()  # /collections in pages
    global _ORIGINAL_TRANSLATE
    if _ORIGINAL_TRANSLATE is None:
        _ORIGINAL_TRANSLATE = l10n.translate_struct
        l10n._cfg_cache = _NoCache()
        l10n.translate_struct = _translate_struct

    swaps = {id(pygeoapi.util.to_json): _to_json, id(pygeoapi.crs.get_crs): cached_crs,
             id(pygeoapi.util.filter_dict_by_key_value): _filter_dict_by_key_value}
    for name, module in list(sys.modules.items()):
        if not name.startswith("pygeoapi"):
            continue
        for attr in ("to_json", "get_crs", "filter_dict_by_key_value"):
            value = getattr(module, attr, None)
            if value is not None and id(value) in swaps:
                setattr(module, attr, swaps[id(value)])
