"""One event: its details, the triage form (status, referral reference, notes, assignment), the
audit trail, and a printable summary for a referral (CPOMS, MyConcern)."""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.console.app import console_of, requires, see_other, signin_of
from monitor.console.eventview import audit_view, event_view
from monitor.console.formatting import status_name
from monitor.console.queue import event_id_of
from monitor.console.roles import Can, grants
from monitor.store.models import ConsoleUser, ReviewStatus, Role
from monitor.store.queries import EventDetail, get_event
from monitor.store.review import ReviewError, add_note, assign, record, set_status

routes = web.RouteTableDef()
NOTE_MAX = 5000


async def _detail(request: web.Request, event_id: str) -> tuple[EventDetail, list[str]]:
    console = console_of(request)

    def load(session: Session) -> tuple[EventDetail | None, list[str]]:
        detail = get_event(session, event_id)
        leads = session.scalars(
            select(ConsoleUser.username)
            .where(
                ConsoleUser.active.is_(True),
                ConsoleUser.role.in_([Role.PREVENT_LEAD.value, Role.ADMIN.value]),
            )
            .order_by(ConsoleUser.username)
        ).all()
        return detail, list(leads)

    detail, leads = await console.db(load)
    if detail is None:
        raise web.HTTPNotFound(text="There is no such event: it may have been purged.")
    return detail, leads


def _context(request: web.Request, detail: EventDetail, leads: list[str]) -> dict[str, object]:
    console = console_of(request)
    role = signin_of(request).user.role
    return {
        "event": event_view(detail.event, role, console.pseudonyms),
        "audit": [audit_view(a, role) for a in detail.audit],
        "leads": leads,
        "triage": Can.TRIAGE in grants(role),
        "status_choices": [(s.value, status_name(s.value)) for s in ReviewStatus],
    }


@routes.get("/events/{event_id}")
@requires(Can.EVENT_RULES)
async def event_page(request: web.Request) -> web.Response:
    detail, leads = await _detail(request, event_id_of(request))
    context = _context(request, detail, leads)
    context["title"] = "Event"
    return aiohttp_jinja2.render_template("event.html", request, context)


@routes.get("/events/{event_id}/print")
@requires(Can.QUEUE)
async def event_print(request: web.Request) -> web.Response:
    """A one-page summary to attach to a referral; printing it is recorded."""
    console = console_of(request)
    signin = signin_of(request)
    event_id = event_id_of(request)
    detail, leads = await _detail(request, event_id)
    await console.db(
        lambda s: record(s, actor=signin.user.username, action="export.print", event_id=event_id),
        write=True,
    )
    context = _context(request, detail, leads)
    context["title"] = "Event summary"
    return aiohttp_jinja2.render_template("event_print.html", request, context)


@routes.post("/events/{event_id}/triage")
@requires(Can.TRIAGE)
async def triage(request: web.Request) -> web.Response:
    """One form: a status change (with referral reference), an assignment and a note, each
    written to the audit trail only if it changes something."""
    console = console_of(request)
    signin = signin_of(request)
    event_id = event_id_of(request)
    form = await request.post()
    status = str(form.get("status", ""))
    referral_ref = str(form.get("referral_ref", "")).strip()[:128]
    note = str(form.get("note", "")).strip()[:NOTE_MAX]
    assignee = str(form.get("assignee", "")).strip()[:128]

    def change(session: Session) -> list[str]:
        done: list[str] = []
        detail = get_event(session, event_id)
        if detail is None:
            raise ReviewError("this event no longer exists (it may have been purged)")
        event = detail.event
        status_changed = False
        new_ref = bool(referral_ref) and referral_ref != event.referral_ref
        if status and (status != event.status or new_ref):
            set_status(
                session, event_id, status, actor=signin.user.username,
                note=note or None, referral_ref=referral_ref or None,
            )  # fmt: skip
            status_changed = True
            done.append(f"status {status_name(status).lower()}")
        if assignee != (event.assignee or ""):
            assign(session, event_id, assignee or None, actor=signin.user.username)
            done.append(f"assigned to {assignee}" if assignee else "unassigned")
        if note and not status_changed:
            add_note(session, event_id, note, actor=signin.user.username)
            done.append("note added")
        return done

    try:
        done = await console.db(change, write=True)
    except ReviewError as exc:
        signin.flash.append(("problem", str(exc)))
    else:
        signin.flash.append(("ok", "Saved: " + (", ".join(done) or "nothing changed") + "."))
    return see_other(f"/events/{event_id}")
