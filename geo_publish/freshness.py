"""Is a layer as current as its passport promises? From the update frequency and the age of
the published version: fresh, due, overdue or delinquent, with thresholds like the Humanitarian
Data Exchange's (due when a period has passed, overdue a margin later, delinquent a longer one).

`geo-publish remind` (cron or a systemd timer) mails the responsible person when a layer
becomes overdue and the organisation's contact when it becomes delinquent, once per version and
state: the outbox drops a message whose id it already holds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from geo_publish.schedule import NO_SCHEDULE, STATES, THRESHOLDS, parse

__all__ = ["NO_SCHEDULE", "STATES", "THRESHOLDS", "parse", "rate", "remind"]


def rate(frequency: str | None, updated: str | None, at: datetime | None = None) -> dict[str, Any]:
    """The layer's freshness: ``state`` (fresh/due/overdue/delinquent, or unknown without a
    frequency or a date), ``age_days`` and when the next state begins (``next_at``)."""
    at = at or datetime.now(UTC)
    if not updated or frequency in (None, "unknown"):
        return {"state": "unknown", "frequency": frequency or "unknown", "updated": updated}
    age = (at - parse(updated)).total_seconds() / 86400
    out: dict[str, Any] = {"frequency": frequency, "updated": updated, "age_days": round(age, 2)}
    if frequency in NO_SCHEDULE or frequency not in THRESHOLDS:
        return out | {"state": "fresh", "next_at": None}
    due, overdue, delinquent = THRESHOLDS[frequency]
    state = "fresh" if age < due else "due" if age < overdue else "overdue" if age < delinquent else "delinquent"
    following = {"fresh": due, "due": overdue, "overdue": delinquent}.get(state)
    next_at = (parse(updated) + timedelta(days=following)).isoformat() if following else None
    return out | {"state": state, "next_at": next_at}


def remind(settings: Any, at: datetime | None = None) -> list[tuple[str, str, str]]:
    """Queue the reminders the layers' states call for and send what is due; returns
    (collection, state, recipient) for each message newly queued."""
    from geo_publish import mail
    from geo_publish.store import open_store

    store = open_store(settings)
    channel = store.accounts()
    owners = channel.owners()
    queued = []
    for info in store.collections():
        passport = store.passport(info.collection)
        f = rate(passport.get("update_frequency"), info.created, at)
        state = f["state"]
        if state not in ("overdue", "delinquent"):
            continue
        title = (passport.get("title") or {}).get("en") or info.collection
        responsible = (passport.get("responsible") or {}).get("email") or ""
        if state == "overdue":
            to = responsible
        else:
            org = channel.org(owners.get(info.collection, "")) or {}
            to = org.get("email") or settings.mail.helpdesk or responsible
        if not to:
            continue
        body = (f"The layer \"{title}\" ({info.collection}) is {state}: its passport promises "
                f"{f['frequency']} updates, and version {info.version} was published "
                f"{f['age_days']:.0f} days ago ({info.created}).\n\nPublish a new version, or "
                "change the update frequency in its passport if the promise no longer holds.\n")
        if channel.enqueue(mail.message_id(f"freshness.{state}", f"{info.collection}.v{info.version}"),
                           to, f"[{info.collection}] The layer is {state}", body):
            queued.append((info.collection, state, to))
    mail.deliver(settings, channel, limit=1000)
    return queued
