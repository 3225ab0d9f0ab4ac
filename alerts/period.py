"""When a digest is due and what it covers: `DigestPeriod` and `digest_period()`.

Split from `alerts.digest` (which re-exports them): a school's digest and the trust-wide one
share the schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from alerts.settings import WEEKDAYS, DigestSettings


@dataclass(frozen=True, slots=True)
class DigestPeriod:
    key: str  # "daily:2025-03-04" (the local date it is due)
    start: datetime  # UTC
    end: datetime  # UTC: the scheduled send time
    zone: ZoneInfo

    def local(self, when: datetime) -> datetime:
        return when.astimezone(self.zone)

    def next_end(self) -> datetime:
        """The following period's send time (UTC)."""
        local_end = self.end.astimezone(self.zone)
        step = timedelta(days=7 if self.key.startswith("weekly:") else 1)
        wall = local_end.time()
        following = datetime.combine(local_end.date() + step, wall, self.zone)
        return following.astimezone(UTC)

    def following(self) -> DigestPeriod:
        """The period after this one (what the next digest will cover)."""
        end = self.next_end()
        kind = self.key.split(":", 1)[0]
        day = end.astimezone(self.zone).date().isoformat()
        return DigestPeriod(f"{kind}:{day}", self.end, end, self.zone)


def digest_period(now: datetime, settings: DigestSettings) -> DigestPeriod:
    """The latest scheduled send at or before `now`, and the period it closes."""
    zone = settings.zone()
    at = settings.send_time()
    local_now = now.astimezone(zone)
    due_date = local_now.date()
    if settings.schedule == "weekly":
        back = (local_now.weekday() - WEEKDAYS.index(settings.weekday)) % 7
        due_date -= timedelta(days=back)
    due = datetime.combine(due_date, at, zone)
    step = timedelta(days=7 if settings.schedule == "weekly" else 1)
    if due > local_now:
        due_date -= step
        due = datetime.combine(due_date, at, zone)
    start = datetime.combine(due_date - step, at, zone)
    return DigestPeriod(
        key=f"{settings.schedule}:{due_date.isoformat()}",
        start=start.astimezone(UTC),
        end=due.astimezone(UTC),
        zone=zone,
    )
