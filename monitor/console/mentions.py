"""Brand mentions the watcher found, and the digests sent: for communications staff and the
Prevent lead. Links are shown as plain text links the console itself never fetches."""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from monitor.console.roles import Can
from monitor.console.web import console_of, requires
from monitor.store.mentions import list_digests, list_mentions

routes = web.RouteTableDef()
PAGE = 100


@routes.get("/mentions")
@requires(Can.MENTIONS)
async def mentions(request: web.Request) -> web.Response:
    console = console_of(request)
    try:
        min_severity = max(0, min(int(request.query.get("severity", "0")), 4))
        before = int(request.query.get("before", "0"))
    except ValueError:
        min_severity, before = 0, 0
    items = await console.store.read(list_mentions, min_severity, before, PAGE)
    older = items[-1].id if len(items) == PAGE else None
    return aiohttp_jinja2.render_template(
        "mentions.html",
        request,
        {"title": "Brand mentions", "items": items, "severity": min_severity, "older": older},
    )


@routes.get("/digests")
@requires(Can.MENTIONS)
async def digests(request: web.Request) -> web.Response:
    console = console_of(request)
    items = await console.store.read(list_digests)
    return aiohttp_jinja2.render_template(
        "digests.html", request, {"title": "Digests sent", "items": items}
    )
