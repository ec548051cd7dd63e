"""`geo-publish admin ...`: organisations, people, roles, tokens, and who owns which layer."""

from __future__ import annotations

import sys

import click

from geo_publish.cli.common import config_option, settings_from
from geo_publish.errors import NotFound, UsageError
from geo_publish.store import open_store
from geo_publish.store.accounts import Accounts


def _accounts(config: str | None) -> Accounts:
    return open_store(settings_from(config)).accounts()


def _password(from_stdin: bool) -> str | None:
    """A password from stdin (scripts), or None: one is generated and shown once."""
    if not from_stdin:
        return None
    value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise UsageError("no password on standard input")
    return value


@click.group()
def admin() -> None:
    """Manage organisations, people, roles and API tokens of the publishing portal."""


@admin.command("org-add")
@click.argument("org_id")
@click.option("--name", required=True, help="the organisation's full name")
@click.option("--email", default="", help="the organisation's contact address")
@config_option
def org_add(org_id: str, name: str, email: str, config: str | None) -> None:
    """Create an organisation (ministry, agency, hokimiyat)."""
    from geo_publish.portal.people import create_org

    accounts = _accounts(config)
    create_org(accounts, org_id, name, email)
    accounts.audit("organisation created", user_id=None, org_id=org_id, address="cli", detail=name)
    click.echo(f"organisation {org_id}: {name}")


@admin.command("person")
@click.argument("email")
@click.option("--org", "org_id", default=None, help="organisation to give a role in")
@click.option("--role", type=click.Choice(["publisher", "admin", "none"]), default="publisher",
              show_default=True, help="role in --org (none removes the person from it)")
@click.option("--name", default="", help="full name (needed for a new person)")
@click.option("--site-admin", is_flag=True, help="may do everything in every organisation")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@click.option("--invite", is_flag=True,
              help="mail a new person a link to set their password (72 hours), instead of printing one")
@click.option("--lang", type=click.Choice(["uz", "ru", "en"]), default="uz", show_default=True,
              help="language of the invitation")
@config_option
def person(email: str, org_id: str | None, role: str, name: str, site_admin: bool,
           password_stdin: bool, invite: bool, lang: str, config: str | None) -> None:
    """Create a person or change their role; a new person's first password is printed once
    (unless given on standard input, or --invite mails them a link to set it)."""
    from geo_publish.portal import auth
    from geo_publish.portal.people import add_person, send_password_link

    if invite and password_stdin:
        raise UsageError("give --invite or --password-stdin, not both")
    accounts = _accounts(config)
    given = _password(password_stdin)
    if org_id is not None:
        if accounts.org(org_id) is None:
            raise NotFound(f"no organisation {org_id!r}", hint="create it with `geo-publish admin org-add`")
        first = add_person(accounts, org_id, email, name, None if role == "none" else role, given)
        accounts.audit("person added" if role != "none" else "person removed", user_id=None,
                       org_id=org_id, address="cli", detail=f"{email} {role}")
    else:
        if not site_admin:
            raise UsageError("give --org ORG (with --role) or --site-admin")
        first = None
        if accounts.user_by_email(email) is None:
            if not name:
                raise UsageError("a new person needs --name")
            first = given or auth.new_password()
            accounts.create_user(email, name, auth.hash_password(first), site_admin=True)
            first = None if given else first
    if site_admin:
        user = accounts.user_by_email(email)
        accounts.set_site_admin(user["id"], True)  # type: ignore[index]
    click.echo(f"{email}: " + (f"{role} in {org_id}" if org_id else "site admin"))
    if first and invite:
        send_password_link(accounts, settings_from(config), accounts.user_by_email(email), "invite", lang)
        click.echo(f"an invitation to set their password is in the outbox for {email} (`geo-publish mail`)")
    elif first:
        click.echo(f"first password (shown once): {first}")


@admin.command("password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="read the new password from standard input")
@config_option
def password(email: str, password_stdin: bool, config: str | None) -> None:
    """Set a new password (every session of that person ends); printed once if generated."""
    from geo_publish.portal import auth

    accounts = _accounts(config)
    user = accounts.user_by_email(email)
    if user is None:
        raise NotFound(f"no person {email!r}")
    given = _password(password_stdin)
    new = given or auth.new_password()
    accounts.set_password(user["id"], auth.hash_password(new))
    click.echo(f"{email}: password changed" + ("" if given else f"; new password (shown once): {new}"))


@admin.command("token")
@click.argument("email")
@click.option("--org", "org_id", required=True, help="the organisation the token acts for")
@click.option("--name", default="script", show_default=True)
@click.option("--days", type=click.IntRange(1, 366), default=90, show_default=True)
@config_option
def token(email: str, org_id: str, name: str, days: int, config: str | None) -> None:
    """Issue an API token for a person in an organisation; printed once, kept only hashed."""
    from geo_publish.portal import auth

    accounts = _accounts(config)
    user = accounts.user_by_email(email)
    if user is None:
        raise NotFound(f"no person {email!r}")
    if not auth.principal(accounts, user).can_publish(org_id):
        raise UsageError(f"{email} has no role in {org_id!r}")
    secret, tid = auth.issue_token(accounts, user["id"], org_id, name, days)
    accounts.audit("token created", user_id=user["id"], org_id=org_id, address="cli",
                   detail=f"{name} ({tid}, {days} days)")
    click.echo(f"token {tid} for {email} in {org_id}, {days} days (shown once): {secret}")


@admin.command("revoke")
@click.argument("token_id")
@config_option
def revoke(token_id: str, config: str | None) -> None:
    """Revoke an API token by its id (see `geo-publish admin list`)."""
    accounts = _accounts(config)
    row = accounts.token(token_id)
    if row is None:
        raise NotFound(f"no token {token_id!r}")
    if accounts.revoke_token(token_id):
        accounts.audit("token revoked", user_id=None, org_id=row["org_id"], address="cli",
                       detail=f"{row['name']} ({token_id})")
    click.echo(f"token {token_id}: revoked")


@admin.command("assign")
@click.argument("collections", nargs=-1)
@click.option("--org", "org_id", required=True, help="the organisation that will own them")
@click.option("--force", is_flag=True, help="move collections another organisation owns")
@config_option
def assign(collections: tuple[str, ...], org_id: str, force: bool, config: str | None) -> None:
    """Give collections to an organisation; with no COLLECTIONS, every published collection
    that has no owner yet (the migration for stores made before the portal)."""
    from geo_publish.manifest import check_collection_id

    store = open_store(settings_from(config))
    accounts = store.accounts()
    if accounts.org(org_id) is None:
        raise NotFound(f"no organisation {org_id!r}", hint="create it with `geo-publish admin org-add`")
    owners = accounts.owners()
    names = list(collections) or sorted({v.collection for v in store.collections()} - set(owners))
    for cid in names:
        check_collection_id(cid)
        owner = owners.get(cid)
        if owner not in (None, org_id) and not force:
            raise UsageError(f"{cid} belongs to {owner}", hint="add --force to move it")
    for cid in names:
        accounts.set_owner(cid, org_id)
        accounts.audit("assigned", user_id=None, org_id=org_id, collection=cid, address="cli")
        click.echo(f"{cid}: {org_id}")
    if not names:
        click.echo("every collection has an organisation already")


@admin.command("list")
@config_option
def list_(config: str | None) -> None:
    """Organisations with their people, tokens and layers."""
    accounts = _accounts(config)
    owners = accounts.owners()
    for org in accounts.orgs():
        click.echo(f"{org['id']}: {org['name']}")
        for m in accounts.members(org["id"]):
            click.echo(f"  {m['role']:<9} {m['email']} ({m['name']})")
        for t in accounts.tokens(org["id"]):
            state = "revoked" if t["revoked"] else f"expires {t['expires']}"
            click.echo(f"  token {t['id']} {t['name']} of {t['email']}, {state}, "
                       f"last used {t['last_used'] or 'never'}")
        layers = sorted(c for c, o in owners.items() if o == org["id"])
        click.echo(f"  layers: {', '.join(layers) or '-'}")
    admins = [u["email"] for u in accounts.users() if u["site_admin"]]
    click.echo(f"site admins: {', '.join(admins) or '-'}")
