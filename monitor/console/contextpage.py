"""The context page: the hosts a pupil reached an hour either side of one event (Prevent lead).

`/events/<id>/context` reads the host-only context log (`monitor.store.contextlog`) for the
event's identity (its user, else its device, else its address): per minute, the host, what the
gateway did and how many requests; never a path, a query or a page. Only the Prevent lead (and
an administrator) may open it (`Can.CONTEXT`): IT staff and communications staff get 403. Each
opening is recorded in the audit trail (`view.context`), in the same transaction as the read.
"""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from monitor.console.queue import event_id_of
from monitor.console.roles import Can
from monitor.console.web import console_of, requires, signin_of
from monitor.store.contextlog import view_context

routes = web.RouteTableDef()


@routes.get("/events/{event_id}/context")
@requires(Can.CONTEXT)
async def context(request: web.Request) -> web.Response:
    """Hosts visited an hour either side of an event, by the same identity. Recorded."""
    console = console_of(request)
    event_id = event_id_of(request)
    view = await console.store.write(view_context, event_id, actor=signin_of(request).user.username)
    if view is None:
        raise web.HTTPNotFound(text="There is no such event: it may have been purged.")
    return aiohttp_jinja2.render_template(
        "context.html", request, {"title": "Sites around this event", "view": view}
    )
