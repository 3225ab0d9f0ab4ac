"""Unblock requests: the public form the block page links to, and IT staff's answers.

    GET  /request-review?url=<blocked URL>&ref=<event id>   the form (no sign-in needed)
    POST /request-review                                    url, ref, reason, name, form_token

The public form needs no session (pupils and teachers on the school network) and so is guarded
otherwise: a signed one-use form token, a per-address rate limit, length limits, and it tells the
requester nothing about the event it names. IT staff see open requests at /unblock; approving
writes an allowlist entry (or, for the Prevent lead, a time-boxed study exemption) through
`monitor.console.policyedit`; approving and denying are both recorded in the audit trail.
"""

from __future__ import annotations

import functools
import secrets
from datetime import date, datetime, timedelta
from urllib.parse import urlsplit

import aiohttp_jinja2
from aiohttp import web
from aiohttp.web_request import FileField
from multidict import MultiMapping

from monitor.console.catalogue import options
from monitor.console.policyedit import (
    AllowEntry,
    ExemptionEntry,
    PolicyEditError,
    add_allow_entry,
    add_exemption,
    exemption_id,
    site_of,
)
from monitor.console.policysave import recorded
from monitor.console.queue import EVENT_ID
from monitor.console.roles import Can, grants, sees_identities
from monitor.console.urlform import read_url
from monitor.console.web import console_of, requires, see_other, signin_of
from monitor.store import scope
from monitor.store.models import UnblockRequest
from monitor.store.unblock import add_request, decide_request, get_request, list_requests

routes = web.RouteTableDef()
REQUESTER_COOKIE = "pm_requester"  # one browser asking for reviews, not a person
ADDRESS_FACTOR = 20  # a shared address may send this many times one requester's limit
REVIEW_FORM = "request-review"
URL_MAX = 2048
NAME_MAX = 128
MAX_EXEMPTION_DAYS = 366


def _clean_url(value: str) -> str | None:
    url, problem = read_url(value, URL_MAX)
    return None if problem else url


@routes.get("/request-review")
async def request_form(request: web.Request) -> web.Response:
    url = request.query.get("url", "")[:URL_MAX]
    ref = request.query.get("ref", "")
    return _render_form(request, url, ref if EVENT_ID.match(ref) else "", "", "", [], 200)


def _render_form(
    request: web.Request,
    url: str,
    ref: str,
    reason: str,
    name: str,
    problems: list[str],
    status: int,
) -> web.Response:
    console = console_of(request)
    context = {
        "title": "Ask for a page to be unblocked",
        "form_token": console.form_tokens.issue(REVIEW_FORM),
        "url": url,
        "ref": ref,
        "reason": reason,
        "name": name,
        "problems": problems,
        "reason_max": console.settings.reason_max_chars,
    }
    response = aiohttp_jinja2.render_template(
        "request_review.html", request, context, status=status
    )
    if not request.cookies.get(REQUESTER_COOKIE):
        response.set_cookie(
            REQUESTER_COOKIE, secrets.token_urlsafe(18), httponly=True, samesite="Lax",
            secure=console.settings.cookie_secure, path="/request-review", max_age=86400 * 30,
        )  # fmt: skip
    return response


@routes.post("/request-review")
async def request_submit(request: web.Request) -> web.Response:
    console = console_of(request)
    form = await request.post()
    url_in = str(form.get("url", ""))[: URL_MAX + 1]
    ref = str(form.get("ref", ""))
    ref = ref if EVENT_ID.match(ref) else ""
    reason = str(form.get("reason", "")).strip()
    name = str(form.get("name", "")).strip()[:NAME_MAX]
    problems: list[str] = []
    if not console.form_tokens.redeem(REVIEW_FORM, str(form.get("form_token", ""))):
        problems.append("The form had expired: please send it again.")
    # Limited per requester (the browser's cookie), so one pupil cannot use up the requests of
    # everyone behind the school's shared address; the address gets a much larger cap.
    address = f"addr:{request.remote or 'unknown'}"
    requester = f"req:{request.cookies.get(REQUESTER_COOKIE, '')}"
    address_cap = console.settings.review_requests_per_hour * ADDRESS_FACTOR
    if (
        console.review_throttle.blocked(requester)
        or console.review_throttle.count(address) >= address_cap
    ):
        return _render_form(
            request, url_in, ref, reason, name,
            ["Too many requests from this computer: please try again in an hour."], 429,
        )  # fmt: skip
    url = _clean_url(url_in)
    if url is None:
        problems.append("Give the address of the blocked page (starting http:// or https://).")
    limit = console.settings.reason_max_chars
    if not reason:
        problems.append("Say why you need the page: IT staff read every request.")
    elif len(reason) > limit:
        problems.append(f"Please keep the reason under {limit} characters.")
    if problems or url is None:
        url_shown, reason_shown = url_in[:URL_MAX], reason[: limit * 2]
        return _render_form(request, url_shown, ref, reason_shown, name, problems, 400)
    console.review_throttle.hit(requester)
    console.review_throttle.hit(address)
    host = (urlsplit(url).hostname or "")[:255]
    # The public form has no account, so its scope is no school; storing the request needs
    # the event its reference names (its rule and school) whichever school that is. Nothing of
    # that event is shown to the requester.
    with scope.only_schools(None):
        await console.store.write(
            add_request, url=url, host=host, requester=name or None, reason=reason, ref=ref,
            school=console.schools.own,
        )  # fmt: skip
    return aiohttp_jinja2.render_template(
        "request_review_sent.html", request, {"title": "Request sent", "url": url}
    )


@routes.get("/unblock")
@requires(Can.UNBLOCK)
async def unblock_list(request: web.Request) -> web.Response:
    items = await console_of(request).store.read(list_requests)
    return aiohttp_jinja2.render_template(
        "unblock_list.html", request, {"title": "Unblock requests", "items": items}
    )


@routes.get("/unblock/{request_id:\\d+}")
@requires(Can.UNBLOCK)
async def unblock_page(request: web.Request) -> web.Response:
    console = console_of(request)
    signin = signin_of(request)
    item = await _request_of(request)
    opts = await options(console)
    today = datetime.now(console.zone).date()
    return aiohttp_jinja2.render_template(
        "unblock_item.html",
        request,
        {
            "title": f"Unblock request {item.id}",
            "item": item,
            "requester": item.requester or "(not given)"
            if sees_identities(signin.user.role) or not item.requester
            else "(hidden)",
            "site": site_of(item.host or "") or "",
            "categories": opts.liftable,  # illegal categories are never offered
            "groups": opts.groups,
            "today": today.isoformat(),
            "default_end": (today + timedelta(days=42)).isoformat(),
            "may_exempt": Can.EXEMPTION in grants(signin.user.role),
        },
    )


async def _request_of(request: web.Request) -> UnblockRequest:
    request_id = int(request.match_info["request_id"])
    item = await console_of(request).store.read(get_request, request_id)
    if item is None:
        raise web.HTTPNotFound(text="There is no such unblock request.")
    return item


@routes.post("/unblock/{request_id:\\d+}/approve")
@requires(Can.UNBLOCK)
async def approve(request: web.Request) -> web.Response:
    console = console_of(request)
    signin = signin_of(request)
    item = await _request_of(request)
    back = see_other(f"/unblock/{item.id}")
    if item.status != "open":
        signin.flash.append(("problem", f"This request was already {item.status}."))
        return back
    form = await request.post()
    mode = str(form.get("mode", "allow"))
    note = str(form.get("note", "")).strip()[:500]
    approver = signin.user.display_name or signin.user.username
    try:
        if mode == "exemption":
            if Can.EXEMPTION not in grants(signin.user.role):
                raise web.HTTPForbidden(text="A study exemption needs the Prevent lead's approval.")
            entry = _exemption_from(form, item, approver, note)
            opts = await options(console)
            illegal = set(entry.categories) & (set(opts.categories) - set(opts.liftable))
            if illegal:
                raise ValueError(
                    f"No exemption can lift {', '.join(sorted(illegal))}: it is marked illegal "
                    "content, which nothing unblocks."
                )
            decision = f"study exemption {entry.id} ({entry.starts} to {entry.ends})"
            work = functools.partial(add_exemption, console.policy_path, entry)
        else:
            allow = _allow_from(form, note or f"unblock request {item.id}")
            decision = f"allowlist {allow.domain or allow.url}"
            work = functools.partial(add_allow_entry, console.policy_path, allow)
        # Recorded as a policy version, as every change of the policy's files is.
        path = await recorded(
            console, actor=signin.user.username, kind="unblock", work=work,
            reason=note or f"approved unblock request {item.id}",
            summary=f"unblock request {item.id}: {decision}",
        )  # fmt: skip
    except PolicyEditError as exc:
        signin.flash.append(("problem", f"{exc}: " + "; ".join(exc.problems[:5])))
        return back
    except ValueError as exc:
        signin.flash.append(("problem", str(exc)))
        return back
    await console.store.write(
        decide_request, item.id, "approved", actor=signin.user.username,
        decision_note=decision + (f": {note}" if note else ""), to_value=decision[:128],
        note=f"written to {path}" + (f"; {note}" if note else ""),
    )  # fmt: skip
    signin.flash.append(("ok", f"Approved: {decision}, written to {path.name}."))
    return back


def _allow_from(form: MultiMapping[str | bytes | bytearray | FileField], note: str) -> AllowEntry:
    get = form.get
    what = str(get("allow_kind", "domain"))
    value = str(get("allow_value", "")).strip()[:URL_MAX]
    if what == "url":
        url = _clean_url(value)
        if url is None:
            raise ValueError("Give the page address to allow, like https://site.example/page.")
        parts = urlsplit(url)
        return AllowEntry(None, f"{parts.hostname}{parts.path or '/'}", note)
    site = site_of(value)
    if site is None:
        raise ValueError(f"{value[:100]!r} is not a site name: give one like site.example.")
    return AllowEntry(site, None, note)


def _requested_by(item: UnblockRequest) -> str:
    event = f", event {item.event_id}" if item.event_id else ""
    return f"unblock request {item.id}{event}"[:128]


def _exemption_from(
    form: MultiMapping[str | bytes | bytearray | FileField],
    item: UnblockRequest,
    approver: str,
    note: str,
) -> ExemptionEntry:
    get = form.get
    getall = form.getall
    try:
        starts = date.fromisoformat(str(get("starts", "")))
        ends = date.fromisoformat(str(get("ends", "")))
    except ValueError:
        raise ValueError("Give the exemption's first and last day as dates.") from None
    if ends < starts:
        raise ValueError("The exemption ends before it starts.")
    if (ends - starts).days > MAX_EXEMPTION_DAYS:
        raise ValueError("A study exemption lasts at most a year: give an earlier end date.")
    sites = [s for s in (site_of(str(get("sites", ""))),) if s]
    categories = [str(c) for c in getall("categories", []) if str(c)][:20]
    groups = [str(g) for g in getall("groups", []) if str(g)][:20]
    if not sites and not categories:
        raise ValueError("An exemption needs a site or a category (or both).")
    reason = str(get("reason", "")).strip()[:300] or (item.reason or "")[:300]
    return ExemptionEntry(
        id=exemption_id(item.id, starts, sites[0] if sites else categories[0]),
        reason=reason or f"unblock request {item.id}",
        # Never the name typed on the block page (it may be a pupil's, and policy files and the
        # annual review reach IT staff): the request and event references say who, to the lead.
        requested_by=_requested_by(item),
        approved_by=approver,
        groups=groups,
        categories=categories,
        sites=sites,
        starts=starts,
        ends=ends,
    )


@routes.post("/unblock/{request_id:\\d+}/deny")
@requires(Can.UNBLOCK)
async def deny(request: web.Request) -> web.Response:
    console = console_of(request)
    signin = signin_of(request)
    item = await _request_of(request)
    back = see_other(f"/unblock/{item.id}")
    form = await request.post()
    why = str(form.get("why", "")).strip()[:2000]
    if item.status != "open":
        signin.flash.append(("problem", f"This request was already {item.status}."))
        return back
    if not why:
        signin.flash.append(("problem", "Say why the request is denied: it is recorded."))
        return back
    await console.store.write(
        decide_request, item.id, "denied", actor=signin.user.username, decision_note=why,
        to_value="denied", note=why,
    )  # fmt: skip
    signin.flash.append(("ok", "Denied and recorded."))
    return back
