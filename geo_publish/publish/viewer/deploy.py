"""Deploying the viewer site. A first build, or one by another builder (a new geo-publish, another
API address), goes into a new folder ``<build>/sites/<n>``, and once complete the link
``<build>/site`` is pointed at it in one rename, so a web server (or the API's ``/site/``) serves
the old site or the new one, never a half-built one.

After a publish, the served site is updated in place instead: the changed layers' data files
are written under new names (their version is in the name), then each page that changed is
replaced in one rename, then the files of versions no page refers to are removed. A page never
mixes two versions, and the update costs the layers that changed (a new folder costs a link
per file of every layer: 12 s at 10,000 layers). Processes share the build folder under a lock;
a site built from the same state is not built again."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from geo_publish.publish.viewer.problems import problems_path
from geo_publish.publish.viewer.site import WARM, SiteBuilder, fingerprint, write_text
from geo_publish.settings import Settings


def site_link(settings: Settings) -> Path:
    """``<build>/site``: a symbolic link to the complete site being served."""
    return settings.path(settings.build_dir) / "site"


def add_archives(settings: Settings) -> int:
    """The PMTiles archives the served site lacks, built into it (each file renamed into place
    once complete); how many were built."""
    import fcntl

    link = site_link(settings)
    if not link.exists():
        return 0
    with open(settings.path(settings.build_dir) / ".site.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return SiteBuilder(settings, site=link.resolve()).add_archives()


def publish_site(settings: Settings, api_url: str | None = None,
                 signature: str | None = None, live: bool = False,
                 archives: bool = True, strict: bool = False,
                 changed: set[str] | None = None) -> tuple[Path, bool]:
    """Bring the served site ``<build>/site`` to the present state: updated in place when the
    same builder made it, else built in a new folder that is swapped in once complete (see the
    module's text). Nothing is done when the served site was built from the same state
    (published versions, manifests, styles, this builder, the API URL). Returns the link and
    whether anything was built. Processes share the build folder under a lock.

    A layer whose map cannot be built as styled is drawn plain and named in
    ``map-problems.json`` (see ``map_problems``); ``strict`` raises its error instead.

    ``changed``: the stems of the manifests and styles changed since this process's last call
    (the server's site builder's watcher). With it, a site this process updated last is updated
    from what it kept of it (``site.Warm``): the layers whose published version, manifest or
    style changed are the only ones looked at. Without it, every layer's files are looked at."""
    import fcntl
    import time

    from geo_publish.read.state import state_signature

    build = settings.path(settings.build_dir)
    link, sites = site_link(settings), build / "sites"
    sites.mkdir(parents=True, exist_ok=True)
    with open(build / ".site.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        builder_key = f"{fingerprint()} {api_url or ''} {live}"
        want = f"{signature or state_signature(settings)} {builder_key}"
        if link.is_dir() and not link.is_symlink():  # a site built in place by geo-publish < 0.2
            os.rename(link, sites / f"legacy-{time.time_ns()}")
        current = link.resolve() if link.is_symlink() and link.exists() else None
        state = current / ".state" if current is not None else None
        served = state.read_text() if state is not None and state.is_file() else ""
        if served == want:
            return link, False
        if current is not None and served.endswith(" " + builder_key):
            # the same builder, another state: the served site updated in place (see above)
            warm = WARM.pop(str(link), None)  # taken: a failed build leaves none
            if warm is not None and (warm.state != served or warm.site != current):
                warm = None  # another process updated the site since
            builder = SiteBuilder(settings, api_url, current, current, live, archives, strict,
                                  changed=changed, warm=warm)
            builder.build()
            write_text(current / ".state", want)
            WARM[str(link)] = builder.warm(want)
            write_text(problems_path(settings), json.dumps(builder.problems, ensure_ascii=False))
            return link, True
        WARM.pop(str(link), None)
        tmp = sites / f".building-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            builder = SiteBuilder(settings, api_url, tmp, current, live, archives, strict)
            builder.build()
            (tmp / ".state").write_text(want)
            new = sites / f"{time.time_ns()}"
            os.rename(tmp, new)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        pointer = build / f".site.{os.getpid()}"
        pointer.unlink(missing_ok=True)
        os.symlink(os.path.join("sites", new.name), pointer)
        os.replace(pointer, link)
        WARM[str(link)] = builder.warm(want, new)
        write_text(problems_path(settings), json.dumps(builder.problems, ensure_ascii=False))
        # keep the one just replaced: pages being loaded from it finish
        for old in sites.iterdir():
            if old not in (new, current) and not old.name.startswith(".building-"):
                shutil.rmtree(old, ignore_errors=True)
        return link, True


def clean(settings: Settings) -> None:
    build = settings.path(settings.build_dir)
    site_link(settings).unlink(missing_ok=True)
    shutil.rmtree(build / "sites", ignore_errors=True)
