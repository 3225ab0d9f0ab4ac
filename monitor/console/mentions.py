"""Brand mentions the watcher found, and the digests sent: for communications staff and the
Prevent lead. Links are shown as plain text links the console itself never fetches."""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.console.app import console_of, requires
from monitor.console.roles import Can
from monitor.store.models import BrandMention, DigestSent

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

    def load(session: Session) -> list[BrandMention]:
        query = select(BrandMention).where(BrandMention.severity >= min_severity)
        if before:
            query = query.where(BrandMention.id < before)
        return list(session.scalars(query.order_by(BrandMention.id.desc()).limit(PAGE)))

    items = await console.db(load)
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
    items = await console.db(
        lambda s: list(s.scalars(select(DigestSent).order_by(DigestSent.sent_at.desc()).limit(200)))
    )
    return aiohttp_jinja2.render_template(
        "digests.html", request, {"title": "Digests sent", "items": items}
    )
