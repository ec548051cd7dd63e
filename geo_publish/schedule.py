"""Update frequencies and when a layer published at a given time becomes due, overdue and
delinquent (thresholds like the Humanitarian Data Exchange's: due when a period has passed,
overdue a margin later, delinquent a longer one). Used by ``freshness`` (a layer's state now)
and by the store's catalogue index (which layers are in a state, as a filter)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

# days: due after, overdue after, delinquent after
THRESHOLDS: dict[str, tuple[float, float, float]] = {
    "continual": (1, 2, 3), "daily": (1, 2, 3), "weekly": (7, 14, 21),
    "fortnightly": (14, 21, 28), "monthly": (30, 44, 60), "quarterly": (91, 105, 121),
    "biannually": (182, 196, 212), "annually": (365, 379, 395),
}
NO_SCHEDULE = ("asNeeded", "irregular", "notPlanned")  # always fresh: nothing was promised
STATES = ("fresh", "due", "overdue", "delinquent")


def parse(when: str) -> datetime:
    t = datetime.fromisoformat(when.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def milestones(frequency: str | None, updated: str | None) -> tuple[str, str, str] | None:
    """When a version published at ``updated`` becomes due, overdue and delinquent (UTC, ISO
    8601); None when nothing was promised (no schedule: always fresh) or nothing is known."""
    if not updated or frequency not in THRESHOLDS:
        return None
    start = parse(updated).astimezone(UTC)
    return tuple((start + timedelta(days=d)).isoformat() for d in THRESHOLDS[frequency])  # type: ignore[return-value]
