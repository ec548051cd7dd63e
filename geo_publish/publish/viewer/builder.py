"""The site builder: one process beside the server's workers that rebuilds the viewer site when
the published state changes: in place, page by page, after a publish (``deploy``).

A site rebuild reads whole layers (a 1,000,000-point layer takes a minute and more than a GB);
inside a serving worker it would stall that worker's event loop until uvicorn's health check
killed it, and the replacement would start the same rebuild. Here it runs at a lower CPU and
I/O priority, only for the layers that changed (the others' pages and files are left as they
are), and a serving worker never waits for it: /site/ serves each page as it was until its
replacement, whose data files are written before it, is renamed over it (``publish_site``).
It also builds the first site, while the workers start: /site/ answers 503 until it is there.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

from geo_publish import process

LOG = logging.getLogger("geo_publish.site_builder")


def start(config: Path, api_url: str | None) -> subprocess.Popen[bytes]:
    return process.spawn("geo_publish.publish.viewer.builder", str(config), *([api_url] if api_url else []))


def _report(err: Exception, last: str, what: str) -> str:
    """Log an error once (not again each second while it lasts); the text logged."""
    text = " ".join(str(err).split()) or type(err).__name__
    if text != last:
        LOG.error("geo-publish: %s: %s", what, text)
    return text


def run(config: Path, api_url: str | None, interval: float = 1.0) -> None:
    from geo_publish.publish.viewer.deploy import add_archives, publish_site
    from geo_publish.store.location import Source
    from geo_publish.read.state import FileTimes, quick_signature, state_signature, watch_of, watched
    from geo_publish.settings import load_settings

    settings = load_settings(config)
    Source.export_dsn(settings)
    process.exit_on_sigterm()  # a build in progress is abandoned; its folder is removed
    last_error = ""
    archives_due = True  # a site is built without them: they come after it
    retry_at = 0.0  # after a failure, archives are tried again a minute later (or after a build)
    seen = ""
    # the manifests and styles changed since the last build (by file stem), as the watcher
    # reports them: what a build after the first looks at, instead of every layer's files.
    # None: not known (the first build checks every layer's)
    changed: set[str] | None = None
    times: FileTimes | None = None
    while True:
        now = quick_signature(settings)  # nothing to read when nothing changed
        try:
            if now != seen:
                stems = watch_of(settings).drain()
                if times is None:
                    times = FileTimes(watched(settings))
                else:
                    times.update(stems)
                if changed is not None:
                    changed |= stems  # kept until a build succeeds
                _, built = publish_site(settings, api_url, signature=state_signature(settings, times),
                                        live=True, archives=False, changed=changed)
                seen, changed = now, set()
            else:
                built = False
            if built:
                LOG.warning("geo-publish: viewer site rebuilt")
                archives_due, retry_at = True, 0.0
            last_error = ""
        except Exception as err:  # noqa: BLE001 - the previous site stays served
            last_error = _report(err, last_error, "viewer site not rebuilt (the previous one is served)")
        # then the tiles of the site's large layers (the API cuts them meanwhile)
        if archives_due and time.monotonic() >= retry_at:
            try:
                if add_archives(settings):
                    LOG.warning("geo-publish: vector tile archives written")
                archives_due = False
            except Exception as err:  # noqa: BLE001 - the API keeps cutting those tiles
                retry_at = time.monotonic() + 60
                last_error = _report(err, last_error, "vector tile archives not written (the API "
                                                      "cuts those tiles)")
        time.sleep(interval)


if __name__ == "__main__":
    logging.basicConfig(format="%(message)s")
    argv = sys.argv[1:]
    run(Path(argv[0]), argv[1] if len(argv) > 1 else None)
