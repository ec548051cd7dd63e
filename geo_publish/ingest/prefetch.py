"""Run a generator one step ahead in a thread, so that producing batch k+1 overlaps writing batch k.

Shapely, pyproj and GDAL release the GIL in their heavy loops, so on two cores the pipeline's
processing and the store's writing proceed together.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


def prefetched(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    """Yield what ``items`` yields, computed up to ``depth`` items ahead; errors are re-raised here."""
    q: queue.Queue[tuple[object, object]] = queue.Queue(depth)
    stop = threading.Event()

    def put(kind: object, value: object) -> bool:
        while not stop.is_set():
            try:
                q.put((kind, value), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put("item", item):
                    return
            put(_DONE, None)
        except BaseException as err:  # noqa: BLE001 - handed to the consumer
            put("error", err)

    thread = threading.Thread(target=work, name="geo-publish-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = q.get()
            if kind is _DONE:
                return
            if kind == "error":
                raise value  # type: ignore[misc]
            yield value  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()
