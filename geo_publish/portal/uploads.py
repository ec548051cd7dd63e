"""Resumable uploads, streamed to disk.

The protocol is tus's core, cut to what a browser and a script need: ``POST`` declares a file
(name and size) and gets an id; ``PATCH`` with ``Upload-Offset`` appends bytes at that offset,
streamed from the request to the file in the order they arrive (never the whole body in
memory); ``HEAD`` says how many bytes the server has, so an interrupted upload continues from
there. The file is complete when its declared size has arrived.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
import unicodedata
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from geo_publish.errors import BodyTooLarge, Conflict, UsageError

MAX_NAME = 160
_UNSAFE = re.compile(r"[^\w.\-]+", re.UNICODE)


class OffsetMismatch(Conflict):
    """The client's ``Upload-Offset`` is not where the file ends (409; HEAD tells where)."""


def safe_name(filename: str) -> str:
    """The file's name as stored: no folders (of either kind of slash), no control characters,
    no leading dots; the extension kept, since ``ingest`` reads the format from it."""
    base = re.split(r"[\\/]", unicodedata.normalize("NFC", filename or ""))[-1]
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C")
    base = _UNSAFE.sub("_", base).lstrip("._") or "upload"
    stem, dot, ext = base.rpartition(".")
    if dot and len(ext) <= 10:
        return stem[: MAX_NAME - len(ext) - 1] + "." + ext if stem else "upload." + ext
    return base[:MAX_NAME]


def check_declared(filename: str, size: int, limit: int) -> str:
    """A one-line refusal for a declared upload the server will not take (400; 413 too large)."""
    name = (filename or "").strip()
    if not name or len(name) > 255:
        raise UsageError("the file name is empty or longer than 255 characters")
    if size <= 0:
        raise UsageError("the file is empty")
    if size > limit:
        raise BodyTooLarge(f"the file is {size} bytes; this server takes at most {limit} "
                         "(portal.max_upload_bytes in config.yml)")
    return name


async def append(path: Path, offset: int, size: int, chunks: AsyncIterator[bytes]) -> int:
    """Write the request's bytes at ``offset``; returns the new length. Bytes beyond the declared
    ``size`` are refused (nothing past it is written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "ab") as out:
        try:  # one writer per upload: a second PATCH at once is told to ask HEAD and retry
            fcntl.flock(out.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OffsetMismatch("another request is writing this upload") from None
        have = os.fstat(out.fileno()).st_size
        if offset != have:
            raise OffsetMismatch(f"the upload has {have} bytes, not {offset}")
        written = have
        async for chunk in chunks:
            if written + len(chunk) > size:
                raise UsageError(f"more bytes than the declared size ({size})")
            out.write(chunk)
            written += len(chunk)
    return written


def sweep(root: Path, accounts: Any, keep_days: float, at: float | None = None) -> list[str]:
    """Remove the folders of uploads no longer needed (rows stay, for the audit): every job made
    from the upload is published (its version is in the store), or nothing happened to it (bytes,
    jobs) for ``keep_days``. The ids removed."""
    import shutil
    from datetime import UTC, datetime

    def epoch(text: str) -> float:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()

    if not root.is_dir():
        return []
    limit = (at if at is not None else time.time()) - keep_days * 86400
    gone = []
    for folder in sorted(root.iterdir()):
        if not folder.is_dir() or not re.fullmatch(r"[A-Za-z0-9_-]{16,64}", folder.name):
            continue
        jobs = accounts.upload_jobs(folder.name)
        stamps = [p.stat().st_mtime for p in (folder, *folder.iterdir())]
        stamps += [epoch(j["updated"]) for j in jobs]
        done = bool(jobs) and all(j["status"] == "published" for j in jobs)
        if done or max(stamps) < limit:
            shutil.rmtree(folder, ignore_errors=True)
            gone.append(folder.name)
    return gone
