"""Sending the digest and the Prevent lead's immediate alerts: `Mailer`, over aiosmtplib.

STARTTLS (587), TLS from the start (465) or neither (a relay on localhost), and a login when a
user name is set; the password comes from the environment (`DigestSettings.smtp_password`).
Every email has a plain-text and an HTML part (the same words). `send()` never raises: it
returns whether the server accepted the message and keeps the error for the caller to record.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

import aiosmtplib
from jinja2 import Environment, PackageLoader, select_autoescape

from alerts.settings import DigestSettings
from filters.decision import Severity
from monitor.store.models import BrandMention

log = logging.getLogger(__name__)

TEMPLATES = Environment(
    loader=PackageLoader("alerts", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def severity_name(value: int) -> str:
    try:
        return Severity(value).name.lower()
    except ValueError:
        return str(value)


TEMPLATES.filters["severity"] = severity_name


def build_message(
    *, sender: str, to: Sequence[str], subject: str, text: str, html: str,
    message_id: str | None = None,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    domain = sender.rpartition("@")[2] or "prevent-monitor.invalid"
    message["Message-ID"] = message_id or make_msgid("prevent-monitor", domain=domain)
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


class Mailer:
    def __init__(self, settings: DigestSettings, *, ca_file: str | Path | None = None) -> None:
        self.settings = settings
        self.ca_file = str(ca_file) if ca_file else None
        self.last_error: str | None = None

    @property
    def prevent_lead(self) -> str:
        return self.settings.prevent_lead.strip()

    async def send(self, message: EmailMessage) -> bool:
        s = self.settings
        options: dict[str, Any] = {
            "hostname": s.smtp_host,
            "port": s.smtp_port,
            "timeout": s.smtp_timeout,
            "use_tls": s.smtp_tls,
            "start_tls": bool(s.smtp_starttls),
        }
        if s.smtp_username:
            options["username"] = s.smtp_username
            options["password"] = s.smtp_password
        if self.ca_file and (s.smtp_tls or s.smtp_starttls):
            options["tls_context"] = ssl.create_default_context(cafile=self.ca_file)
        try:
            await aiosmtplib.send(message, **options)
        except (aiosmtplib.SMTPException, OSError, ssl.SSLError, TimeoutError) as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"[:1000]
            log.error(
                "mail to %s via %s:%s failed: %s", message["To"], s.smtp_host, s.smtp_port,
                self.last_error,
            )
            return False
        self.last_error = None
        return True

    async def send_alert(self, mentions: Sequence[BrandMention], school: str) -> bool:
        """One email to the Prevent lead for these high-severity mentions."""
        if not mentions or not self.prevent_lead:
            return False
        context = {"school": school or "the school", "mentions": mentions}
        worst = max(m.severity for m in mentions)
        count = f"{len(mentions)} mentions" if len(mentions) > 1 else "a mention"
        subject = (
            f"[Prevent] {severity_name(worst).upper()}: {count} of {school or 'the school'} "
            "linked to extremist material"
        )
        message = build_message(
            sender=self.settings.sender,
            to=[self.prevent_lead],
            subject=subject,
            text=TEMPLATES.get_template("alert.txt").render(context),
            html=TEMPLATES.get_template("alert.html").render(context),
        )
        message["X-Priority"] = "1"
        return await self.send(message)
