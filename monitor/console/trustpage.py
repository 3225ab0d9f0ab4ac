"""The trust's page (`/trust`): one line per school the account sees, with its events by
severity over the last 30 days, open items, referrals, unblock requests waiting and the median
time from an event to the lead's first response; and the events stored under a school the
configuration does not know, which only an account of every school sees (issue #16).

Counts only, never a pupil: a trust lead opens a school's queue (`/events?school=ID`) to see
events themselves.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp_jinja2
from aiohttp import web

from monitor.console.roles import Can
from monitor.console.web import console_of, requires, signin_of
from monitor.store.trust import SchoolSummary, school_summaries, unknown_school_events

routes = web.RouteTableDef()
DAYS = 30
SEVERITIES = (4, 3, 2, 1, 0)


@routes.get("/trust")
@requires(Can.QUEUE)
async def trust_summary(request: web.Request) -> web.Response:
    console = console_of(request)
    schools = signin_of(request).user.schools
    since = datetime.now(UTC) - timedelta(days=DAYS)
    lines = await console.store.read(school_summaries, since)
    shown = {line.school for line in lines}
    visible = console.schools.ids if schools is None else schools
    for school in sorted(visible - shown):  # a school with nothing yet still has its line
        lines.append(SchoolSummary(school))
    lines.sort(key=lambda line: console.schools.name_of(line.school))
    unknown = await console.store.read(unknown_school_events, console.schools.ids)
    return aiohttp_jinja2.render_template(
        "trust.html",
        request,
        {
            "title": "Schools",
            "lines": lines,
            "days_shown": DAYS,
            "severities": SEVERITIES,
            "unknown": unknown,
            "every_school": schools is None,
        },
    )

