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


def _weekly_shelters(project, tmp_path) -> None:
    """A published layer whose passport promises weekly updates."""
    (project.root / "collections").mkdir()
    (project.root / "collections" / "shelters.yml").write_text(
        "id: shelters\npassport:\n  organization: MES\n  responsible: {name: D, email: d@mchs.example}\n"
        "  license: CC-BY-4.0\n  update_frequency: weekly\n", encoding="utf-8")
    src = tmp_path / "s.geojson"
    canonical_points().to_file(src, driver="GeoJSON")
    assert project.run("ingest", str(src), "--collection", "shelters") == 0


def test_remind_once_per_version_and_state(project, tmp_path) -> None:
    from geo_publish.settings import load_settings
    from geo_publish.store import open_store

    _weekly_shelters(project, tmp_path)
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


# Run in a process of its own (pygeoapi's app is module state): the server's app, its clock moved
# on by 16 days between two requests for a weekly layer's collection document.
_ETAG_SCRIPT = """
import json, os, sys
from datetime import UTC, datetime, timedelta
os.environ["GEO_PUBLISH_CONFIG"] = sys.argv[1]
from starlette.testclient import TestClient
from geo_publish import freshness
from geo_publish.serve.routes import catalog
catalog.keep_warm = lambda *a, **k: None  # no background thread needed here
from geo_publish.serve.wiring import create_app
client = TestClient(create_app())
url = "/collections/shelters?f=json"
first = client.get(url)
same = client.get(url, headers={"If-None-Match": first.headers["etag"]})
real = freshness.rate
freshness.rate = lambda f, u, at=None: real(f, u, at or datetime.now(UTC) + timedelta(days=16))
later = client.get(url, headers={"If-None-Match": first.headers["etag"]})
print(json.dumps([[r.status_code, r.headers.get("etag"), r.json()["freshness"]["state"] if r.content else None]
                  for r in (first, same, later)]))
"""


def test_a_collection_is_a_new_representation_when_its_freshness_changes(project, tmp_path) -> None:
    """A client revalidating a weekly layer's document with its ETag gets 304 while the state is
    the same, and the overdue document (a new ETag) once the layer is overdue."""
    import json
    import os
    import subprocess
    import sys

    _weekly_shelters(project, tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYGEOAPI_")}
    done = subprocess.run([sys.executable, "-c", _ETAG_SCRIPT, str(project.config)], cwd=project.root,
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    (s1, e1, f1), (s2, e2, _), (s3, e3, f3) = json.loads(done.stdout.strip().splitlines()[-1])
    assert (s1, f1) == (200, "fresh") and (s2, e2) == (304, e1)
    assert (s3, f3) == (200, "overdue") and e3 and e3 != e1
