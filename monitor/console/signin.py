"""Signing in and out: GET/POST /login (throttled per account and address, the form bound to
the browser), POST /logout, and changing one's password (throttled too)."""

from __future__ import annotations

import hashlib
import secrets
from functools import partial
from math import ceil

import aiohttp_jinja2
from aiohttp import web

from monitor.console.roles import Can, home_for
from monitor.console.sessions import COOKIE
from monitor.console.throttle import sign_in_key
from monitor.console.web import SIGNIN, console_of, requires, see_other, signin_of
from monitor.store.accounts import AccountError, authenticate, change_password
from monitor.store.review import record

routes = web.RouteTableDef()
LOGIN_FORM = "login"
PRESESSION_COOKIE = "pm_login"  # names the browser that was shown the sign-in form


@routes.get("/")
async def root(request: web.Request) -> web.Response:
    raise web.HTTPSeeOther(home_for(signin_of(request).user.role))


@routes.get("/login")
async def login_page(request: web.Request) -> web.Response:
    if request.get(SIGNIN) is not None:
        raise web.HTTPSeeOther(home_for(request[SIGNIN].user.role))
    return _login_form(request, "", "")


def _login_form(
    request: web.Request, username: str, problem: str, status: int = 200
) -> web.Response:
    """The sign-in form. Its token is bound to a pre-session cookie, so a form posted from
    another site (login CSRF: signing a victim in as the attacker) is refused."""
    console = console_of(request)
    browser = request.cookies.get(PRESESSION_COOKIE) or secrets.token_urlsafe(24)
    token = console.form_tokens.issue(_login_purpose(browser))
    context = {"title": "Sign in", "form_token": token, "username": username, "problem": problem}
    response = aiohttp_jinja2.render_template("login.html", request, context, status=status)
    response.set_cookie(
        PRESESSION_COOKIE, browser, httponly=True, secure=console.settings.cookie_secure,
        samesite="Strict", path="/login",
    )  # fmt: skip
    return response


def _login_purpose(browser: str) -> str:
    return f"{LOGIN_FORM}|{hashlib.sha256(browser.encode()).hexdigest()[:32]}"


@routes.post("/login")
async def login(request: web.Request) -> web.Response:
    console = console_of(request)
    form = await request.post()
    username = str(form.get("username", ""))[:128].strip().lower()
    password = str(form.get("password", ""))
    browser = request.cookies.get(PRESESSION_COOKIE, "")
    token = str(form.get("form_token", ""))
    if not browser or not console.form_tokens.redeem(_login_purpose(browser), token):
        return _login_form(request, username, "The form had expired: please try again.", 400)
    key = sign_in_key(username, request.remote or "unknown")
    wait = console.login_throttle.wait(key)
    if wait > 0:
        return _login_form(
            request, username, f"Too many failed sign-ins: wait {ceil(wait)} seconds.", 429
        )
    user = await console.store.write(authenticate, username, password)
    if user is None:
        console.login_throttle.fail(key)
        return _login_form(request, username, "That user name and password do not match.", 401)
    console.login_throttle.succeed(key)
    old = request.get(SIGNIN)
    if old is not None:
        console.sessions.end(old)
    _session, cookie = console.sessions.create(user)
    response = see_other(home_for(user.role))
    response.set_cookie(
        COOKIE,
        cookie,
        httponly=True,
        secure=console.settings.cookie_secure,
        samesite="Strict",
        path="/",
        max_age=int(console.settings.session_hours * 3600),
    )
    return response


@routes.post("/logout")
async def logout(request: web.Request) -> web.Response:
    console = console_of(request)
    console.sessions.end(signin_of(request))
    response = see_other("/login")
    response.del_cookie(COOKIE, path="/")
    return response


@routes.get("/account/password")
async def password_page(request: web.Request) -> web.Response:
    signin = signin_of(request)
    problem = ""
    if signin.password_change_due:
        problem = "You signed in with a one-time password: choose your own to go on."
    return aiohttp_jinja2.render_template(
        "password.html", request, {"title": "Change your password", "problem": problem}
    )


@routes.post("/account/password")
async def password_change(request: web.Request) -> web.Response:
    console = console_of(request)
    signin = signin_of(request)
    form = await request.post()
    current = str(form.get("current", ""))
    new = str(form.get("new", ""))
    # Wrong current passwords are throttled too: a session left open must not be a way to
    # guess the password at full speed.
    key = sign_in_key(f"password-change:{signin.user.user_id}", "-")
    wait = console.login_throttle.wait(key)
    if wait > 0:
        problem = f"Too many wrong passwords: wait {ceil(wait)} seconds and try again."
    elif new != str(form.get("again", "")):
        problem = "The two new passwords are not the same."
    else:
        try:
            await console.store.write(change_password, signin.user.user_id, current, new)
        except AccountError as exc:
            problem = str(exc).capitalize() + "."
            if "current password" in problem:
                console.login_throttle.fail(key)
        else:
            console.login_throttle.succeed(key)
            signin.password_change_due = False
            # Whoever else held this account's password (a session left open elsewhere, or
            # the one-time password's reader) is signed out.
            console.sessions.end_user(signin.user.user_id, keep=signin)
            signin.flash.append(("ok", "Your password is changed."))
            return see_other(home_for(signin.user.role))
    return aiohttp_jinja2.render_template(
        "password.html", request, {"title": "Change your password", "problem": problem}, status=400
    )


@routes.post("/accounts/unlock")
@requires(Can.ACCOUNTS)
async def unlock(request: web.Request) -> web.Response:
    """Lift the sign-in delay on an account at once (someone guessing behind the school's
    shared address must not keep a colleague out), recorded in the audit trail."""
    console = console_of(request)
    signin = signin_of(request)
    form = await request.post()
    username = str(form.get("username", ""))[:128].strip().lower()
    if not username:
        raise web.HTTPBadRequest(text="Name the account to unlock.")
    lifted = console.login_throttle.unlock(username)
    await console.store.write(
        partial(record, actor=signin.user.username, action="user.unlock",
                subject=f"user:{username}", note=f"{lifted} sign-in delay(s) lifted")
    )  # fmt: skip
    signin.flash.append(("ok", f"Sign-in delays on {username} lifted ({lifted})."))
    return see_other("/dashboard")
