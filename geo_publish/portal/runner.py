"""The job runner: ingests uploaded files as drafts, outside the serving workers; and the mail
sender, which delivers the outbox (``--jobs-only`` and ``--mail-only`` split the two).

Jobs are rows in the store (``gp_jobs``), so they survive a restart and several servers can
share one queue: a runner claims the oldest queued job with a conditional UPDATE, runs the same
``ingest`` as the CLI with ``publish=False`` (a draft version the API does not serve), and
records the report, the problems' map and the diff against the published version. A job left
``running`` by a runner that died is queued again when a runner starts.

``geo-publish serve`` starts one job runner and one mail sender, at a lower priority (a long
ingest would otherwise hold the mail up); ``python -m geo_publish.portal.runner CONFIG`` starts a
process that does both, ``--jobs-only`` more runners.
"""

from __future__ import annotations

import json
import re
import logging
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from geo_publish import mail, process
from geo_publish.errors import GeoPublishError
from geo_publish.settings import Settings
from geo_publish.store import open_store
from geo_publish.store.accounts import Accounts

LOG = logging.getLogger("geo_publish.runner")
DIFF_IDS = 50  # ids listed per kind of change
MAIL_EVERY = 1.0  # seconds between looks at the outbox
PRUNE_EVERY = 60.0  # seconds between prunings of old versions and uploads


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def worker_alive(name: str) -> bool:
    host, _, pid = name.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine's runner: it requeues its own
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def upload_path(settings: Settings, upload: dict[str, Any]) -> Path:
    """Where an upload's bytes are: its own folder under uploads_dir, named by its safe name."""
    from geo_publish.portal.uploads import safe_name

    return settings.path(settings.portal.uploads_dir) / upload["id"] / safe_name(upload["filename"])


def _diff(settings: Settings, collection: str, draft: int) -> dict[str, Any] | None:
    from geo_publish.diff import diff_versions
    from geo_publish.manifest import load_manifest

    store = open_store(settings)
    try:
        old = store.version(collection)  # the published one
    except GeoPublishError:
        return None  # a new collection: everything is new
    published = old.version
    manifest = load_manifest(settings.path(settings.collections_dir), collection)
    id_field = manifest.schema_.id_field if manifest else None
    out: dict[str, Any] = {"published": published, "old_count": old.feature_count,
                           "id_field": id_field}
    if not id_field:
        return out
    try:
        d = diff_versions(store, collection, id_field, published, draft)
    except GeoPublishError as err:
        out["error"] = err.one_line()
        return out
    for kind in ("added", "removed", "changed"):
        ids = getattr(d, kind)
        out[kind] = len(ids)
        out[kind + "_ids"] = ids[:DIFF_IDS]
    return out


# an absolute path on this server (not part of a URL): what an officer sees of it is its last part
_SERVER_PATH = re.compile(r"(?<![\w.:/~-])/(?:[^\s/:'\"()<>]+/)+([^\s/:'\"()<>]*)")


def public_text(text: str, path: Path, filename: str) -> str:
    """``text`` (an error, a warning) as an officer may see it: the upload named as they named
    it, and no path of this server (the job page and the API show it; the server log has it)."""
    text = text.replace(str(path), filename)
    return _SERVER_PATH.sub(lambda m: m.group(1), text)


def run_job(settings: Settings, accounts: Accounts, job: dict[str, Any]) -> None:
    """Ingest one job's upload as a draft and record what came of it on the job's row."""
    from geo_publish.ingest.report import _map_points
    from geo_publish.workflow import ingest

    upload = accounts.upload(job["upload_id"])
    if upload is None or not upload["completed"]:
        accounts.update_job(job["id"], status="rejected", message="the upload is incomplete")
        return
    path = upload_path(settings, upload)
    if not path.is_file():
        accounts.update_job(job["id"], status="rejected", message=(
            "the uploaded file is no longer kept (it is removed once published, or after "
            f"{settings.portal.keep_uploads_days:g} days): upload it again"))
        return
    opts = job["options"]
    last = [0.0]

    def progress(done: int, total: int | None) -> None:
        t = time.monotonic()
        if t - last[0] >= 0.5:
            last[0] = t
            accounts.update_job(job["id"], done=done, total=total)

    report_path = path.parent / f"report-{job['id']}.json"
    try:
        outcome = ingest(settings, path, job["collection"], layer=opts.get("layer") or None,
                         source_crs=opts.get("crs") or None, encoding=opts.get("encoding") or None,
                         report_path=report_path, progress=progress, publish=False)
    except GeoPublishError as err:
        report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.exists() else None
        name = upload["filename"]
        if report is not None:
            report["error"] = public_text(report.get("error") or "", path, name) or None
            report["warnings"] = [public_text(w, path, name) for w in report.get("warnings", [])]
        accounts.update_job(job["id"], status="rejected", message=public_text(err.one_line(), path, name),
                            result={"report": report})
        return
    report = outcome.report
    version = report.version
    shown = report.model_dump(mode="json")
    shown["warnings"] = [public_text(w, path, upload["filename"]) for w in shown["warnings"]]
    result = {
        "report": shown,
        "map": _map_points(report),
        "diff": _diff(settings, job["collection"], version) if version else None,
    }
    accounts.update_job(job["id"], status="ready", version=version, done=report.counts.read,
                        total=report.counts.read, message="", result=result)


HEARTBEAT = 5.0  # seconds: look at an unchanged GeoPackage store this often (mail retries)


def _watcher(settings: Settings) -> Any:
    """A function telling whether the store may hold something new. A GeoPackage store is asked
    only when its file changed (a new job or message is a commit), or every HEARTBEAT seconds:
    each connection to a GeoPackage of hundreds of layers costs SQLite tens of milliseconds
    parsing the schema, which polling twice a second made a steady 13 % of a core. PostgreSQL
    is always asked."""
    if settings.store.backend != "geopackage":
        return lambda: True
    from geo_publish.store.gpkg_read import file_state

    path = settings.path(settings.store.path)
    seen: list[Any] = [None, 0.0]

    def changed() -> bool:
        state, now = file_state(path), time.monotonic()
        if state != seen[0] or now - seen[1] >= HEARTBEAT:
            seen[0], seen[1] = state, now
            return True
        return False

    return changed


def _prune(settings: Settings, accounts: Accounts) -> None:
    """Old versions' features dropped (store.keep_versions): a layer updated every minute
    through the API would otherwise keep a copy of itself per update. And uploaded files no
    longer needed (portal.keep_uploads_days)."""
    from geo_publish.portal.uploads import sweep

    try:
        gone = open_store(settings).prune(settings.store.keep_versions) if settings.store.keep_versions else []
        files = sweep(settings.path(settings.portal.uploads_dir), accounts, settings.portal.keep_uploads_days)
        # rows of sessions that ended (or went idle) a day ago: the list of sessions is of open ones
        accounts.forget_sessions(time.time() - max(settings.portal.session_hours * 3600, 86400))
    except (GeoPublishError, OSError) as err:
        LOG.error("geo-publish: pruning old versions and uploads failed: %s",
                  err.one_line() if isinstance(err, GeoPublishError) else err)
        return
    if gone:
        LOG.warning("geo-publish: features of %d old version(s) dropped (store.keep_versions: %d)",
                    len(gone), settings.store.keep_versions)
    if files:
        LOG.warning("geo-publish: %d uploaded file(s) no longer needed removed", len(files))


def run(config: Path, interval: float = 0.5, once: bool = False, jobs: bool = True,
        outbox: bool = True) -> None:
    """Run jobs (``jobs``) and send the outbox (``outbox``) until SIGTERM. ``serve`` runs the
    two in separate processes, so that mail is not held up while a long ingest runs."""
    from geo_publish.settings import load_settings
    from geo_publish.store.location import Source

    settings = load_settings(config)
    Source.export_dsn(settings)
    accounts = open_store(settings).accounts()
    name = worker_name()
    process.exit_on_sigterm()  # the job in progress is queued again by the next runner
    if jobs:
        requeued = accounts.requeue(worker_alive)
        if requeued:
            LOG.warning("geo-publish: %d interrupted job(s) queued again", requeued)
    last_mail = 0.0
    last_prune = time.monotonic()
    changed = _watcher(settings)
    while True:
        fresh = changed() or once
        if jobs and time.monotonic() - last_prune >= PRUNE_EVERY:
            last_prune = time.monotonic()
            _prune(settings, accounts)
        if outbox and fresh and time.monotonic() - last_mail >= MAIL_EVERY:  # between jobs
            last_mail = time.monotonic()
            try:
                mail.deliver(settings, accounts)
            except GeoPublishError as err:
                LOG.error("geo-publish: outbox unavailable: %s", err.one_line())
        if not jobs:
            if once:
                return
            time.sleep(MAIL_EVERY)
            continue
        job = None
        try:
            job = accounts.claim_job(name) if fresh else None
        except GeoPublishError as err:
            LOG.error("geo-publish: job queue unavailable: %s", err.one_line())
        if job is None:
            if once:
                return
            time.sleep(interval)
            continue
        try:
            run_job(settings, accounts, job)
        except Exception as err:  # noqa: BLE001 - a bug of ours: the job says so, the runner lives
            LOG.exception("geo-publish: job %s failed", job["id"])
            accounts.update_job(job["id"], status="failed",
                                message=f"internal error: {type(err).__name__} (see the server log)")


if __name__ == "__main__":
    logging.basicConfig(format="%(message)s")
    args = sys.argv[1:]
    run(Path(args[-1]), once="--once" in args, jobs="--mail-only" not in args,
        outbox="--jobs-only" not in args)
