"""The instant alerts' reads and writes: which serious events are due, which alerts to send, and
what became of each send. The sending itself is `alerts.instant`'s.

One alert per identity per window. An identity is the best one known for the event: the user,
else the device, else the client address. The first serious event of an identity opens a
window. Its alert waits `gather` seconds, so that a burst arrives as one alert with a count,
and then goes out. Events of the same identity later in that window join one follow-up alert,
sent when the window closes. So a pupil's burst costs the lead at most two emails per window.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from monitor.events import identity_of
from monitor.store.models import Event, SafeguardingAlert

PENDING, SENT, OFF = "pending", "sent", "off"
# Events older than this are never alerted (an upgrade, or a long outage of the watcher, must
# not flood the lead with stale news; the console still holds every one).
LOOK_BACK = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class AlertedEvent:
    """What an alert says of one event: no pupil name, no search terms (the link has them)."""

    event_id: str
    when: datetime
    action: str
    category: str | None
    severity: int
    host: str | None
    repeat_count: int


@dataclass(frozen=True, slots=True)
class AlertToSend:
    id: int
    identity_kind: str  # user | device | address
    window_start: datetime
    worst_severity: int
    mail_due: bool
    webhook_due: bool
    attempts: int
    events: tuple[AlertedEvent, ...]


@dataclass(frozen=True, slots=True)
class AlertHealth:
    """For the health page and /healthz: alerts waiting beyond their time, and why."""

    waiting: int
    failing: int
    last_error: str | None
    oldest_waiting: datetime | None


def assign_due_events(
    session: Session,
    *,
    min_severity: int,
    now: datetime,
    window: timedelta,
    gather: timedelta,
    webhook: bool,
) -> int:
    """Give every serious gateway event that has no alert yet to its identity's alert for the
    window, opening alerts as needed. Returns how many events were assigned."""
    due = session.execute(
        select(
            Event.pk, Event.school, Event.user, Event.device, Event.client_ip, Event.severity,
            Event.first_seen,
        )
        .where(
            Event.alert_id.is_(None),
            Event.source == "gateway",
            Event.severity >= min_severity,
            Event.last_seen >= now - LOOK_BACK,
        )
        .order_by(Event.first_seen, Event.pk)
    ).all()
    # Per school and identity: the same name at two schools is two pupils, two leads.
    by_identity: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    earliest: dict[tuple[str, str], datetime] = {}
    for pk, school, user, device, client_ip, severity, first_seen in due:
        who = (school, identity_of(user, device, client_ip))
        by_identity[who].append((pk, severity))
        earliest.setdefault(who, min(first_seen, now))
    for who, events in by_identity.items():
        alert = _open_alert(session, who, earliest[who], now, window, gather, webhook)
        alert.event_count += len(events)
        alert.worst_severity = max(alert.worst_severity, *(s for _, s in events))
        session.flush()
        session.execute(
            update(Event).where(Event.pk.in_([pk for pk, _ in events])).values(alert_id=alert.id)
        )
    return len(due)


def _open_alert(
    session: Session,
    who: tuple[str, str],
    seen: datetime,
    now: datetime,
    window: timedelta,
    gather: timedelta,
    webhook: bool,
) -> SafeguardingAlert:
    """The unsent alert this identity's new events join, or a new one. A new window starts when
    its first event was seen (not when this poll found it), so the gathering delay counts from
    the pupil's request."""
    school, identity = who
    latest = session.scalar(
        select(SafeguardingAlert)
        .where(SafeguardingAlert.school == school, SafeguardingAlert.identity == identity)
        .order_by(SafeguardingAlert.window_start.desc(), SafeguardingAlert.id.desc())
        .limit(1)
    )
    if latest is not None and latest.sent_at is None:
        return latest  # still gathering, or waiting to be retried: join it
    if latest is not None and latest.window_start + window > seen:
        # The window's first alert went out: one follow-up when the window closes.
        start, send_after = latest.window_start + window, latest.window_start + window
    else:
        start, send_after = seen, seen + gather
    alert = SafeguardingAlert(
        school=school,
        identity=identity,
        window_start=start,
        created_at=now,
        send_after=send_after,
        event_count=0,
        worst_severity=0,
        mail_state=PENDING,
        webhook_state=PENDING if webhook else OFF,
        attempts=0,
    )
    session.add(alert)
    return alert


def alerts_to_send(session: Session, now: datetime, *, limit: int = 50) -> list[AlertToSend]:
    rows = session.scalars(
        select(SafeguardingAlert)
        .where(SafeguardingAlert.sent_at.is_(None), SafeguardingAlert.send_after <= now)
        .order_by(SafeguardingAlert.send_after, SafeguardingAlert.id)
        .limit(limit)
    ).all()
    out = []
    for alert in rows:
        events = session.execute(
            select(
                Event.event_id, Event.first_seen, Event.action, Event.category, Event.severity,
                Event.host, Event.repeat_count,
            )
            .where(Event.alert_id == alert.id)
            .order_by(Event.severity.desc(), Event.first_seen)
        ).all()
        out.append(
            AlertToSend(
                id=alert.id,
                identity_kind=alert.identity.partition(":")[0],
                window_start=alert.window_start,
                worst_severity=alert.worst_severity,
                mail_due=alert.mail_state == PENDING,
                webhook_due=alert.webhook_state == PENDING,
                attempts=alert.attempts,
                events=tuple(AlertedEvent(*row) for row in events),
            )
        )
    return out


def record_send(
    session: Session,
    alert_id: int,
    *,
    now: datetime,
    mail_sent: bool | None,
    webhook_sent: bool | None,
    error: str | None,
    retry_at: datetime,
) -> None:
    """What came of one attempt (None: that channel was not tried). Once every channel is sent
    (or off) the alert is done; otherwise it waits for `retry_at` with its error kept."""
    alert = session.get(SafeguardingAlert, alert_id)
    if alert is None:  # purged meanwhile
        return
    if mail_sent:
        alert.mail_state = SENT
    if webhook_sent:
        alert.webhook_state = SENT
    alert.attempts += 1
    if PENDING not in (alert.mail_state, alert.webhook_state):
        alert.sent_at = now
        alert.last_error = None
        return
    alert.last_error = (error or "not sent")[:1024]
    alert.send_after = retry_at


def alert_health(session: Session, now: datetime) -> AlertHealth:
    late = (SafeguardingAlert.sent_at.is_(None), SafeguardingAlert.send_after <= now)
    waiting = session.scalar(select(func.count()).where(*late)) or 0
    failing = session.scalar(
        select(func.count()).where(
            SafeguardingAlert.sent_at.is_(None), SafeguardingAlert.attempts > 0
        )
    ) or 0
    last = session.execute(
        select(SafeguardingAlert.last_error, SafeguardingAlert.created_at)
        .where(SafeguardingAlert.sent_at.is_(None))
        .where(or_(SafeguardingAlert.attempts > 0, SafeguardingAlert.send_after <= now))
        .order_by(SafeguardingAlert.created_at)
        .limit(1)
    ).first()
    return AlertHealth(
        waiting=int(waiting),
        failing=int(failing),
        last_error=last[0] if last else None,
        oldest_waiting=last[1] if last else None,
    )
