"""The dashboard: events over the last 30 days (a server-drawn SVG chart), top categories and
rules, what is waiting (unblock requests, events of a school the configuration does not know),
and a line for each health warning, linking to the health page (`monitor.console.health`),
which has the parts, the policy in force, the spool, alert delivery and the feeds.

The figures are cached for a minute: the page is for a glance, and each count reads a month of
events. The health lines are read afresh, as the health page reads them.
"""

from __future__ import annotations

import time
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from markupsafe import Markup

from monitor.console.chart import bar_chart
from monitor.console.health import summary
from monitor.console.roles import Can
from monitor.console.web import Console, console_of, requires
from monitor.store import scope
from monitor.store.stats import overview
from monitor.store.trust import unknown_school_events

routes = web.RouteTableDef()
DAYS = 30
CACHE_SECONDS = 60.0


async def _figures(console: Console) -> dict[str, Any]:
    # Per school scope: one school's figures are never another account's.
    key = f"dashboard:{sorted(scope.current() or ()) if scope.current() is not None else '*'}"
    cached = console.cache.get(key)
    if cached and time.monotonic() - cached[0] < CACHE_SECONDS:
        return cached[1]
    now = datetime.now(UTC)
    since = now - timedelta(days=DAYS)
    counts = await console.store.read(overview, since)
    figures = {f.name: getattr(counts, f.name) for f in fields(counts)}
    first = (now - timedelta(days=DAYS - 1)).date()
    figures["chart"] = Markup(
        bar_chart([(d.day, d.events) for d in figures["days"]], first, now.date())
    )
    figures["total"] = sum(d.events for d in figures["days"])
    figures["unknown_school"] = await console.store.read(unknown_school_events, console.schools.ids)
    console.cache[key] = (time.monotonic(), figures)
    return figures


@routes.get("/dashboard")
@requires(Can.DASHBOARD)
async def dashboard(request: web.Request) -> web.Response:
    console = console_of(request)
    figures = await _figures(console)
    # Not cached with the figures: "the gateway is down" must not wait a minute to show.
    warnings = await summary(console)
    context = {"title": "Dashboard", "days_shown": DAYS, "health_warnings": warnings, **figures}
    return aiohttp_jinja2.render_template("dashboard.html", request, context)
