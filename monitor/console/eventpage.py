"""One event: its details, the triage form (status, referral reference, notes, assignment), the
audit trail, and a printable summary for a referral (CPOMS, MyConcern)."""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from monitor.console.eventview import audit_view, event_view, folded_view
from monitor.console.formatting import status_name
from monitor.console.queue import event_id_of
from monitor.console.roles import Can, grants
from monitor.console.web import console_of, requires, see_other, signin_of
from monitor.store import review
from monitor.store.accounts import review_leads
from monitor.store.details import event_id_for_reference
from monitor.store.models import ReviewStatus
from monitor.store.queries import EventDetail, get_event
from monitor.store.review import ReviewError, TriageDone, record

routes = web.RouteTableDef()
NOTE_MAX = 5000


async def _detail(
    request: web.Request, event_id: str, suffix: str = ""
) -> tuple[EventDetail, list[str]]:
    """The event, or a redirect to the one holding the visit `event_id` names: a block page's
    reference is its own visit's id, and a repeat visit is folded into an earlier event."""
    store = console_of(request).store
    detail = await store.read(get_event, event_id)
    if detail is None:
        holding = await store.read(event_id_for_reference, event_id)
        if holding and holding != event_id:
            raise web.HTTPSeeOther(f"/events/{holding}{suffix}")
        raise web.HTTPNotFound(text="There is no such event: it may have been purged.")
    leads = await store.read(review_leads, detail.event.school)
    return detail, leads


def _context(request: web.Request, detail: EventDetail, leads: list[str]) -> dict[str, object]:
    console = console_of(request)
    role = signin_of(request).user.role
    return {
        "event": event_view(detail.event, role, console.pseudonyms),
        "audit": [audit_view(a, role) for a in detail.audit],
        "folded": folded_view(detail.folded, role),
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
    detail, leads = await _detail(request, event_id, "/print")
    await console.store.write(
        record, actor=signin.user.username, action="export.print", event_id=event_id
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
    try:
        done = await console.store.write(
            review.triage, event_id, actor=signin.user.username, status=status,
            referral_ref=referral_ref, assignee=assignee, note=note,
        )  # fmt: skip
    except ReviewError as exc:
        signin.flash.append(("problem", str(exc)))
    else:
        signin.flash.append(("ok", "Saved: " + (", ".join(_said(done)) or "nothing changed") + "."))
    return see_other(f"/events/{event_id}")


def _said(done: TriageDone) -> list[str]:
    said = []
    if done.status is not None:
        said.append(f"status {status_name(done.status).lower()}")
    if done.assignee is not None:
        said.append(f"assigned to {done.assignee}" if done.assignee else "unassigned")
    if done.noted:
        said.append("note added")
    return said
