"""Request bodies read within a bound: refused (413) as soon as they are known to be too large,
from the declared length or from what has arrived, never read whole first."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from geo_publish.errors import BodyTooLarge


async def bounded(chunks: AsyncIterator[bytes], declared: str | None, limit: int,
                  what: str = "the request body") -> bytes:
    """The body, or BodyTooLarge once the declared length or the bytes received pass ``limit``."""
    too_large = BodyTooLarge(f"{what} is larger than {limit:,} bytes")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large
    parts, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise too_large
        parts.append(chunk)
    return b"".join(parts)


async def chunks_of(receive: Callable[[], Awaitable[dict[str, Any]]]) -> AsyncIterator[bytes]:
    """An ASGI request's body chunks (Starlette's ``request.stream()`` for plain ASGI)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        yield message.get("body", b"")
        if not message.get("more_body"):
            return
