"""The published state's signature: what the served configuration and the site depend on
(published versions, manifests and styles). The API's workers and the site builder both watch
it, each second, to know when to rebuild; what it costs must not grow with the number of layers:

- the store's part is read again only when the store changed (a GeoPackage's file and log times;
  PostgreSQL: a counter every publishing transaction moves, one row);
- manifests and styles are watched by the operating system (``watchfiles``: inotify on Linux),
  so a second with no change costs nothing; every ``FULL_CHECK_S`` (and where no watcher can
  run) their times are read the old way too, which catches what a watcher could miss.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from pathlib import Path

from geo_publish.settings import Settings

LOG = logging.getLogger("geo_publish.serve")
FULL_CHECK_S = 60.0


def _yml_names(d: Path) -> list[str]:
    """The ``.yml`` files of a folder, by name (none if it is not there). os.scandir: pathlib's
    glob and stat took 0.4 s at 10,000 layers."""
    try:
        return [e.name for e in os.scandir(d) if e.name.endswith(".yml")]
    except OSError:
        return []


def _entry(d: Path, name: str) -> str | None:
    """A manifest's or style's name, time and size (None if it is gone)."""
    try:
        st = os.stat(d / name)
    except OSError:
        return None
    return f"{d.name}/{name}:{st.st_mtime_ns}:{st.st_size}"


def _file_times(dirs: list[Path]) -> str:
    """Every manifest's and style's name, time and size (a loop over every layer's files: the
    fallback and the periodic full check only)."""
    parts = (_entry(d, name) for d in dirs for name in sorted(_yml_names(d)))
    return "|".join(e for e in parts if e is not None)


def _mark(entry: str) -> int:
    return int.from_bytes(hashlib.sha1(entry.encode()).digest(), "big")


class FileTimes:
    """Every manifest's and style's name, time and size, as a digest that any process seeing the
    same files computes alike (a sum of one hash per file), kept up to date at the cost of the
    files that changed (``update`` with the stems a ``Watch`` drained): what a serving worker
    names its configuration by after a publish, which read every file's time (0.4 s at 10,000
    layers)."""

    def __init__(self, dirs: list[Path]) -> None:
        self.dirs = dirs
        self._entries: dict[tuple[str, str], str] = {}
        self._sum = 0
        self.update({"*"})

    def update(self, stems: set[str]) -> None:
        """Read again the files of ``stems`` ("*": every file, a loop over every layer's files:
        at the start and when a watcher may have missed a change)."""
        if "*" in stems:
            self._entries, self._sum = {}, 0
            for d in self.dirs:
                for name in _yml_names(d):
                    self._set((d.name, name), _entry(d, name))
            return
        for stem in stems:
            for d in self.dirs:
                self._set((d.name, f"{stem}.yml"), _entry(d, f"{stem}.yml"))

    def _set(self, key: tuple[str, str], entry: str | None) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._sum -= _mark(old)
        if entry is not None:
            self._entries[key] = entry
            self._sum += _mark(entry)
        self._sum %= 1 << 160

    def digest(self) -> str:
        return f"{self._sum:040x}"


class Watch:
    """Manifests and styles, watched; ``token()`` changes when one of them did, ``drain()``
    says which (by file stem: a collection id, or a style's name)."""

    def __init__(self, dirs: list[Path]) -> None:
        self.dirs = dirs
        self._lock = threading.Lock()
        self._count = 0
        self._names: set[str] = set()
        self._stop = threading.Event()
        self._full = ""
        self._full_at = 0.0
        self.thread: threading.Thread | None = None
        self.live = self._start()

    def _start(self) -> bool:
        try:
            import watchfiles
        except ImportError:
            return False
        for d in self.dirs:
            d.mkdir(parents=True, exist_ok=True)  # a folder made later would not be watched
        ready = threading.Event()

        def loop() -> None:
            try:
                for changes in watchfiles.watch(
                        *self.dirs, watch_filter=lambda _c, p: p.endswith(".yml"), debounce=50,
                        step=20, stop_event=self._stop, yield_on_timeout=True, rust_timeout=500,
                        raise_interrupt=False, recursive=False):
                    ready.set()
                    if changes:
                        with self._lock:
                            self._count += 1
                            self._names |= {Path(p).stem for _, p in changes}
            except Exception as err:  # noqa: BLE001 - the periodic full check still runs
                LOG.error("geo-publish: watching %s failed (%s): checking every %g s instead",
                          ", ".join(map(str, self.dirs)), err, FULL_CHECK_S)

        self.thread = threading.Thread(target=loop, name="geo-publish-files", daemon=True)
        self.thread.start()
        ready.wait(5)  # its first timeout: the watcher is in place
        return True

    def token(self) -> str:
        """Changes when a manifest or a style did."""
        now = time.monotonic()
        if not self.live or now - self._full_at >= FULL_CHECK_S:
            full = _file_times(self.dirs)
            if full != self._full and self._full_at:
                with self._lock:  # what the watcher missed (or there is none): all may have changed
                    self._count += 1
                    self._names.add("*")
            self._full, self._full_at = full, now
        with self._lock:
            return str(self._count)

    def drain(self) -> set[str]:
        """The stems of the files changed since the last call ("*": any may have)."""
        with self._lock:
            names, self._names = self._names, set()
        return names

    def stop(self) -> None:
        self._stop.set()


_watches: dict[tuple[str, ...], Watch] = {}
_published: dict[str, tuple[object, str]] = {}


def watched(settings: Settings) -> list[Path]:
    """Where a project's manifests and styles are."""
    return [settings.path(settings.collections_dir), settings.path(settings.styles_dir)]


def watch_of(settings: Settings) -> Watch:
    """This process's watch of a project's manifests and styles (one per project)."""
    dirs = watched(settings)
    key = tuple(map(str, dirs))
    found = _watches.get(key)
    if found is None:
        found = _watches[key] = Watch(dirs)
    return found


def published_signature(settings: Settings) -> str:
    """A digest of which version of each collection is published, computed again only when
    the store changed (GeoPackage: its files' times; PostgreSQL: the ``gp_changes`` counter)."""
    from geo_publish.read.readers import reader
    from geo_publish.store.gpkg_read import file_state
    from geo_publish.store.location import Source

    source = Source.of(settings)
    if settings.store.backend == "geopackage":
        state: object = file_state(source.data)
        if state is None:
            return ""
    else:  # a counter moved by every publish (one row)
        state = reader(source.data).published_token()
    kept = _published.get(source.data)
    if kept is not None and kept[0] == state:
        return kept[1]
    digest = hashlib.sha1(json.dumps(sorted(reader(source.data).all_published().items()))
                          .encode()).hexdigest()
    _published[source.data] = (state, digest)
    return digest


def quick_signature(settings: Settings) -> str:
    """Changes when the published versions, a manifest or a style did; costs nothing when
    nothing did. This process's own (a counter of changes seen): what is checked each second."""
    return f"{published_signature(settings)}:{watch_of(settings).token()}"


def state_signature(settings: Settings, times: FileTimes | None = None) -> str:
    """What the served configuration and the site depend on, from their content (published
    versions, manifests' and styles' times): kept with a built site, compared across processes.
    ``times``: the manifests' and styles' times as this process keeps them up to date (the
    site builder's); without it every file's time is read (a loop over every layer's files)."""
    files = times.digest() if times is not None else FileTimes(watched(settings)).digest()
    return hashlib.sha1(f"{published_signature(settings)}|{files}".encode()).hexdigest()
