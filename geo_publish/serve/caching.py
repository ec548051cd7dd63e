"""Entity tags of the API's answers: what an answer depends on, hashed. A feature collection's
answers change with its published version; every other answer with the server's generation
(the published state of every layer), so a publish makes them new at once."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from geo_publish.store.gpkg_read import Published


def etag(generation: str, path: str, query: str, headers: dict[str, str],
         feature_cid: str | None, pub: Published | None, fresh: dict[str, Any] | None = None) -> str:
    """A weak ETag of the answer to this request: its path, query and the headers it varies by."""
    if path.startswith("/static"):
        token = "static"
    elif feature_cid:
        token = f"{feature_cid}:{pub.version if pub else 0}:{generation}"
    else:
        token = generation
    if fresh is not None:
        token += "|" + json.dumps(fresh, sort_keys=True)
    key = "|".join([token, path, query, headers.get("accept", ""),
                    headers.get("accept-language", ""),
                    "gzip" if "gzip" in headers.get("accept-encoding", "") else ""])
    return 'W/"' + hashlib.sha1(key.encode()).hexdigest()[:20] + '"'


def weak(body: bytes) -> str:
    """A weak ETag of a body itself (the catalogue's pages)."""
    return 'W/"' + hashlib.sha1(body).hexdigest()[:20] + '"'
