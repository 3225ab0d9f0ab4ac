"""Brand mentions the watcher found, and the digests sent: for communications staff and the
Prevent lead. Links are shown as plain text links the console itself never fetches.

Each mention has a page (`/mentions/<id>`) with its review: the Prevent lead triages it (status,
referral reference, a note: `POST /mentions/<id>/triage`) as an event is triaged; everything is
written to the audit trail (`mention:<id>`). Communications staff read the status and the trail,
but not the notes (a note can name a pupil), and cannot triage.
"""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from monitor.console.eventview import audit_view
from monitor.console.roles import Can, grants
from monitor.console.web import console_of, requires, see_other, signin_of
from monitor.store.mentionreview import (
    MENTION_STATUS_NAMES,
    get_mention,
    mention_status_name,
    mention_trail,
    triage_mention,
)
from monitor.store.mentions import list_digests, list_mentions
from monitor.store.review import ReviewError, TriageDone

routes = web.RouteTableDef()
PAGE = 100
NOTE_MAX = 5000


@routes.get("/mentions")
@requires(Can.MENTIONS)
async def mentions(request: web.Request) -> web.Response:
    console = console_of(request)
    try:
        min_severity = max(0, min(int(request.query.get("severity", "0")), 4))
        before = int(request.query.get("before", "0"))
    except ValueError:
        min_severity, before = 0, 0
    review = request.query.get("review", "")
    review = review if review in MENTION_STATUS_NAMES else ""
    items = await console.store.read(list_mentions, min_severity, before, PAGE, review)
    older = items[-1].id if len(items) == PAGE else None
    return aiohttp_jinja2.render_template(
        "mentions.html",
        request,
        {
            "title": "Brand mentions", "items": items, "severity": min_severity, "older": older,
            "review": review, "review_choices": list(MENTION_STATUS_NAMES.items()),
            "review_name": mention_status_name,
        },
    )  # fmt: skip


def _mention_id(request: web.Request) -> int:
    try:
        return int(request.match_info["mention_id"])
    except ValueError:
        raise web.HTTPNotFound(text="There is no such mention.") from None


@routes.get("/mentions/{mention_id}")
@requires(Can.MENTIONS)
async def mention_page(request: web.Request) -> web.Response:
    console = console_of(request)
    role = signin_of(request).user.role
    mention_id = _mention_id(request)
    mention = await console.store.read(get_mention, mention_id)
    if mention is None:
        raise web.HTTPNotFound(text="There is no such mention: it may have been purged.")
    trail = await console.store.read(mention_trail, mention_id)
    return aiohttp_jinja2.render_template(
        "mention.html",
        request,
        {
            "title": "Brand mention", "m": mention, "audit": [audit_view(a, role) for a in trail],
            "triage": Can.TRIAGE in grants(role), "review_name": mention_status_name,
            "status_choices": list(MENTION_STATUS_NAMES.items()),
        },
    )  # fmt: skip


@routes.post("/mentions/{mention_id}/triage")
@requires(Can.MENTIONS, Can.TRIAGE)
async def triage(request: web.Request) -> web.Response:
    """A status change (with a referral reference) and a note, each written to the audit trail
    only if it changes something."""
    console = console_of(request)
    signin = signin_of(request)
    mention_id = _mention_id(request)
    form = await request.post()
    try:
        done = await console.store.write(
            triage_mention, mention_id, actor=signin.user.username,
            status=str(form.get("status", "")),
            referral_ref=str(form.get("referral_ref", "")).strip()[:128],
            note=str(form.get("note", "")).strip()[:NOTE_MAX],
        )  # fmt: skip
    except ReviewError as exc:
        signin.flash.append(("problem", str(exc)))
    else:
        signin.flash.append(("ok", "Saved: " + (", ".join(_said(done)) or "nothing changed") + "."))
    return see_other(f"/mentions/{mention_id}")


def _said(done: TriageDone) -> list[str]:
    said = []
    if done.status is not None:
        said.append(f"status {mention_status_name(done.status).lower()}")
    if done.noted:
        said.append("note added")
    return said


@routes.get("/digests")
@requires(Can.MENTIONS)
async def digests(request: web.Request) -> web.Response:
    console = console_of(request)
    items = await console.store.read(list_digests)
    return aiohttp_jinja2.render_template(
        "digests.html", request, {"title": "Digests sent", "items": items}
    )
