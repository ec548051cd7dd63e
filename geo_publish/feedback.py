"""Citizens report problems to the person who answers for a layer; the officer answers and
sets a status; the public sees each layer's reports (never the reporters' addresses).

open -> acknowledged -> fixed in version N, or declined with a reason. The passport's
responsible person is mailed each new report (the helpdesk in copy); a reporter who left an
e-mail is mailed each answer. Mail goes through the outbox (``mail``).
"""

from __future__ import annotations

import math
import re
import statistics
import time
from datetime import datetime
from typing import Any

from geo_publish.errors import NotFound, TooMany, UsageError
from geo_publish.mail import message_id
from geo_publish.settings import Settings
from geo_publish.store.accounts import Channel

CATEGORIES = {
    "wrong_location": "Wrong location", "closed_or_moved": "Closed or moved",
    "wrong_information": "Wrong information", "missing_feature": "Missing feature", "other": "Other",
}
STATUSES = ("open", "acknowledged", "fixed", "declined")
NEXT = {"open": {"acknowledged", "fixed", "declined"}, "acknowledged": {"fixed", "declined"},
        "fixed": set(), "declined": set()}
_EMAIL = re.compile(r"^[^@\s<>\"',;]{1,64}@[^@\s<>\"',;]{1,190}\.[^@\s<>\"',;]{1,63}$")


def _text(value: Any, name: str, limit: int, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise UsageError(f"{name} must be text")
    value = value.strip()
    if "\x00" in value:
        raise UsageError(f"{name}: text with a NUL character is not accepted")
    if required and not value:
        raise UsageError(f"{name} is empty")
    if len(value) > limit:
        raise UsageError(f"{name} is longer than {limit} characters")
    return value


def _coordinate(value: Any, name: str, bound: float) -> float | None:
    if value in (None, ""):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{name} must be a number") from None
    if not math.isfinite(number) or abs(number) > bound:
        raise UsageError(f"{name} must be within ±{bound:g}")
    return number


def submit(settings: Settings, channel: Channel, store: Any, collection: str, data: dict[str, Any],
           address: str, portal_url: str = "") -> dict[str, Any]:
    """Record a report and queue the mail to the responsible person. The honeypot field
    (``website``, hidden from people) filled in means a robot: accepted, not kept."""
    if not isinstance(data, dict):
        raise UsageError("the report must be a JSON object or a form")
    if _text(data.get("website"), "website", 2000):
        return {"id": None, "status": "open"}
    category = _text(data.get("category"), "category", 40, required=True)
    if category not in CATEGORIES:
        raise UsageError(f"category must be one of {', '.join(CATEGORIES)}")
    text = _text(data.get("text"), "text", settings.feedback.max_text, required=True)
    email = _text(data.get("email"), "email", 254) or None
    if email and not _EMAIL.match(email):
        raise UsageError("email is not an e-mail address")
    feature = _text(data.get("feature"), "feature", 200) or None
    lon = _coordinate(data.get("lon"), "lon", 180)
    lat = _coordinate(data.get("lat"), "lat", 90)
    if (lon is None) != (lat is None):
        raise UsageError("give both lon and lat, or neither")
    info = store.version(collection)  # NotFound: no such published layer
    now = time.time()
    window = settings.feedback.window_minutes * 60
    if not channel.take({f"feedback:{address}": settings.feedback.per_address}, now, now - window):
        raise TooMany(f"at most {settings.feedback.per_address} reports per "
                      f"{settings.feedback.window_minutes:g} minutes from one address")
    fid = channel.add_feedback(collection, info.version, feature, category, text, email, lon, lat, address)
    passport = store.passport(collection)
    contact = (passport.get("responsible") or {}).get("email")
    title = (passport.get("title") or {}).get("en") or collection
    if contact:
        where = f"\nLocation: {lat}, {lon}" if lon is not None else ""
        body = (f"A problem was reported on the layer \"{title}\" ({collection}, version "
                f"{info.version}).\n\nCategory: {CATEGORIES[category]}\n"
                f"Feature: {feature or '-'}{where}\nReporter's e-mail: {email or '(none left)'}\n\n"
                f"{text}\n\nAnswer it and set its status in the publishing portal: "
                f"{portal_url.rstrip('/')}/publish/feedback/{fid}\n")
        channel.enqueue(message_id("report", fid), contact,
                        f"[{collection}] Problem reported: {CATEGORIES[category]}", body,
                        cc=settings.mail.helpdesk)
    return {"id": fid, "status": "open", "collection": collection, "version": info.version}


def answer(channel: Channel, store: Any, feedback_id: str, status: str, text: str,
           fixed_version: Any = None) -> dict[str, Any]:
    """Answer a report and move it on; the reporter, if they left an e-mail, is told."""
    row = channel.feedback(feedback_id)
    if row is None:
        raise NotFound("no such report")
    if status not in STATUSES:
        raise UsageError(f"status must be one of {', '.join(STATUSES)}")
    text = _text(text, "answer", 4000)
    if status != row["status"] and status not in NEXT[row["status"]]:
        raise UsageError(f"a report that is {row['status']} cannot become {status}")
    version = None
    if status == "fixed":
        try:
            version = int(fixed_version)
        except (TypeError, ValueError):
            raise UsageError("fixed needs the version that fixed it") from None
        store.version(row["collection"], version)  # NotFound: no such version
    if status == "declined" and not text:
        raise UsageError("declined needs a reason (the answer)")
    if not text and status == row["status"]:
        raise UsageError("nothing to change: give an answer or a new status")
    channel.set_feedback(feedback_id, status, text or row["answer"], version)
    if row["email"]:
        said = {"acknowledged": "has been acknowledged", "fixed": f"is fixed in version {version}",
                "declined": "was declined", "open": "has an answer"}[status]
        body = (f"Your report on the layer {row['collection']} ({CATEGORIES[row['category']]}) "
                f"{said}.\n\n{text}\n\nYour report:\n{row['text']}\n")
        channel.enqueue(message_id(f"answer.{status}", f"{feedback_id}.{int(time.time())}"),
                        row["email"], f"[{row['collection']}] Your report {said}", body)
    return channel.feedback(feedback_id)  # type: ignore[return-value]


def public(channel: Channel, collection: str) -> dict[str, Any]:
    """A layer's reports as the public sees them (no e-mail, no address), with the number
    open and the median time to a first answer."""
    rows = channel.feedback_of([collection])
    out = [{k: r[k] for k in ("id", "version", "feature", "category", "text", "lon", "lat",
                              "created", "status", "fixed_version", "answer", "answered")}
           for r in rows]
    waits = [(datetime.fromisoformat(r["answered"]) - datetime.fromisoformat(r["created"])).total_seconds()
             for r in rows if r["answered"]]
    return {"collection": collection, "reports": out,
            "open": sum(r["status"] in ("open", "acknowledged") for r in rows),
            "median_hours_to_answer": round(statistics.median(waits) / 3600, 2) if waits else None}
