"""Mail leaves only through the outbox: a message is a row in the store first, sent by the job
runner (or `geo-publish mail`) with retries, so an SMTP outage delays mail and loses none.

At least once, and no more as far as the store can tell: a sender leases a message (a
conditional UPDATE, so two runners never send the same one), sends it with its Message-ID, and
marks it sent. Only a crash between the SMTP server's acceptance and that mark sends it again,
with the same Message-ID, which mail clients use to drop the duplicate.
"""

from __future__ import annotations

import smtplib
import time
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from geo_publish.settings import Settings
from geo_publish.store.accounts import Channel

LEASE = 120.0  # seconds a sender holds a message it is sending


def message_id(kind: str, key: str) -> str:
    """A stable Message-ID: the same event queued twice is one message."""
    safe = "".join(c if c.isalnum() or c in "-._" else "-" for c in key)[:120]
    return f"<{kind}.{safe}@geo-publish>"


def backoff(attempts: int) -> float:
    """Seconds before the next try: 5 s, doubling, at most an hour."""
    return float(min(5 * 2 ** max(attempts - 1, 0), 3600))


def _message(settings: Settings, row: dict[str, Any]) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.mail.sender
    msg["To"] = row["recipient"]
    if row["cc"]:
        msg["Cc"] = row["cc"]
    msg["Subject"] = row["subject"]
    msg["Message-ID"] = row["id"]
    msg["Date"] = formatdate(localtime=False)
    msg.set_content(row["body"])
    return msg


def deliver(settings: Settings, channel: Channel, limit: int = 20) -> tuple[int, int]:
    """Send what is due; returns (sent, failed). Without ``mail.host`` nothing is sent."""
    mail = settings.mail
    if not mail.host:
        return 0, 0
    sent = failed = 0
    now = time.time()
    due = [r for r in channel.due_mail(now, limit) if r["attempts"] < mail.max_attempts]
    if not due:
        return 0, 0
    try:
        smtp = smtplib.SMTP(mail.host, mail.port, timeout=mail.timeout)
    except (OSError, smtplib.SMTPException) as err:
        for row in due:  # the server is down: every due message waits its backoff
            channel.mail_failed(row["id"], f"cannot connect: {err}", now + backoff(row["attempts"] + 1))
        return 0, len(due)
    try:
        if mail.starttls:
            smtp.starttls()
        if mail.username and mail.password is not None:
            smtp.login(mail.username, mail.password.get_secret_value())
        for row in due:
            if not channel.lease_mail(row["id"], row["next_try"], time.time() + LEASE):
                continue  # another sender has it
            try:
                smtp.send_message(_message(settings, row))
            except (OSError, smtplib.SMTPException) as err:
                channel.mail_failed(row["id"], str(err), time.time() + backoff(row["attempts"] + 1))
                failed += 1
                if isinstance(err, (OSError, smtplib.SMTPServerDisconnected)):
                    break  # the connection is gone: the rest waits
            else:
                channel.mail_sent(row["id"])
                sent += 1
    except (OSError, smtplib.SMTPException):
        pass  # STARTTLS/login failed: leased messages come due again after the lease
    finally:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            pass
    return sent, failed

