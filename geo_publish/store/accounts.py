"""What the publishing portal keeps in the store: organisations, people and their roles, API
tokens, which organisation owns each collection, uploads, background jobs, the audit log and
failed logins. One SQL text for both backends (SQLite in the GeoPackage file, PostgreSQL in the
store's schema); a store gives an ``Accounts`` through ``store.accounts()``.

Nothing here is secret in clear: passwords are argon2id hashes, tokens SHA-256 hashes (they are
256-bit random strings, so a fast hash is enough), both made by ``portal.auth``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from geo_publish.errors import StoreError, UsageError
from geo_publish.store.base import now, pg_layout

ROLES = ("publisher", "admin")

_TABLES = """
CREATE TABLE IF NOT EXISTS {s}gp_orgs (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL DEFAULT '', created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS {s}gp_users (
  id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT NOT NULL, password TEXT NOT NULL,
  site_admin INTEGER NOT NULL DEFAULT 0, created TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS {s}gp_members (
  user_id TEXT NOT NULL, org_id TEXT NOT NULL, role TEXT NOT NULL, PRIMARY KEY (user_id, org_id));
CREATE TABLE IF NOT EXISTS {s}gp_tokens (
  id TEXT PRIMARY KEY, user_id TEXT NOT NULL, org_id TEXT NOT NULL, name TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE, created TEXT NOT NULL, expires TEXT NOT NULL, revoked TEXT,
  last_used TEXT);
CREATE TABLE IF NOT EXISTS {s}gp_owners (collection TEXT PRIMARY KEY, org_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS {s}gp_uploads (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL, user_id TEXT NOT NULL, filename TEXT NOT NULL,
  size BIGINT NOT NULL, received BIGINT NOT NULL DEFAULT 0, created TEXT NOT NULL,
  completed TEXT);
CREATE TABLE IF NOT EXISTS {s}gp_jobs (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL, user_id TEXT NOT NULL, collection TEXT NOT NULL,
  upload_id TEXT NOT NULL, options TEXT NOT NULL, status TEXT NOT NULL, done BIGINT NOT NULL DEFAULT 0,
  total BIGINT, message TEXT NOT NULL DEFAULT '', version INTEGER, result TEXT,
  created TEXT NOT NULL, updated TEXT NOT NULL, worker TEXT);
CREATE INDEX IF NOT EXISTS gp_jobs_status ON {s}gp_jobs (status, created);
CREATE TABLE IF NOT EXISTS {s}gp_audit (
  seq {serial}, at TEXT NOT NULL, user_id TEXT, org_id TEXT, action TEXT NOT NULL,
  collection TEXT, version INTEGER, checksum TEXT, address TEXT, detail TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS {s}gp_failures (key TEXT NOT NULL, at DOUBLE PRECISION NOT NULL);
CREATE TABLE IF NOT EXISTS {s}gp_feedback (
  id TEXT PRIMARY KEY, collection TEXT NOT NULL, version INTEGER, feature TEXT, category TEXT NOT NULL,
  text TEXT NOT NULL, email TEXT, lon DOUBLE PRECISION, lat DOUBLE PRECISION, address TEXT,
  created TEXT NOT NULL, status TEXT NOT NULL, fixed_version INTEGER, answer TEXT NOT NULL DEFAULT '',
  answered TEXT, updated TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS gp_feedback_collection ON {s}gp_feedback (collection, created);
CREATE TABLE IF NOT EXISTS {s}gp_outbox (
  id TEXT PRIMARY KEY, recipient TEXT NOT NULL, cc TEXT NOT NULL DEFAULT '', subject TEXT NOT NULL,
  body TEXT NOT NULL, created TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
  next_try DOUBLE PRECISION NOT NULL, sent TEXT, last_error TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS gp_outbox_due ON {s}gp_outbox (sent, next_try);
CREATE TABLE IF NOT EXISTS {s}gp_password_links (
  id TEXT PRIMARY KEY, user_id TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,
  created TEXT NOT NULL, expires TEXT NOT NULL, used TEXT);
CREATE INDEX IF NOT EXISTS gp_failures_key ON {s}gp_failures (key, at);
CREATE TABLE IF NOT EXISTS {s}gp_sessions (
  id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, user_id TEXT NOT NULL, created DOUBLE PRECISION NOT NULL,
  last_seen DOUBLE PRECISION NOT NULL, address TEXT NOT NULL DEFAULT '', agent TEXT NOT NULL DEFAULT '',
  ended DOUBLE PRECISION);
CREATE INDEX IF NOT EXISTS gp_sessions_user ON {s}gp_sessions (user_id, ended);
"""


def new_id(nbytes: int = 16) -> str:
    """An identifier nobody can guess (ids of jobs, uploads and people appear in addresses)."""
    return secrets.token_urlsafe(nbytes)


class Accounts:
    """Accounts, jobs and the audit log on one store. ``connect`` yields a DB-API connection
    in autocommit mode; ``dialect`` is ``sqlite`` or ``postgres``; ``schema`` prefixes tables."""

    def __init__(self, connect: Callable[[], AbstractContextManager[Any]], dialect: str,
                 schema: str = "") -> None:
        self._connect = connect
        self.dialect = dialect
        self.s = schema
        self._ready = False

    # -- plumbing ------------------------------------------------------------------------------
    def _sql(self, sql: str) -> str:
        sql = sql.replace("{s}", self.s)
        return sql.replace("?", "%s") if self.dialect == "postgres" else sql

    def _setup(self, conn: Any) -> None:
        serial = "BIGSERIAL PRIMARY KEY" if self.dialect == "postgres" else "INTEGER PRIMARY KEY AUTOINCREMENT"
        script = _TABLES.replace("{serial}", serial).replace("{s}", self.s)
        if self.dialect == "postgres":
            schema = self.s.rstrip(".").strip('"').replace('""', '"') or "public"
            pg_layout(conn, schema, script, "geo-publish accounts")
        else:
            conn.executescript("BEGIN IMMEDIATE;" + script + "COMMIT;")
        self._ready = True

    def _conn(self) -> AbstractContextManager[Any]:
        return self._connect()

    @staticmethod
    def _check(args: tuple[Any, ...]) -> None:
        """PostgreSQL text cannot hold NUL: refused alike on both backends, as the client's error."""
        if any(isinstance(a, str) and "\x00" in a for a in args):
            raise UsageError("text with a NUL character is not accepted")

    def run(self, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        self._check(args)
        with self._conn() as conn:
            if not self._ready:
                self._setup(conn)
            cur = conn.execute(self._sql(sql), args)
            if cur.description is None:
                return []
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row)) for row in cur.fetchall()]

    def count(self, sql: str, args: tuple[Any, ...] = ()) -> int:
        """Rows changed by an UPDATE or DELETE (used for claims that must happen once)."""
        self._check(args)
        with self._conn() as conn:
            if not self._ready:
                self._setup(conn)
            return int(conn.execute(self._sql(sql), args).rowcount)

    def one(self, sql: str, args: tuple[Any, ...] = ()) -> dict[str, Any] | None:
        rows = self.run(sql, args)
        return rows[0] if rows else None

    # -- organisations -------------------------------------------------------------------------
    def create_org(self, org_id: str, name: str, email: str = "") -> None:
        self.run("INSERT INTO {s}gp_orgs VALUES (?, ?, ?, ?)", (org_id, name, email, now()))

    def org(self, org_id: str) -> dict[str, Any] | None:
        return self.one("SELECT * FROM {s}gp_orgs WHERE id = ?", (org_id,))

    def orgs(self) -> list[dict[str, Any]]:
        return self.run("SELECT * FROM {s}gp_orgs ORDER BY id")

    # -- people --------------------------------------------------------------------------------
    def create_user(self, email: str, name: str, password_hash: str, site_admin: bool = False) -> str:
        uid = new_id(12)
        self.run("INSERT INTO {s}gp_users VALUES (?, ?, ?, ?, ?, ?, 0)",
                 (uid, email.lower(), name, password_hash, int(site_admin), now()))
        return uid

    def user(self, user_id: str) -> dict[str, Any] | None:
        return self.one("SELECT * FROM {s}gp_users WHERE id = ?", (user_id,))

    def user_by_email(self, email: str) -> dict[str, Any] | None:
        return self.one("SELECT * FROM {s}gp_users WHERE email = ?", (email.lower(),))

    def users(self) -> list[dict[str, Any]]:
        return self.run("SELECT * FROM {s}gp_users ORDER BY email")

    def set_password(self, user_id: str, password_hash: str, end_sessions: bool = True) -> None:
        """A new password ends every session of the person (``end_sessions=False`` only for the
        same password hashed again, as at sign-in)."""
        self.run("UPDATE {s}gp_users SET password = ? WHERE id = ?", (password_hash, user_id))
        if end_sessions:
            self.end_sessions(user_id)

    # -- sessions: the cookie holds a random secret, the store its SHA-256 ---------------------
    def create_session(self, user_id: str, digest: str, at: float, address: str, agent: str) -> str:
        sid = new_id(12)
        self.run("INSERT INTO {s}gp_sessions (id, hash, user_id, created, last_seen, address, agent) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?)", (sid, digest, user_id, at, at, address[:100], agent[:200]))
        return sid

    def session_by_hash(self, digest: str) -> dict[str, Any] | None:
        return self.one("SELECT * FROM {s}gp_sessions WHERE hash = ?", (digest,))

    def touch_session(self, sid: str, at: float) -> None:
        self.run("UPDATE {s}gp_sessions SET last_seen = ? WHERE id = ? AND ended IS NULL", (at, sid))

    def sessions(self, user_id: str, since: float) -> list[dict[str, Any]]:
        """The person's sessions still open (seen after ``since``), newest first."""
        return self.run("SELECT id, created, last_seen, address, agent FROM {s}gp_sessions "
                        "WHERE user_id = ? AND ended IS NULL AND last_seen >= ? ORDER BY last_seen DESC",
                        (user_id, since))

    def end_session(self, sid: str, user_id: str | None = None, at: float | None = None) -> bool:
        """End one session (of ``user_id``, when given); whether one was open."""
        import time

        sql = "UPDATE {s}gp_sessions SET ended = ? WHERE id = ? AND ended IS NULL"
        args: tuple[Any, ...] = (at or time.time(), sid)
        if user_id is not None:
            sql, args = sql + " AND user_id = ?", args + (user_id,)
        return self.count(sql, args) > 0

    def end_sessions(self, user_id: str, at: float | None = None) -> int:
        """End every session of a person; how many were open."""
        import time

        return self.count("UPDATE {s}gp_sessions SET ended = ? WHERE user_id = ? AND ended IS NULL",
                          (at or time.time(), user_id))

    def forget_sessions(self, before: float) -> None:
        """Rows of sessions ended or idle since before ``before`` (kept meanwhile for the list)."""
        self.run("DELETE FROM {s}gp_sessions WHERE last_seen < ? OR ended < ?", (before, before))

    def set_site_admin(self, user_id: str, value: bool) -> None:
        self.run("UPDATE {s}gp_users SET site_admin = ? WHERE id = ?", (int(value), user_id))

    def set_member(self, user_id: str, org_id: str, role: str | None) -> None:
        """Give ``user_id`` a role in ``org_id`` (None removes them)."""
        self.run("DELETE FROM {s}gp_members WHERE user_id = ? AND org_id = ?", (user_id, org_id))
        if role is not None:
            self.run("INSERT INTO {s}gp_members VALUES (?, ?, ?)", (user_id, org_id, role))

    def roles(self, user_id: str) -> dict[str, str]:
        rows = self.run("SELECT org_id, role FROM {s}gp_members WHERE user_id = ?", (user_id,))
        return {r["org_id"]: r["role"] for r in rows}

    def members(self, org_id: str) -> list[dict[str, Any]]:
        return self.run("SELECT u.id, u.email, u.name, m.role FROM {s}gp_members m "
                        "JOIN {s}gp_users u ON u.id = m.user_id WHERE m.org_id = ? ORDER BY u.email",
                        (org_id,))

    # -- tokens --------------------------------------------------------------------------------
    def create_token(self, user_id: str, org_id: str, name: str, digest: str, expires: str) -> str:
        tid = new_id(9)
        self.run("INSERT INTO {s}gp_tokens VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
                 (tid, user_id, org_id, name, digest, now(), expires))
        return tid

    def token_by_hash(self, digest: str) -> dict[str, Any] | None:
        return self.one("SELECT * FROM {s}gp_tokens WHERE hash = ?", (digest,))

    def token(self, token_id: str) -> dict[str, Any] | None:
        return self.one("SELECT * FROM {s}gp_tokens WHERE id = ?", (token_id,))

    def tokens(self, org_id: str) -> list[dict[str, Any]]:
        return self.run("SELECT t.id, t.name, t.created, t.expires, t.revoked, t.last_used, "
                        "u.email FROM {s}gp_tokens t JOIN {s}gp_users u ON u.id = t.user_id "
                        "WHERE t.org_id = ? ORDER BY t.created", (org_id,))

    def touch_token(self, token_id: str) -> None:
        self.run("UPDATE {s}gp_tokens SET last_used = ? WHERE id = ?", (now(), token_id))

    def revoke_token(self, token_id: str) -> bool:
        return self.count("UPDATE {s}gp_tokens SET revoked = ? WHERE id = ? AND revoked IS NULL",
                          (now(), token_id)) == 1

    # -- who owns what -------------------------------------------------------------------------
    def set_owner(self, collection: str, org_id: str) -> None:
        self.run("DELETE FROM {s}gp_owners WHERE collection = ?", (collection,))
        self.run("INSERT INTO {s}gp_owners VALUES (?, ?)", (collection, org_id))

    def claim_collection(self, collection: str, org_id: str) -> bool:
        """Make ``org_id`` the owner of a collection nobody owns yet; True if it is theirs now."""
        try:
            self.run("INSERT INTO {s}gp_owners VALUES (?, ?)", (collection, org_id))
        except StoreError:  # the primary key: someone owns it already
            pass
        return self.owner(collection) == org_id

    def owner(self, collection: str) -> str | None:
        row = self.one("SELECT org_id FROM {s}gp_owners WHERE collection = ?", (collection,))
        return row["org_id"] if row else None

    def owners(self) -> dict[str, str]:
        return {r["collection"]: r["org_id"] for r in self.run("SELECT * FROM {s}gp_owners")}

    # -- uploads -------------------------------------------------------------------------------
    def create_upload(self, org_id: str, user_id: str, filename: str, size: int) -> str:
        uid = new_id()
        self.run("INSERT INTO {s}gp_uploads VALUES (?, ?, ?, ?, ?, 0, ?, NULL)",
                 (uid, org_id, user_id, filename, size, now()))
        return uid

    def upload(self, upload_id: str) -> dict[str, Any] | None:
        return self.one("SELECT * FROM {s}gp_uploads WHERE id = ?", (upload_id,))

    def uploads(self, org_id: str, user_id: str) -> list[dict[str, Any]]:
        return self.run("SELECT * FROM {s}gp_uploads WHERE org_id = ? AND user_id = ? "
                        "AND completed IS NULL ORDER BY created DESC", (org_id, user_id))

    def upload_jobs(self, upload_id: str) -> list[dict[str, Any]]:
        """Status and last change of each job made from an upload."""
        return self.run("SELECT id, status, updated FROM {s}gp_jobs WHERE upload_id = ?", (upload_id,))

    def set_received(self, upload_id: str, received: int, completed: bool) -> None:
        self.run("UPDATE {s}gp_uploads SET received = ?, completed = ? WHERE id = ?",
                 (received, now() if completed else None, upload_id))

    # -- jobs ----------------------------------------------------------------------------------
    def create_job(self, org_id: str, user_id: str, collection: str, upload_id: str,
                   options: dict[str, Any]) -> str:
        jid = new_id()
        t = now()
        self.run("INSERT INTO {s}gp_jobs (id, org_id, user_id, collection, upload_id, options, "
                 "status, created, updated) VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?)",
                 (jid, org_id, user_id, collection, upload_id, json.dumps(options), t, t))
        return jid

    def job(self, job_id: str) -> dict[str, Any] | None:
        row = self.one("SELECT * FROM {s}gp_jobs WHERE id = ?", (job_id,))
        return _job(row) if row else None

    def jobs(self, org_id: str, limit: int = 50) -> list[dict[str, Any]]:
        return [_job(r) for r in self.run("SELECT * FROM {s}gp_jobs WHERE org_id = ? "
                                          "ORDER BY created DESC LIMIT ?", (org_id, limit))]

    def claim_job(self, worker: str) -> dict[str, Any] | None:
        """The oldest queued job, now marked running by ``worker``; None if there is none. Two
        runners may pick the same row: the conditional UPDATE lets exactly one have it."""
        for row in self.run("SELECT id FROM {s}gp_jobs WHERE status = 'queued' "
                            "ORDER BY created LIMIT 5"):
            if self.count("UPDATE {s}gp_jobs SET status = 'running', worker = ?, updated = ? "
                          "WHERE id = ? AND status = 'queued'", (worker, now(), row["id"])) == 1:
                return self.job(row["id"])
        return None

    def update_job(self, job_id: str, **fields: Any) -> None:
        fields["updated"] = now()
        if "result" in fields and fields["result"] is not None:
            fields["result"] = json.dumps(fields["result"], ensure_ascii=False, default=str)
        if "options" in fields:
            fields["options"] = json.dumps(fields["options"])
        cols = ", ".join(f"{k} = ?" for k in fields)
        self.run(f"UPDATE {{s}}gp_jobs SET {cols} WHERE id = ?", (*fields.values(), job_id))

    def requeue(self, worker_alive: Callable[[str], bool]) -> int:
        """Jobs left running by a runner that died go back to the queue (a restart loses none)."""
        n = 0
        for row in self.run("SELECT id, worker FROM {s}gp_jobs WHERE status = 'running'"):
            if not worker_alive(row["worker"] or ""):
                n += self.count("UPDATE {s}gp_jobs SET status = 'queued', done = 0, updated = ? "
                                "WHERE id = ? AND status = 'running'", (now(), row["id"]))
        return n

    # -- audit log -----------------------------------------------------------------------------
    def audit(self, action: str, *, user_id: str | None, org_id: str | None,
              collection: str | None = None, version: int | None = None,
              checksum: str | None = None, address: str | None = None, detail: str = "") -> None:
        self.run("INSERT INTO {s}gp_audit (at, user_id, org_id, action, collection, version, "
                 "checksum, address, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (now(), user_id, org_id, action, collection, version, checksum, address, detail))

    def audit_log(self, org_id: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        where, args = ("WHERE a.org_id = ?", (org_id,)) if org_id else ("", ())
        return self.run("SELECT a.*, u.email FROM {s}gp_audit a LEFT JOIN {s}gp_users u "
                        f"ON u.id = a.user_id {where} ORDER BY a.seq DESC LIMIT ?", (*args, limit))

    # -- rate limits: failed sign-ins, reports per address ---------------------------------------
    def take(self, limits: dict[str, int], at: float, since: float) -> bool:
        """Count one more hit (at ``at``) against each key, if every key has had fewer than its
        limit since ``since``; else count nothing and return False. Atomic (a lock per key on
        PostgreSQL, the write lock on SQLite): sixteen requests at once cannot all pass a check
        that only one of them should. A key's hits older than ``since`` are dropped."""
        self._check(tuple(limits))
        count = self._sql("SELECT count(*) FROM {s}gp_failures WHERE key = ? AND at > ?")
        insert = self._sql("INSERT INTO {s}gp_failures VALUES (?, ?)")
        prune = self._sql("DELETE FROM {s}gp_failures WHERE key = ? AND at <= ?")
        with self._conn() as conn:
            if not self._ready:
                self._setup(conn)
            if self.dialect == "postgres":
                with conn.transaction():
                    for key in sorted(limits):  # in one order: two takes cannot deadlock
                        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (key,))
                    return self._take(conn, limits, at, since, count, insert, prune)
            conn.execute("BEGIN IMMEDIATE")
            try:
                ok = self._take(conn, limits, at, since, count, insert, prune)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return ok

    @staticmethod
    def _take(conn: Any, limits: dict[str, int], at: float, since: float, count: str, insert: str,
              prune: str) -> bool:
        for key, limit in limits.items():
            conn.execute(prune, (key, since))
            if conn.execute(count, (key, since)).fetchone()[0] >= limit:
                return False
        for key in limits:
            conn.execute(insert, (key, at))
        return True

    def release(self, key: str, at: float) -> None:
        """Take back the hit ``take`` counted at ``at`` (a sign-in that succeeded)."""
        self.run("DELETE FROM {s}gp_failures WHERE key = ? AND at = ?", (key, at))

    def forget_failures(self, key: str, before: float | None = None) -> None:
        if before is None:
            self.run("DELETE FROM {s}gp_failures WHERE key = ?", (key,))
        else:
            self.run("DELETE FROM {s}gp_failures WHERE at < ?", (before,))


class Channel(Accounts):
    """Citizens' problem reports and the mail outbox, on the same tables' connection."""

    # -- problem reports -----------------------------------------------------------------------
    def add_feedback(self, collection: str, version: int | None, feature: str | None,
                     category: str, text: str, email: str | None, lon: float | None,
                     lat: float | None, address: str) -> str:
        fid = new_id(12)
        t = now()
        self.run("INSERT INTO {s}gp_feedback (id, collection, version, feature, category, text, "
                 "email, lon, lat, address, created, status, updated) VALUES "
                 "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?)",
                 (fid, collection, version, feature, category, text, email, lon, lat, address, t, t))
        return fid

    def feedback(self, feedback_id: str) -> dict[str, Any] | None:
        return self.one("SELECT * FROM {s}gp_feedback WHERE id = ?", (feedback_id,))

    def feedback_of(self, collections: list[str], limit: int = 500) -> list[dict[str, Any]]:
        if not collections:
            return []
        marks = ", ".join("?" for _ in collections)
        return self.run(f"SELECT * FROM {{s}}gp_feedback WHERE collection IN ({marks}) "
                        "ORDER BY created DESC LIMIT ?", (*collections, limit))

    def set_feedback(self, feedback_id: str, status: str, answer: str,
                     fixed_version: int | None) -> None:
        t = now()
        self.run("UPDATE {s}gp_feedback SET status = ?, answer = ?, fixed_version = ?, updated = ?, "
                 "answered = coalesce(answered, ?) WHERE id = ?",
                 (status, answer, fixed_version, t, t, feedback_id))

    # -- links that set a password (an invitation, a forgotten password) ------------------------
    def create_password_link(self, user_id: str, digest: str, kind: str, expires: str) -> str:
        """A new link for ``user_id``; the person's earlier unused links stop working."""
        lid = new_id()
        self.run("UPDATE {s}gp_password_links SET used = ? WHERE user_id = ? AND used IS NULL",
                 (now(), user_id))
        self.run("INSERT INTO {s}gp_password_links VALUES (?, ?, ?, ?, ?, ?, NULL)",
                 (lid, user_id, digest, kind, now(), expires))
        return lid

    def password_link(self, digest: str) -> dict[str, Any] | None:
        return self.one("SELECT * FROM {s}gp_password_links WHERE hash = ?", (digest,))

    def use_password_link(self, link_id: str) -> bool:
        """Spend a link: True once, for the one request that wins it."""
        return self.count("UPDATE {s}gp_password_links SET used = ? WHERE id = ? AND used IS NULL",
                          (now(), link_id)) == 1

    # -- the mail outbox -----------------------------------------------------------------------
    def enqueue(self, message_id: str, recipient: str, subject: str, body: str, cc: str = "") -> bool:
        """Queue a message once: a second call with the same id adds nothing (False)."""
        import time

        return self.count("INSERT INTO {s}gp_outbox (id, recipient, cc, subject, body, created, "
                          "next_try) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                          (message_id, recipient, cc, subject, body, now(), time.time())) == 1

    def due_mail(self, at: float, limit: int = 20) -> list[dict[str, Any]]:
        return self.run("SELECT * FROM {s}gp_outbox WHERE sent IS NULL AND next_try <= ? "
                        "ORDER BY next_try LIMIT ?", (at, limit))

    def lease_mail(self, message_id: str, seen_next_try: float, until: float) -> bool:
        """Take a message for sending (until ``until``); one sender wins it."""
        return self.count("UPDATE {s}gp_outbox SET next_try = ? WHERE id = ? AND next_try = ? "
                          "AND sent IS NULL", (until, message_id, seen_next_try)) == 1

    def mail_sent(self, message_id: str) -> None:
        self.run("UPDATE {s}gp_outbox SET sent = ?, attempts = attempts + 1, last_error = '' "
                 "WHERE id = ?", (now(), message_id))
        if message_id.startswith("<password."):  # it carried a secret: kept only until sent
            self.run("UPDATE {s}gp_outbox SET body = '(sent; it held a password link)' WHERE id = ?",
                     (message_id,))

    def mail_failed(self, message_id: str, error: str, retry_at: float) -> None:
        self.run("UPDATE {s}gp_outbox SET attempts = attempts + 1, last_error = ?, next_try = ? "
                 "WHERE id = ?", (error[:500], retry_at, message_id))

    def outbox(self) -> list[dict[str, Any]]:
        return self.run("SELECT * FROM {s}gp_outbox ORDER BY created")


def _job(row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    row["options"] = json.loads(row["options"] or "{}")
    row["result"] = json.loads(row["result"]) if row.get("result") else None
    return row

