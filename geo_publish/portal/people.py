"""Organisations and people, as the CLI (``geo-publish admin``, ``demo``) and the portal's admin
pages make them: checked ids and addresses, first passwords, password links by mail."""

from __future__ import annotations

import re
from typing import Any

from geo_publish.errors import NotFound, UsageError
from geo_publish.portal import auth
from geo_publish.portal.i18n import T
from geo_publish.settings import Settings

_ORG_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_EMAIL = re.compile(r"^[^@\s<>\"']{1,64}@[^@\s<>\"']{1,190}$")


def create_org(accounts: Any, org_id: str, name: str, email: str = "") -> None:
    if not _ORG_ID.match(org_id):
        raise UsageError(f"organisation id {org_id[:70]!r} is not allowed",
                         hint="lower-case letters, digits, '_' and '-', up to 63")
    if not name or len(name) > 300:
        raise UsageError("the organisation needs a name (up to 300 characters)")
    if accounts.org(org_id) is not None:
        raise UsageError(f"organisation {org_id!r} exists already")
    accounts.create_org(org_id, name, email[:254])


def send_password_link(accounts: Any, settings: Settings, user: dict[str, Any], kind: str,
                       lang: str = "uz") -> None:
    """Mail (through the outbox) a one-time link that sets ``user``'s password (kind: invite or
    reset). The link is made from server.url, never from a request's Host (which an attacker
    chooses)."""
    from geo_publish.mail import message_id

    token = auth.issue_password_link(accounts, user["id"], kind)
    url = f"{settings.public_url()}/publish/password/{token}"
    accounts.enqueue(message_id(f"password.{kind}", auth.token_digest(token)[:24]), user["email"],
                     T[f"mail_{kind}_subject"][lang], f"{T[f'mail_{kind}'][lang]}\n\n{url}\n")


def add_person(accounts: Any, org: str, email: str, name: str, role: str | None,
               password: str | None = None) -> str | None:
    """Give a person a role in ``org`` (None: remove them), creating their account if it is new.
    Returns the new account's first password (generated unless given), else None."""
    if not _EMAIL.match(email):
        raise UsageError(f"{email[:80]!r} is not an e-mail address")
    if role is not None and role not in ("publisher", "admin"):
        raise UsageError("role must be publisher or admin")
    user = accounts.user_by_email(email)
    first = None
    if user is None:
        if role is None:
            raise NotFound(f"no person {email!r}")
        if not name or len(name) > 200:
            raise UsageError("a new person needs a name (up to 200 characters)")
        first = password or auth.new_password()
        uid = accounts.create_user(email, name, auth.hash_password(first))
    else:
        uid = user["id"]
    accounts.set_member(uid, org, role)
    return first if password is None else None
