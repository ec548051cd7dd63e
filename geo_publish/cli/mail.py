"""`geo-publish mail`: the outbox (what waits, what failed) and sending what is due now."""

from __future__ import annotations

import click

from geo_publish.cli.common import config_option, settings_from


@click.command("mail")
@click.option("--send", is_flag=True, help="send what is due now (the job runner does it every second)")
@config_option
def mail_(send: bool, config: str | None) -> None:
    """Show the mail outbox; with --send, send what is due."""
    from geo_publish import mail
    from geo_publish.store import open_store

    settings = settings_from(config)
    channel = open_store(settings).accounts()
    if send:
        if not settings.mail.host:
            click.echo("mail.host is not set in config.yml: messages wait in the outbox", err=True)
        sent, failed = mail.deliver(settings, channel, limit=1000)
        click.echo(f"sent {sent}, failed {failed} (failed ones are tried again later)")
    rows = channel.outbox()
    waiting = [r for r in rows if not r["sent"]]
    click.echo(f"outbox: {len(rows)} message(s), {len(waiting)} waiting")
    for r in waiting:
        click.echo(f"  {r['id']} to {r['recipient']}: {r['subject']} "
                   f"({r['attempts']} attempt(s){', ' + r['last_error'] if r['last_error'] else ''})")


@click.command()
@click.option("--at", "at", default=None, help="as of this ISO date-time (to see what a later run will do)")
@config_option
def remind(at: str | None, config: str | None) -> None:
    """Mail the people responsible for layers that became overdue (and the organisation's
    contact for delinquent ones), once per version and state. Safe to run as often as you like
    (cron, a systemd timer)."""
    from geo_publish.errors import UsageError
    from geo_publish.freshness import parse, remind as run

    settings = settings_from(config)
    try:
        when = parse(at) if at else None
    except ValueError:
        raise UsageError(f"--at {at!r} is not an ISO 8601 date-time") from None
    queued = run(settings, when)
    for cid, state, to in queued:
        click.echo(f"{cid}: {state}, reminder to {to}")
    if not queued:
        click.echo("no new reminders")
