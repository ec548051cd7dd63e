"""The site builder: one process beside the server's workers that rebuilds the viewer site when
the published state changes, and swaps it in when complete.

A site rebuild reads whole layers (a 1,000,000-point layer takes a minute and more than a GB);
inside a serving worker it would stall that worker's event loop until uvicorn's health check
killed it, and the replacement would start the same rebuild. Here it runs at a lower CPU and
I/O priority, only for the layers that changed (``SiteBuilder`` links the rest from the site
being served), and a serving worker never waits for it: /site/ serves the previous site until
the new one is complete (``publish_site``).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

LOG = logging.getLogger("geo_publish.site_builder")
NICE = 10


def _lower_priority() -> None:
    """Child-side set-up: below the workers for CPU and I/O; dies with the server."""
    os.nice(NICE)
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: no orphan when serve is killed
        # ioprio_set(IOPRIO_WHO_PROCESS, 0, IOPRIO_CLASS_BE << 13 | 7): lowest best-effort I/O
        libc.syscall(251 if os.uname().machine == "x86_64" else 30, 1, 0, (2 << 13) | 7)
    except (OSError, AttributeError):
        pass


def spawn(module: str, *args: str) -> subprocess.Popen[bytes]:
    """``python -m module args`` beside the server, below it in priority, dying with it."""
    return subprocess.Popen([sys.executable, "-m", module, *args], preexec_fn=_lower_priority,  # noqa: PLW1509
                            stdin=subprocess.DEVNULL)


def start(config: Path, api_url: str | None) -> subprocess.Popen[bytes]:
    return spawn("geo_publish.serve.site_builder", str(config), *([api_url] if api_url else []))


def build_once(config: Path, api_url: str | None) -> None:
    """The first site, before serving starts: in a process of its own too, so that the serving
    process never holds the memory a site build takes."""
    args = [sys.executable, "-m", "geo_publish.serve.site_builder", "--once", str(config)]
    done = subprocess.run(args + ([api_url] if api_url else []), stdin=subprocess.DEVNULL)
    if done.returncode:
        LOG.error("geo-publish: the viewer site was not built; the builder tries again while serving")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _report(err: Exception, last: str, what: str) -> str:
    """Log an error once (not again each second while it lasts); the text logged."""
    text = " ".join(str(err).split()) or type(err).__name__
    if text != last:
        LOG.error("geo-publish: %s: %s", what, text)
    return text


def run(config: Path, api_url: str | None, interval: float = 1.0) -> None:
    from geo_publish.publish.viewer.site import add_archives, publish_site
    from geo_publish.store.location import Source
    from geo_publish.settings import load_settings

    settings = load_settings(config)
    Source.export_dsn(settings)
    stopping = False

    def on_term(*_: object) -> None:
        nonlocal stopping
        stopping = True
        raise SystemExit(0)  # a build in progress is abandoned; its folder is removed

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches serve, which stops us
    last_error = ""
    archives_due = True  # the first site was built without them (build_once)
    retry_at = 0.0  # after a failure, archives are tried again a minute later (or after a build)
    while not stopping:
        try:
            _, built = publish_site(settings, api_url, live=True, archives=False)
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
    if argv[:1] == ["--once"]:
        from geo_publish.errors import GeoPublishError
        from geo_publish.publish.viewer.site import publish_site
        from geo_publish.settings import load_settings
        from geo_publish.store.location import Source

        settings = load_settings(Path(argv[1]))
        Source.export_dsn(settings)
        try:
            # the first site before serving: its tile archives come after, in the background
            publish_site(settings, argv[2] if len(argv) > 2 else None, live=True, archives=False)
        except GeoPublishError as err:
            print(f"error: {err.one_line()}", file=sys.stderr)
            sys.exit(2)
    else:
        run(Path(argv[0]), argv[1] if len(argv) > 1 else None)
