"""Freshness from the passport's update frequency and the published version's age, and
`geo-publish remind`: once per version and state, to the responsible person (overdue) or the
organisation (delinquent), through the outbox. Both stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gp_testlib import canonical_points
from geo_publish.freshness import rate

T0 = "2026-01-01T00:00:00+00:00"


@pytest.mark.parametrize("frequency, days, state", [
    ("daily", 0.5, "fresh"), ("daily", 1.5, "due"), ("daily", 2.5, "overdue"), ("daily", 3.5, "delinquent"),
    ("weekly", 6, "fresh"), ("weekly", 8, "due"), ("weekly", 15, "overdue"), ("weekly", 22, "delinquent"),
    ("monthly", 29, "fresh"), ("monthly", 31, "due"), ("monthly", 45, "overdue"), ("monthly", 61, "delinquent"),
    ("annually", 364, "fresh"), ("annually", 380, "overdue"), ("annually", 400, "delinquent"),
    ("asNeeded", 5000, "fresh"), ("irregular", 5000, "fresh"), ("unknown", 1, "unknown"),
])
def test_states_follow_the_frequency(frequency: str, days: float, state: str) -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=days)
    got = rate(frequency, T0, at)
    assert got["state"] == state, got
    if state in ("fresh", "due", "overdue") and frequency not in ("asNeeded", "irregular"):
        assert datetime.fromisoformat(got["next_at"]) > at


def test_remind_once_per_version_and_state(project, tmp_path) -> None:
    from geo_publish.settings import load_settings
    from geo_publish.store import open_store

    (project.root / "collections").mkdir()
    (project.root / "collections" / "shelters.yml").write_text(
        "id: shelters\npassport:\n  organization: MES\n  responsible: {name: D, email: d@mchs.example}\n"
        "  license: CC-BY-4.0\n  update_frequency: weekly\n", encoding="utf-8")
    src = tmp_path / "s.geojson"
    canonical_points().to_file(src, driver="GeoJSON")
    assert project.run("ingest", str(src), "--collection", "shelters") == 0
    assert project.run("admin", "org-add", "mes", "--name", "MES", "--email", "office@mchs.example") == 0
    assert project.run("admin", "assign", "--org", "mes") == 0
    channel = open_store(load_settings(project.config)).accounts()
    soon = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    assert project.run("remind", "--at", soon) == 0
    assert channel.outbox() == []  # fresh: nothing to say
    later = (datetime.now(UTC) + timedelta(days=16)).isoformat()
    for _ in range(2):  # the second run adds nothing
        assert project.run("remind", "--at", later) == 0
    box = channel.outbox()
    assert [(m["recipient"], "overdue" in m["subject"]) for m in box] == [("d@mchs.example", True)]
    much_later = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    assert project.run("remind", "--at", much_later) == 0
    box = channel.outbox()
    assert [m["recipient"] for m in box] == ["d@mchs.example", "office@mchs.example"]
    assert "delinquent" in box[1]["subject"] and "weekly" in box[1]["body"]
    assert project.run("remind", "--at", "yesterday") == 1  # a one-line usage error
