"""Who is asking, and may they: passwords (argon2id), API tokens (shown once, SHA-256 at rest,
expiry, revocation, last use), login throttling per account and per address, roles.

Roles are per organisation: ``publisher`` uploads, publishes, rolls back and edits passports of
the organisation's collections; ``admin`` also manages people and tokens and reads the audit
log; a site admin may do everything everywhere.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from geo_publish.errors import Refused, UsageError
from geo_publish.store.accounts import ROLES, Accounts

TOKEN_PREFIX = "gpt_"
MIN_PASSWORD = 10
THROTTLE_WINDOW = 15 * 60        # seconds
MAX_FAILURES_ACCOUNT = 5         # per account per window
MAX_FAILURES_ADDRESS = 20        # per address per window

_hasher = PasswordHasher()  # argon2id, the library's (RFC 9106 low-memory) parameters
# verified against when the account does not exist, so that timing does not tell
_DUMMY = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise UsageError(f"the password is shorter than {MIN_PASSWORD} characters")
    return _hasher.hash(password)


def new_password() -> str:
    """A first password, to be shown once and changed by its owner."""
    return secrets.token_urlsafe(12)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class Principal:
    """A signed-in person (session or token) and their roles by organisation."""

    user_id: str
    email: str
    name: str
    site_admin: bool
    roles: dict[str, str] = field(default_factory=dict)
    token_org: str | None = None  # a token acts for one organisation only

    def role(self, org_id: str) -> str | None:
        if self.token_org is not None and self.token_org != org_id:
            return None
        if self.site_admin:
            return "admin"
        return self.roles.get(org_id)

    def can_publish(self, org_id: str | None) -> bool:
        return org_id is not None and self.role(org_id) in ROLES

    def can_admin(self, org_id: str | None) -> bool:
        return org_id is not None and self.role(org_id) == "admin"

    def orgs(self, accounts: Accounts) -> list[str]:
        if self.token_org is not None:
            return [self.token_org]
        if self.site_admin:
            return [o["id"] for o in accounts.orgs()]
        return sorted(self.roles)


def principal(accounts: Accounts, user: dict[str, Any], token_org: str | None = None) -> Principal:
    return Principal(user["id"], user["email"], user["name"], bool(user["site_admin"]),
                     accounts.roles(user["id"]), token_org)


def login(accounts: Accounts, email: str, password: str, address: str) -> Principal:
    """Check a password, throttled per account and per address (429 while locked)."""
    t = time.time()
    since = t - THROTTLE_WINDOW
    keys = (f"account:{email.strip().lower()}", f"address:{address}")
    # each attempt counts as a failure before the password is checked (atomically, so a burst
    # of guesses at once gets no more tries than guesses one by one), taken back if it is right
    if not accounts.take({keys[0]: MAX_FAILURES_ACCOUNT, keys[1]: MAX_FAILURES_ADDRESS}, t, since):
        raise Refused(429, "too many failed sign-ins; try again in 15 minutes")
    user = accounts.user_by_email(email.strip())
    try:
        ok = _hasher.verify(user["password"] if user else _DUMMY, password)
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None or user["disabled"]:
        raise Refused(401, "wrong e-mail or password")
    accounts.forget_failures(keys[0])
    accounts.release(keys[1], t)
    accounts.forget_failures("", before=since)  # old entries of everyone
    if _hasher.check_needs_rehash(user["password"]):
        accounts.set_password(user["id"], _hasher.hash(password), end_sessions=False)  # the same password
    return principal(accounts, user)


def issue_token(accounts: Accounts, user_id: str, org_id: str, name: str, days: int) -> tuple[str, str]:
    """A new token (returned once: only its hash is kept) and its id."""
    if not 1 <= days <= 366:
        raise UsageError("a token lives 1 to 366 days")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0).isoformat()
    tid = accounts.create_token(user_id, org_id, name, token_digest(token), expires)
    return token, tid


def from_token(accounts: Accounts, token: str) -> Principal:
    """The person a bearer token stands for, acting for the token's organisation only."""
    row = accounts.token_by_hash(token_digest(token.strip())) if token.startswith(TOKEN_PREFIX) else None
    if row is None:
        raise Refused(401, "unknown token")
    if row["revoked"]:
        raise Refused(401, "the token was revoked")
    if row["expires"] <= datetime.now(UTC).isoformat():
        raise Refused(401, "the token has expired")
    user = accounts.user(row["user_id"])
    if user is None or user["disabled"]:
        raise Refused(401, "the token's account is disabled")
    who = principal(accounts, user, token_org=row["org_id"])
    if who.role(row["org_id"]) is None:
        raise Refused(403, "the token's account is no longer in its organisation")
    accounts.touch_token(row["id"])
    return who


# -- links that set a password: an invitation (a new account) or a forgotten password ------------
LINK_HOURS = {"invite": 72, "reset": 2}
LINK_PREFIX = "gpl_"


def issue_password_link(accounts: Accounts, user_id: str, kind: str) -> str:
    """A one-time link token (only its hash is kept); the person's earlier links stop working."""
    token = LINK_PREFIX + secrets.token_urlsafe(32)
    expires = (datetime.now(UTC) + timedelta(hours=LINK_HOURS[kind])).replace(microsecond=0).isoformat()
    accounts.create_password_link(user_id, token_digest(token), kind, expires)
    return token


def password_link(accounts: Accounts, token: str) -> dict[str, Any]:
    """The link's row, if it can still be used; else Refused(404) in one line (unknown, used and
    expired links are told apart only in the message: none of them sets anything)."""
    row = accounts.password_link(token_digest(token)) if token.startswith(LINK_PREFIX) else None
    if row is None:
        raise Refused(404, "this link is not known: ask for a new one")
    if row["used"]:
        raise Refused(410, "this link was already used, or a newer one was sent: ask for a new one")
    if row["expires"] <= datetime.now(UTC).isoformat():
        raise Refused(410, "this link has expired: ask for a new one")
    user = accounts.user(row["user_id"])
    if user is None or user["disabled"]:
        raise Refused(404, "this link is not known: ask for a new one")
    return row


def set_password_by_link(accounts: Accounts, token: str, password: str) -> dict[str, Any]:
    """Set the password a link is for, once; returns the person's row."""
    row = password_link(accounts, token)
    digest = hash_password(password)  # UsageError for a short one, before the link is spent
    if not accounts.use_password_link(row["id"]):
        raise Refused(410, "this link was already used, or a newer one was sent: ask for a new one")
    accounts.set_password(row["user_id"], digest)
    return accounts.user(row["user_id"])  # type: ignore[return-value]
