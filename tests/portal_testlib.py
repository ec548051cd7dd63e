"""A live server with the publishing portal: two organisations, their people and tokens."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from server_testlib import LiveServer

PASSWORD = "correct horse battery"  # long enough, and only in tests


@dataclass
class Portal:
    server: LiveServer
    tokens: dict[str, str] = field(default_factory=dict)  # person -> token for their organisation

    @property
    def url(self) -> str:
        return self.server.url

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "geo_publish", "--config",
                               str(self.server.config), *args],
                              capture_output=True, text=True, timeout=120, input=stdin)

    def api(self, who: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30,
                            headers={"Authorization": f"Bearer {self.tokens[who]}"})

    def accounts(self) -> Any:
        from geo_publish.settings import load_settings
        from geo_publish.store import open_store

        return open_store(load_settings(self.server.config)).accounts()

    def session(self, email: str, password: str = PASSWORD) -> httpx.Client:
        """A browser-like client signed in through the login form."""
        client = httpx.Client(base_url=self.url, timeout=30)
        page = client.get("/publish/login")
        r = client.post("/publish/login", data={"csrf": csrf_of(page.text), "email": email,
                                                "password": password})
        assert r.status_code == 303, r.text[:500]
        return client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def setup_people(portal: Portal) -> None:
    """emergency: alice (publisher), anna (admin); health: bob (publisher). Through the admin
    commands, run in this process (``cli_here``)."""
    from gp_testlib import cli_here

    config = portal.server.config
    for org, name in (("emergency", "Ministry of Emergency Situations"), ("health", "Ministry of Health")):
        done = cli_here(config, "admin", "org-add", org, "--name", name)
        assert done.returncode == 0, done.stderr
    for email, org, role in (("alice@example.org", "emergency", "publisher"),
                             ("anna@example.org", "emergency", "admin"),
                             ("bob@example.org", "health", "publisher")):
        done = cli_here(config, "admin", "person", email, "--org", org, "--role", role, "--name",
                        email.split("@")[0].title(), "--password-stdin", stdin=PASSWORD + "\n")
        assert done.returncode == 0, done.stderr
        assert PASSWORD not in done.stdout + done.stderr
        done = cli_here(config, "admin", "token", email, "--org", org, "--name", "tests")
        assert done.returncode == 0, done.stderr
        portal.tokens[email.split("@")[0]] = done.stdout.strip().rsplit(" ", 1)[-1]


def upload(client: httpx.Client, org: str, name: str, data: bytes, chunk: int = 1 << 20) -> dict[str, Any]:
    """The resumable upload protocol, as a script uses it; returns the upload's JSON."""
    r = client.post("/publish/api/uploads", json={"org": org, "filename": name, "size": len(data)})
    assert r.status_code == 201, r.text
    up = r.json()
    offset = 0
    while offset < len(data):
        r = client.patch(up["location"], content=data[offset:offset + chunk],
                         headers={"Upload-Offset": str(offset),
                                  "Content-Type": "application/offset+octet-stream"})
        assert r.status_code == 204, r.text
        offset = int(r.headers["upload-offset"])
    return up


def run_job(client: httpx.Client, upload_id: str, collection: str, timeout: float = 120,
            **options: str) -> dict[str, Any]:
    r = client.post("/publish/api/jobs", json={"upload": upload_id, "collection": collection, **options})
    assert r.status_code == 202, r.text
    return wait_job(client, r.json()["id"], timeout)


def wait_job(client: httpx.Client, job_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/publish/api/jobs/{job_id}").json()
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s")


PASSPORT = {"title_en": "Shelters", "title_ru": "Убежища", "title_uz": "Boshpanalar",
            "organization": "Ministry of Emergency Situations", "responsible_name": "Alice Karimova",
            "responsible_email": "alice@example.org", "license": "CC-BY-4.0",
            "update_frequency": "daily", "id_field": "id"}


def wait_for(check: Any, timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def state(root: Path, backend: str, schema: str) -> dict[str, Any]:
    """What must not change when an attack is refused: versions, pointers, owners, jobs, tokens,
    people, uploads and the audit log."""
    from gp_testlib import Project

    project = Project(root, backend, None, schema)
    if backend == "postgis":
        import os

        project.dsn = os.environ["GEO_PUBLISH_DSN"]
    out = project.state()
    from geo_publish.settings import load_settings
    from geo_publish.store import open_store

    accounts = open_store(load_settings(root / "config.yml")).accounts()
    for table in ("gp_owners", "gp_jobs", "gp_tokens", "gp_users", "gp_members", "gp_uploads", "gp_audit"):
        rows = accounts.run(f"SELECT * FROM {{s}}{table}")
        # a token's last use is recorded even when what it asked for is refused
        out[table] = [tuple(sorted((k, v) for k, v in r.items() if k != "last_used")) for r in rows]
        out[table].sort(key=repr)
    return out
