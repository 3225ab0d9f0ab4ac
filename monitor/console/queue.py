"""The Prevent lead's queue: filtered, sorted, paginated events; the ranking of users; a user's
timeline around one event; CSV export; and the IT staff's false-positive queue."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import aiohttp_jinja2
from aiohttp import web

from monitor.console.catalogue import options as policy_options
from monitor.console.eventview import event_view
from monitor.console.formatting import csv_cell, severity_name, status_name
from monitor.console.queryform import KINDS, STATUSES, parse_queue_query
from monitor.console.roles import Can
from monitor.console.web import Console, console_of, requires, signin_of
from monitor.events import SOURCES
from monitor.store.exports import Exported, export_chosen, export_matching, view_timeline
from monitor.store.models import ReviewStatus
from monitor.store.queries import EventFilter, EventPage, list_events, user_ranking

routes = web.RouteTableDef()
EVENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
EXPORT_LIMIT = 10_000
CSV_COLUMNS = (
    "event_id", "school", "first_seen", "last_seen", "repeat_count", "source", "kind", "action",
    "category", "severity", "rule", "rule_source", "url", "host", "search_terms", "reason",
    "user", "device", "client_ip", "group", "policy_version", "status", "assignee",
    "referral_ref",
)  # fmt: skip
# Every distinct search term and path of a folded event, one "count× value" a line (a count
# first, so no line of a cell can start a spreadsheet formula), and the visits not listed.
FOLDED_COLUMNS = ("all_search_terms", "more_search_terms", "all_paths", "more_paths")


def event_id_of(request: web.Request) -> str:
    event_id = request.match_info.get("event_id", "")
    if not EVENT_ID.match(event_id):
        raise web.HTTPNotFound(text="There is no such event.")
    return event_id


@routes.get("/events")
@requires(Can.QUEUE)
async def queue(request: web.Request) -> web.Response:
    console = console_of(request)
    signin = signin_of(request)
    query = parse_queue_query(request.query, console.zone, allow_identity_filters=True)
    page_size = max(1, min(console.settings.page_size, 500))

    async def load() -> EventPage:
        return await console.store.read(
            list_events, query.flt, sort=query.sort, ascending=query.ascending,
            limit=page_size, after=query.after,
        )  # fmt: skip

    try:
        page = await load()
    except ValueError as exc:  # a damaged page link
        query.problems.append(str(exc))
        query.after = None
        query.values.pop("after", None)
        page = await load()
    events, cursor = page.events, page.next_cursor
    options = await policy_options(console)
    role = signin.user.role
    return aiohttp_jinja2.render_template(
        "queue.html",
        request,
        {
            "title": "Queue",
            "events": [event_view(e, role, console.pseudonyms) for e in events],
            "query": query,
            "next_link": query.link(after=cursor) if cursor else None,
            "first_link": query.link(after=None) if query.after else None,
            "statuses": [(s, status_name(s)) for s in STATUSES],
            "kinds": KINDS,
            "sources": SOURCES,
            "categories": options.categories,
            "groups": options.groups,
            "school_choices": _school_choices(console, signin.user.schools),
        },
    )


@routes.post("/events/export")
@requires(Can.QUEUE)
async def export_selected(request: web.Request) -> web.Response:
    """CSV of the events ticked in the queue (for CPOMS or MyConcern)."""
    console = console_of(request)
    signin = signin_of(request)
    form = await request.post()
    ids = [str(v) for v in form.getall("event", []) if EVENT_ID.match(str(v))][:EXPORT_LIMIT]
    if not ids:
        raise web.HTTPBadRequest(text="Tick at least one event to export.")
    events = await console.store.write(export_chosen, ids, actor=signin.user.username)
    return _csv_response(events, "selected-events")


@routes.get("/events.csv")
@requires(Can.QUEUE)
async def export_filtered(request: web.Request) -> web.Response:
    """CSV of every event the queue's current filter matches (up to 10,000)."""
    console = console_of(request)
    signin = signin_of(request)
    query = parse_queue_query(request.query, console.zone, allow_identity_filters=True)
    events = await console.store.write(
        export_matching, query.flt, sort=query.sort, actor=signin.user.username,
        described=query.link(), limit=EXPORT_LIMIT,
    )  # fmt: skip
    return _csv_response(events, "events")


def _csv_response(exported: list[Exported], name: str) -> web.Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow((*CSV_COLUMNS, *FOLDED_COLUMNS))
    for item in exported:
        row = []
        for column in CSV_COLUMNS:
            value = getattr(item.event, column)
            if column == "severity":
                value = f"{value} ({severity_name(value)})"
            row.append(csv_cell(value))
        folded = item.folded
        row += [_counted(folded.terms), str(folded.more_terms)]
        row += [_counted(folded.paths), str(folded.more_paths)]
        writer.writerow(row)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="prevent-{name}-{stamp}.csv"'},
    )


def _counted(values: list[tuple[str, int, datetime, datetime]]) -> str:
    return "\n".join(f"{count}\u00d7 {value}" for value, count, _first, _last in values)


@routes.get("/ranking")
@requires(Can.QUEUE)
async def ranking(request: web.Request) -> web.Response:
    """Users by severity x frequency over a period (default the last 30 days)."""
    console = console_of(request)
    try:
        days = max(1, min(int(request.query.get("days", "30")), 366))
    except ValueError:
        days = 30
    since = datetime.now(UTC) - timedelta(days=days)
    rows = await console.store.read(user_ranking, EventFilter(since=since), limit=50)
    return aiohttp_jinja2.render_template(
        "ranking.html", request, {"title": "Ranking", "rows": rows, "days": days}
    )


@routes.get("/events/{event_id}/timeline")
@requires(Can.QUEUE)
async def timeline(request: web.Request) -> web.Response:
    """The same pupil's events an hour either side of one event. Looking is itself recorded."""
    console = console_of(request)
    signin = signin_of(request)
    event_id = event_id_of(request)
    event, around = await console.store.write(view_timeline, event_id, actor=signin.user.username)
    if event is None:
        raise web.HTTPNotFound(text="There is no such event: it may have been purged.")
    role = signin.user.role
    return aiohttp_jinja2.render_template(
        "timeline.html",
        request,
        {
            "title": "Timeline",
            "event": event_view(event, role, console.pseudonyms),
            "events": [event_view(e, role, console.pseudonyms) for e in around],
        },
    )


@routes.get("/it/false-positives")
@requires(Can.EVENT_RULES)
async def false_positives(request: web.Request) -> web.Response:
    """Events the Prevent lead marked false positive, with the rule that caused each, for IT
    staff to fix the list (pupils pseudonymised)."""
    console = console_of(request)
    signin = signin_of(request)
    flt = EventFilter(statuses=[ReviewStatus.FALSE_POSITIVE.value])
    after = request.query.get("after") or None
    try:
        page = await console.store.read(list_events, flt, limit=100, after=after)
    except ValueError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    role = signin.user.role
    views = [event_view(e, role, console.pseudonyms) for e in page.events]
    by_rule: dict[tuple[str, str], int] = {}
    for view in views:
        key = (view.rule, view.rule_source)
        by_rule[key] = by_rule.get(key, 0) + 1
    return aiohttp_jinja2.render_template(
        "false_positives.html",
        request,
        {
            "title": "False positives",
            "events": views,
            "by_rule": sorted(by_rule.items(), key=lambda kv: -kv[1]),
            "next_cursor": page.next_cursor,
        },
    )


def _school_choices(console: Console, schools: frozenset[str] | None) -> list[tuple[str, str]]:
    """The schools this account may narrow the queue to: its own, by name."""
    ids = console.schools.ids if schools is None else schools
    return sorted(((i, console.schools.name_of(i)) for i in ids), key=lambda pair: pair[1])
