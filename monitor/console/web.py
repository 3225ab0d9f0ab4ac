"""What every console page shares: `Console` (settings, the store, sessions, keys), the request
helpers (`console_of`, `signin_of`, `requires`, `see_other`) and the middlewares (sign-in and
CSRF, security headers, error pages).

Pages import from here; `monitor.console.app` imports the pages and assembles the application,
so no page ever imports the assembler.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web

from monitor.console.roles import ROLE_NAMES, Can, Pseudonyms, grants
from monitor.console.sessions import (
    ACTIVE_RECHECK_SECONDS,
    COOKIE,
    FormTokens,
    SessionStore,
    Throttle,
)
from monitor.console.sessions import Session as Signin
from monitor.console.settings import ConsoleSettings
from monitor.console.throttle import Backoff
from monitor.schools import DEFAULT_SCHOOL_ID, Schools
from monitor.store import scope
from monitor.store.accounts import still_active
from monitor.store.runner import Store

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# No inline script or style anywhere: every page works without JavaScript.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
PUBLIC_PREFIXES = ("/static/",)
PUBLIC_PATHS = frozenset({"/login", "/request-review", "/healthz"})
# All a session signed in with a one-time password may do until it sets its own.
CHANGE_PATHS = frozenset({"/account/password", "/logout"})


@dataclass
class Console:
    """What every handler needs, kept on the app as `app[CONSOLE]`."""

    settings: ConsoleSettings
    store: Store  # every database call: `await console.store.read(fn, ...)` or `.write(...)`
    key: bytes
    policy_path: Path
    data_dir: Path
    sessions: SessionStore
    form_tokens: FormTokens
    pseudonyms: Pseudonyms
    login_throttle: Backoff  # per (account, address): a delay, never a lockout
    review_throttle: Throttle
    zone: ZoneInfo
    schools: Schools = field(default_factory=lambda: Schools({DEFAULT_SCHOOL_ID: "Our School"}))
    cache: dict[str, tuple[float, Any]] = field(default_factory=dict)
    # One change to the policy's files at a time (read, check the version, write, record).
    policy_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def status_file(self) -> Path:
        configured = self.settings.gateway_status_file
        return Path(configured) if configured else self.data_dir / "gateway-status.json"


CONSOLE = web.AppKey("console", Console)
SIGNIN = "signin"  # request key of the signed-in Session


def console_of(request: web.Request) -> Console:
    return request.app[CONSOLE]


def signin_of(request: web.Request) -> Signin:
    signin = request.get(SIGNIN)
    if signin is None:  # only public routes run without one, and they never call this
        raise web.HTTPFound("/login")
    return signin


def see_other(location: str) -> web.Response:
    """A 303 redirect as a response (so cookies set on it are kept)."""
    return web.Response(status=303, headers={"Location": location})


def requires(*needed: Can) -> Callable[[Handler], Handler]:
    """The handler runs only for a user whose role grants every one of `needed`."""

    def wrap(handler: Handler) -> Handler:
        async def checked(request: web.Request) -> web.StreamResponse:
            signin = signin_of(request)
            if not set(needed) <= grants(signin.user.role):
                raise web.HTTPForbidden(text="Your role does not allow this page.")
            return await handler(request)

        checked.__name__ = handler.__name__
        checked.__doc__ = handler.__doc__
        return checked

    return wrap


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every answer, error pages and redirects included, carries the security headers."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = _as_response(request, exc)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if not request.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _as_response(request: web.Request, exc: web.HTTPException) -> web.Response:
    headers = {k: v for k, v in exc.headers.items() if k.lower() in ("location", "allow")}
    if exc.status < 400 or request.path.startswith("/static/"):
        return web.Response(status=exc.status, headers=headers, text=exc.text)
    context = {"status": exc.status, "message": exc.text or exc.reason, "title": exc.reason}
    context.update(_base_context(request))
    context["Can"] = Can
    html = aiohttp_jinja2.render_string("error.html", request, context)
    return web.Response(status=exc.status, headers=headers, text=html, content_type="text/html")


@web.middleware
async def require_signin(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every route but sign-in, static files and the public unblock form needs a session; every
    POST from a session must carry its CSRF token."""
    console = console_of(request)
    signin = console.sessions.lookup(request.cookies.get(COOKIE))
    if signin is not None and not await _still_active(console, signin):
        signin = None
    if signin is not None:
        request[SIGNIN] = signin
    public = request.path in PUBLIC_PATHS or request.path.startswith(PUBLIC_PREFIXES)
    if signin is None and not public:
        if request.method == "GET":
            raise web.HTTPSeeOther("/login")
        raise web.HTTPForbidden(text="Your session has ended: sign in again.")
    if signin is not None and request.method == "POST" and request.path not in PUBLIC_PATHS:
        form = await request.post()
        token = form.get("csrf_token")
        if not isinstance(token, str) or not _same(token, signin.csrf):
            raise web.HTTPForbidden(
                text="This form has expired or did not come from the console: reload the page "
                "and try again."
            )
    if signin is not None and signin.password_change_due and request.path not in CHANGE_PATHS:
        if request.method == "GET" and not request.path.startswith(PUBLIC_PREFIXES):
            raise web.HTTPSeeOther("/account/password")
        if not request.path.startswith(PUBLIC_PREFIXES):
            raise web.HTTPForbidden(text="Set a new password first (Account, Change password).")
    return await _within_schools(request, handler, signin)


async def _within_schools(
    request: web.Request, handler: Handler, signin: Signin | None
) -> web.StreamResponse:
    """Run the handler with the account's schools as the store's scope (`monitor.store.scope`):
    every read and write it makes sees those schools' rows only. Without a session (the public
    pages) the scope is no school at all; a page that needs more widens it itself, visibly."""
    schools = signin.user.schools if signin is not None else frozenset()
    exempt = request.path in CHANGE_PATHS or request.path.startswith(PUBLIC_PREFIXES)
    if signin is not None and schools == frozenset() and not exempt:
        raise web.HTTPForbidden(
            text="Your account has not been given a school yet, so there is nothing to "
            "show. Ask the trust's administrator to run: prevent-monitor users schools "
            f"{signin.user.username} SCHOOL_ID"
        )
    token = scope.enter(schools)
    try:
        return await handler(request)
    finally:
        scope.leave(token)


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


async def _still_active(console: Console, signin: Signin) -> bool:
    """An account disabled from the command line loses its sessions within half a minute."""
    now = time.monotonic()
    if now - signin.checked < ACTIVE_RECHECK_SECONDS:
        return True
    current = await console.store.read(still_active, signin.user.user_id)
    if current != (signin.user.role, signin.user.schools):  # disabled, or role or schools changed
        console.sessions.end(signin)
        return False
    signin.checked = now
    return True


def _base_context(request: web.Request) -> dict[str, Any]:
    signin = request.get(SIGNIN)
    if signin is None:
        return {
            "user": None, "can": frozenset(), "csrf": "", "role_name": "", "flash": [],
            "school_names": "",
        }  # fmt: skip
    flash, signin.flash = signin.flash, []
    return {
        "flash": flash,
        "user": signin.user,
        "can": grants(signin.user.role),
        "csrf": signin.csrf,
        "role_name": ROLE_NAMES.get(signin.user.role, signin.user.role),
        "school_names": _school_names(request, signin.user.schools),
        # The Schools page, the school column and the school filter are for an account that
        # sees more than one school: a single school's lead sees only their own.
        "many_schools": _sees_many(request, signin.user.schools),
    }


def _sees_many(request: web.Request, schools: frozenset[str] | None) -> bool:
    known = console_of(request).schools
    return known.many and (schools is None or len(schools) > 1)


def _school_names(request: web.Request, schools: frozenset[str] | None) -> str:
    """Whose pupils this account sees, for the page header."""
    known = console_of(request).schools
    if schools is None:
        return "All schools" if known.many else known.name_of(known.own)
    return ", ".join(sorted(known.name_of(school) for school in schools))


async def base_context(request: web.Request) -> dict[str, Any]:
    context = _base_context(request)
    context["Can"] = Can
    context["title"] = "Review console"  # each page sets its own
    return context
