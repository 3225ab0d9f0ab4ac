"""The dashboard: events over the last 30 days (a server-drawn SVG chart), top categories and
rules, failing feeds, instant alerts waiting or failing to send, and gateway health (policy
version, last reload, errors).

Gateway health comes from the status file the gateway writes (`console.gateway_status_file`,
JSON with `policy_version`, `last_reload`, `errors`), the newest event's policy version, and a
validation of the policy files. The figures are cached for a minute: the page is for a glance,
and each count reads a month of events.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from markupsafe import Markup

from filters.policy import Policy
from monitor.console.chart import bar_chart
from monitor.console.roles import Can
from monitor.console.web import Console, console_of, requires
from monitor.store import scope
from monitor.store.alerting import alert_health
from monitor.store.stats import overview
from monitor.store.trust import unknown_school_events

routes = web.RouteTableDef()
DAYS = 30
CACHE_SECONDS = 60.0


@dataclass
class Health:
    policy_version: str = ""
    last_reload: str = ""
    errors: list[str] = field(default_factory=list)
    status_file: str = ""
    status_problem: str = ""
    newest_event_version: str = ""
    policy_problems: list[str] = field(default_factory=list)


def read_status_file(path: Any) -> tuple[dict[str, Any], str]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}, "the gateway has not written a status file yet"
    except (OSError, ValueError) as exc:
        return {}, f"cannot read {path}: {exc}"
    return (raw, "") if isinstance(raw, dict) else ({}, f"{path}: expected a JSON object")


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
    # Instant alerts that could not be sent: a safeguarding matter for the lead and an IT one.
    figures["alerts"] = await console.store.read(alert_health, now)
    problems = await asyncio.to_thread(_validate, console)
    status, status_problem = await asyncio.to_thread(read_status_file, console.status_file)
    errors = status.get("errors") or []
    figures["health"] = Health(
        policy_version=str(status.get("policy_version") or ""),
        last_reload=str(status.get("last_reload") or ""),
        errors=[str(e)[:500] for e in errors][:20] if isinstance(errors, list) else [str(errors)],
        status_file=str(console.status_file),
        status_problem=status_problem,
        newest_event_version=figures.pop("newest_version"),
        policy_problems=problems,
    )
    first = (now - timedelta(days=DAYS - 1)).date()
    figures["chart"] = Markup(
        bar_chart([(d.day, d.events) for d in figures["days"]], first, now.date())
    )
    figures["total"] = sum(d.events for d in figures["days"])
    figures["unknown_school"] = await console.store.read(unknown_school_events, console.schools.ids)
    console.cache[key] = (time.monotonic(), figures)
    return figures


def _validate(console: Console) -> list[str]:
    try:
        return [str(p) for p in Policy.validate(console.policy_path)][:20]
    except Exception as exc:  # the health page must show a broken policy, not crash on it
        return [f"{console.policy_path}: {exc}"]


@routes.get("/dashboard")
@requires(Can.DASHBOARD)
async def dashboard(request: web.Request) -> web.Response:
    figures = await _figures(console_of(request))
    return aiohttp_jinja2.render_template(
        "dashboard.html", request, {"title": "Dashboard", "days_shown": DAYS, **figures}
    )
