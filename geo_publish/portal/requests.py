"""Reading a portal request: the client's address (for the audit log and the limits), bodies
within their bounds, the format asked for; and ``Part``, what every group of handlers holds."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from geo_publish.errors import UsageError
from geo_publish.http import negotiate
from geo_publish.http.body import bounded

MAX_JSON = 64 * 1024  # a JSON body or a form (uploads have their own limit)


def address(request: Request) -> str:
    return request.client.host if request.client else ""


async def read_body(request: Request, limit: int, what: str = "the body") -> bytes:
    """The request body, refused (413) as soon as it is known to exceed ``limit``."""
    return await bounded(request.stream(), request.headers.get("content-length"), limit, what)


async def read_json(request: Request) -> dict[str, Any]:
    """A JSON object body of at most MAX_JSON bytes."""
    body = await read_body(request, MAX_JSON)
    try:
        data = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise UsageError("the body is not JSON") from None
    if not isinstance(data, dict):
        raise UsageError("the body must be a JSON object")
    return data


def wants_html(request: Request) -> bool:
    """``f=html``, or a browser's Accept; scripts get JSON (``http/negotiate.py``)."""
    return negotiate.chosen(request.query_params.get("f"), request.headers.get("accept", "")) == "html"


class Part:
    """One group of the portal's handlers (pages, API, public, edits), with what they all use."""

    def __init__(self, web: Any) -> None:
        self.web = web
        self.settings = web.settings
        self.store = web.store
        self.accounts = web.accounts
        self.sessions = web.sessions
        self.ops = web.ops
