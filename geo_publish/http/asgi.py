"""The ASGI pieces the API answers with: JSON and OGC exception bodies, CORS and Vary headers,
and a request body handed on for another reader."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

Headers = list[tuple[bytes, bytes]]
# every API answer depends on these request headers (format, language, compression)
VARY = (b"vary", b"Accept, Accept-Language, Accept-Encoding")


def json_response(status: int, body: dict[str, Any] | str, ctype: str = "application/json") -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    data = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    return status, [(b"content-type", f"{ctype}; charset=utf-8".encode())], data.encode()


def exception(status: int, code: str, description: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    return json_response(status, {"code": code, "type": code, "description": description})


def cors() -> Headers:
    return [(b"access-control-allow-origin", b"*"),
            (b"access-control-expose-headers", b"ETag, Content-Crs, Link")]


def replay(body: bytes) -> Callable[[], Any]:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def headers_of(scope: dict[str, Any]) -> dict[str, str]:
    """A request's headers by lower-case name."""
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def none_match(headers: dict[str, str]) -> list[str]:
    """The entity tags of If-None-Match."""
    return [t.strip() for t in headers.get("if-none-match", "").split(",") if t.strip()]


async def send_whole(send: Any, status: int, headers: Headers, body: bytes) -> None:
    """A complete answer: start (with its length) and body."""
    await send({"type": "http.response.start", "status": status,
                "headers": headers + [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
