"""Signing in and out: GET/POST /login (rate-limited, CSRF-protected), POST /logout."""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from monitor.console.roles import home_for
from monitor.console.sessions import COOKIE
from monitor.console.web import SIGNIN, console_of, see_other, signin_of
from monitor.store.accounts import AccountError, authenticate, change_password

routes = web.RouteTableDef()
LOGIN_FORM = "login"


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
    token = console_of(request).form_tokens.issue(LOGIN_FORM)
    context = {"title": "Sign in", "form_token": token, "username": username, "problem": problem}
    return aiohttp_jinja2.render_template("login.html", request, context, status=status)


@routes.post("/login")
async def login(request: web.Request) -> web.Response:
    console = console_of(request)
    form = await request.post()
    username = str(form.get("username", ""))[:128].strip().lower()
    password = str(form.get("password", ""))
    if not console.form_tokens.redeem(LOGIN_FORM, str(form.get("form_token", ""))):
        return _login_form(request, username, "The form had expired: please try again.", 400)
    address = request.remote or "unknown"
    keys = (f"user:{username}", f"addr:{address}")
    if any(console.login_throttle.blocked(k) for k in keys):
        minutes = round(console.settings.login_window_minutes)
        return _login_form(
            request, username, f"Too many failed sign-ins: wait {minutes} minutes.", 429
        )
    user = await console.store.write(authenticate, username, password)
    if user is None:
        for key in keys:
            console.login_throttle.hit(key)
        return _login_form(request, username, "That user name and password do not match.", 401)
    console.login_throttle.clear(f"user:{username}")
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
    if new != str(form.get("again", "")):
        problem = "The two new passwords are not the same."
    else:
        try:
            await console.store.write(change_password, signin.user.user_id, current, new)
        except AccountError as exc:
            problem = str(exc).capitalize() + "."
        else:
            signin.password_change_due = False
            # Whoever else held this account's password (a session left open elsewhere, or
            # the one-time password's reader) is signed out.
            console.sessions.end_user(signin.user.user_id, keep=signin)
            signin.flash.append(("ok", "Your password is changed."))
            return see_other(home_for(signin.user.role))
    return aiohttp_jinja2.render_template(
        "password.html", request, {"title": "Change your password", "problem": problem}, status=400
    )
