"""Instant alerts: serious gateway events reach the Prevent lead within a minute, by email and,
if set, by a Teams or Slack webhook.

Every `poll_seconds` the alerter gives new serious events to their identity's alert for the
window (`monitor.store.alerting`). It then sends each alert that is due, and records what came
of each channel. So a restart or a failed send loses nothing, and a channel that was sent is
never sent again. A failed send is retried with doubling waits. Until it goes, the watcher's
/healthz and the console's health show it.

What an alert carries: the subject names no pupil, and neither does the body. The body gives
the count, severity, category, host and time of each event, and a link to each one in the
console. The lead reads who it was there, where access is controlled and audited.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from alerts.addresses import GuardedResolver, guard_from, literal_address
from alerts.mail import TEMPLATES, Mailer, build_message, severity_name
from alerts.settings import AlertingSettings
from monitor.events import utcnow
from monitor.store.alerting import (
    AlertHealth,
    AlertToSend,
    alert_health,
    alerts_to_send,
    assign_due_events,
    record_send,
)

log = logging.getLogger(__name__)

# Runs `fn(session)` in the store's writer thread, in one transaction.
StoreRun = Callable[..., Awaitable[Any]]
Clock = Callable[[], datetime]
FIRST_RETRY = timedelta(seconds=30)
KIND_WORDS = {"user": "a signed-in user", "device": "a known device", "address": "an address"}



class InstantAlerts:
    def __init__(
        self,
        settings: AlertingSettings,
        mailer: Mailer,
        run: StoreRun,
        *,
        school: str,
        console_url: str,
        clock: Clock = utcnow,
    ) -> None:
        self.settings = settings
        self.mailer = mailer
        self.run = run
        self.school = school or "the school"
        self.console_url = console_url.rstrip("/")
        self.clock = clock
        self.health = AlertHealth(0, 0, None, None)
        self._webhook = WebhookSender(settings) if settings.webhook_url else None

    @property
    def recipients(self) -> list[str]:
        chosen = [r.strip() for r in self.settings.recipients if r.strip()]
        return chosen or ([self.mailer.prevent_lead] if self.mailer.prevent_lead else [])

    async def tick(self) -> int:
        """Assign new events, send what is due; returns the number of alerts sent in full."""
        now = self.clock()
        await self.run(
            partial(
                assign_due_events,
                min_severity=int(self.settings.level()),
            now=now,
            window=timedelta(minutes=self.settings.window_minutes),
                gather=timedelta(seconds=self.settings.gather_seconds),
                webhook=self._webhook is not None,
            )
        )
        sent = 0
        for alert in await self.run(alerts_to_send, now):
            sent += await self._send(alert)
        self.health = await self.run(alert_health, self.clock())
        return sent

    async def _send(self, alert: AlertToSend) -> bool:
        errors = []
        mail_sent = webhook_sent = None
        if alert.mail_due:
            mail_sent = await self._mail(alert)
            if not mail_sent:
                errors.append(f"mail: {self.mailer.last_error or 'no recipient configured'}")
        if alert.webhook_due and self._webhook is not None:
            webhook_sent = await self._webhook.send(self._webhook_body(alert))
            if not webhook_sent:
                errors.append(f"webhook: {self._webhook.last_error}")
        wait = min(
            FIRST_RETRY * (2 ** min(alert.attempts, 16)),
            timedelta(minutes=self.settings.retry_max_minutes),
        )
        await self.run(
            partial(
                record_send,
                alert_id=alert.id,
                now=self.clock(),
                mail_sent=mail_sent,
                webhook_sent=webhook_sent,
                error="; ".join(errors) or None,
                retry_at=self.clock() + wait,
            )
        )
        if errors:
            log.error("instant alert %s not sent (try %d): %s", alert.id, alert.attempts + 1,
                      "; ".join(errors))
            return False
        log.info("instant alert %s sent (%d events)", alert.id, len(alert.events))
        return True

    def subject(self, alert: AlertToSend) -> str:
        count = len(alert.events)
        visits = sum(e.repeat_count for e in alert.events)
        what = f"{count} events need" if count > 1 else "an event needs"
        if visits > count:
            what = what.replace(" need", f" ({visits} requests) need")
        return (
            f"[Prevent] {severity_name(alert.worst_severity).upper()}: {what} review at "
            f"{self.school}"
        )

    def _context(self, alert: AlertToSend) -> dict[str, Any]:
        return {
            "school": self.school,
            "alert": alert,
            "who": KIND_WORDS.get(alert.identity_kind, "one person"),
            "link": lambda event_id: f"{self.console_url}/events/{event_id}",
            "window": self.settings.window_minutes,
        }

    async def _mail(self, alert: AlertToSend) -> bool:
        if not self.recipients:
            self.mailer.last_error = "no recipient: set alerting.recipients or digest.prevent_lead"
            return False
        context = self._context(alert)
        domain = self.mailer.settings.sender.rpartition("@")[2] or "prevent-monitor.invalid"
        message = build_message(
            sender=self.mailer.settings.sender,
            to=self.recipients,
            subject=self.subject(alert),
            text=TEMPLATES.get_template("event-alert.txt").render(context),
            html=TEMPLATES.get_template("event-alert.html").render(context),
            # The alert's own id: a resend after a crash is the same message to mail systems.
            message_id=f"<safeguarding-alert-{alert.id}@{domain}>",
        )
        message["X-Priority"] = "1"
        return await self.mailer.send(message)

    def _webhook_body(self, alert: AlertToSend) -> dict[str, Any]:
        subject = self.subject(alert)
        lines = [
            f"{severity_name(e.severity).upper()} {e.action} {e.category or ''} {e.host or ''}"
            f" ({e.repeat_count}x) {self.console_url}/events/{e.event_id}"
            for e in alert.events[:20]
        ]
        if self.settings.webhook_format == "teams":
            return {
                "@type": "MessageCard",
                "@context": "https://schema.org/extensions",
                "summary": subject,
                "title": subject,
                "text": "\n\n".join(lines),
            }
        if self.settings.webhook_format == "json":
            return {
                "subject": subject,
                "school": self.school,
                "severity": severity_name(alert.worst_severity),
                "events": [
                    {
                        "reference": e.event_id,
                        "when": e.when.isoformat(),
                        "action": e.action,
                        "category": e.category,
                        "severity": severity_name(e.severity),
                        "host": e.host,
                        "repeats": e.repeat_count,
                        "link": f"{self.console_url}/events/{e.event_id}",
                    }
                    for e in alert.events
                ],
            }
        return {"text": subject + "\n" + "\n".join(lines)}

    async def run_until(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.tick()
            except Exception as exc:  # the store may be away: the events wait for it
                log.warning("instant alerts: cannot read the store now: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.settings.poll_seconds)

    def health_report(self) -> dict[str, Any]:
        h = self.health
        return {
            "waiting": h.waiting,
            "failing": h.failing,
            "last_error": h.last_error,
            "oldest_waiting": h.oldest_waiting.isoformat() if h.oldest_waiting else None,
        }


class WebhookSender:
    """POSTs JSON to the configured webhook, through the feeds' address guard (no private or
    metadata addresses unless `webhook_allow_private`)."""

    def __init__(self, settings: AlertingSettings) -> None:
        self.url = settings.webhook_url
        self.guard = guard_from(settings.webhook_allow_private, [])
        self.last_error: str | None = None

    async def send(self, body: dict[str, Any]) -> bool:
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(self.guard))
        timeout = aiohttp.ClientTimeout(total=15)
        literal = literal_address(urlsplit(self.url).hostname or "")
        refusal = self.guard.refusal(literal) if literal is not None else None
        if refusal:
            self.last_error = f"refused: {refusal}"
            return False
        headers = {"Content-Type": "application/json"}
        try:
            async with (
                aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
                session.post(
                    self.url, data=json.dumps(body), allow_redirects=False, headers=headers
                ) as response,
            ):
                if 200 <= response.status < 300:
                    self.last_error = None
                    return True
                self.last_error = f"HTTP {response.status}"
                return False
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"[:500]
            return False

