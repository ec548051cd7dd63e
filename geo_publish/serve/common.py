"""Small pieces every part of the server shares: JSON text and cached CRS objects."""

from __future__ import annotations

import json
import json.encoder
import threading
from collections.abc import Callable
from typing import Any

import pygeoapi.crs

# pygeoapi's own, taken before pygeoapi/patches.patch_pygeoapi (which imports this module) replaces it
_get_crs: Callable[[Any], Any] = pygeoapi.crs.get_crs
_crs_cache = threading.local()


# CPython's C encoder, made once: json.dumps builds a JSONEncoder on every call with options,
# which was most of the cost of a page of 1,000 features (a call per feature). The same output:
# compact separators, UTF-8 as is, str() for what JSON has no type for. No cycle check: values
# here are rows and dicts made from them.
_C_ENCODER = (json.encoder.c_make_encoder(None, str, json.encoder.encode_basestring, None, ":", ",",
                                          False, False, True)
              if getattr(json.encoder, "c_make_encoder", None) else None)


def dumps(value: Any, default: Callable[[Any], Any] = str, indent: int | None = None) -> str:
    """Compact UTF-8 JSON (Cyrillic as is, half the bytes of \\u escapes), with < and > escaped
    the JSON way so that it stays inert if pasted into HTML, and values stay exactly as stored."""
    if _C_ENCODER is not None and default is str and indent is None:
        text = "".join(_C_ENCODER(value, 0))
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=default, indent=indent)
    return text.replace("<", "\\u003c").replace(">", "\\u003e")


def cached_crs(crs: Any) -> Any:
    """pygeoapi's get_crs, cached per thread for URIs: building a pyproj CRS costs about 1 ms and
    pyproj objects are not shared between threads."""
    if not isinstance(crs, str):
        return _get_crs(crs)
    cache = getattr(_crs_cache, "d", None)
    if cache is None:
        cache = _crs_cache.d = {}
    if crs not in cache:
        cache[crs] = _get_crs(crs)
    return cache[crs]


def text_of(value: Any, default: str) -> str:
    """A title or description of the configuration (a text, or texts per language): English
    first."""
    if isinstance(value, dict):
        return str(value.get("en") or next(iter(value.values()), default) or default)
    return str(value) if value else default
