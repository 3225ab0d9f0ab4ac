"""IT staff edit the policy in the browser: the local block lists and study allowlists, and the
category actions of each group.

    GET  /it/lists                       the editable lists and the version in force
    GET  /it/lists/edit?file=<list>      one list: its entries, add one, tick some to remove
    POST /it/lists/save                  file, base, reason, add_*, remove_<line>=<value>
    POST /it/lists/preview               the same fields: what would this do? (impact preview)
    GET  /it/groups                      each group's action per category
    POST /it/groups/save                 group, base, reason, action_<category>=<action>
    POST /it/groups/preview

Every change needs a reason, is refused with the reason when a field or the result is not
right (`monitor.console.policychange`), is checked as `lists validate` would and written
atomically, and becomes a recorded policy version (`monitor.console.policysave`). `base` is the
version the page showed: a save on top of an older one is refused, naming who changed it when.
The gateway's hot reload puts a saved change in force within seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import aiohttp_jinja2
from aiohttp import web

from filters.lists import read_list
from filters.policyspec import ListSpec, PolicySpec
from monitor.console.entryform import FieldError, version_of_form
from monitor.console.policychange import (
    ACTIONS,
    Plan,
    group_change_from,
    list_change_from,
    plan_group_change,
    plan_list_change,
    save_fields,
)
from monitor.console.policysave import current_version, save_change
from monitor.console.policytext import PolicyEditError
from monitor.console.roles import Can
from monitor.console.web import Console, console_of, requires, see_other, signin_of
from monitor.store.policyversions import Version, VersionConflict

routes = web.RouteTableDef()
SHOWN_ENTRIES = 500
PreviewHook = Callable[[Console, dict[str, str], str, dict[str, str]], Awaitable[str]]


def preview_hook() -> PreviewHook | None:
    """The impact preview's `start_preview`, when this console has it."""
    try:
        from monitor.console import impact  # type: ignore[attr-defined, unused-ignore]
    except ImportError:
        return None
    hook: PreviewHook | None = getattr(impact, "start_preview", None)
    return hook


def conflict_message(console: Console, exc: VersionConflict) -> str:
    latest = exc.latest
    if latest is None:
        return "Not saved: the policy's history has changed: reload the page."
    when = latest.recorded_at.astimezone(console.zone).strftime("%Y-%m-%d %H:%M")
    by = latest.actor or "someone outside the console"
    return (
        f"Not saved: {by} changed the policy at {when} (version {latest.number}: "
        f"{latest.summary[:200]}) after this page was opened at version {exc.based_on}. "
        "Look at what changed, then make your change again on the page below."
    )


@routes.get("/it/lists")
@requires(Can.EDIT_LISTS)
async def lists_page(request: web.Request) -> web.Response:
    console = console_of(request)
    version, state = await current_version(console)
    counts = await asyncio.to_thread(
        lambda: {item.rel: len(read_list(item.path, "yaml").entries) for item in state.lists}
    )
    return aiohttp_jinja2.render_template(
        "lists.html", request,
        {"title": "Lists", "version": version, "state": state, "counts": counts,
         "trust": state.spec.base, "trust_lists": trust_lists(state.spec)},
    )  # fmt: skip


@routes.get("/it/lists/edit")
@requires(Can.EDIT_LISTS)
async def list_page(request: web.Request) -> web.Response:
    return await _list_form(request, dict(request.query), [], 200)


def trust_lists(spec: PolicySpec) -> list[ListSpec]:
    """The lists the school's policy inherits from the trust's (`extends:`): shown, not edited
    here, since the trust's safeguarding lead answers for them in every school."""
    return list(spec.base.lists) if spec.base is not None else []


async def _list_form(
    request: web.Request, form: dict[str, str], problems: list[str], status: int
) -> web.Response:
    console = console_of(request)
    version, state = await current_version(console)
    rel = form.get("file", "")
    item = state.editable(rel)
    if item is None:
        raise web.HTTPNotFound(text="That list cannot be edited here: choose one from Lists.")
    listed = await asyncio.to_thread(read_list, item.path, "yaml", display=rel)
    query = form.get("q", "").strip().lower()[:200]
    entries = [e for e in listed.entries if not query or query in e.value]
    context = {
        "title": f"Edit {rel}", "item": item, "version": version, "form": form,
        "entries": entries[:SHOWN_ENTRIES], "hidden": max(0, len(entries) - SHOWN_ENTRIES),
        "q": query, "problems": problems, "list_problems": [str(p) for p in listed.problems],
        "categories": sorted(state.spec.categories), "can_preview": preview_hook() is not None,
    }  # fmt: skip
    return aiohttp_jinja2.render_template("list_edit.html", request, context, status=status)


@routes.post("/it/lists/save")
@requires(Can.EDIT_LISTS)
async def list_save(request: web.Request) -> web.Response:
    return await _save(request, "list")


@routes.post("/it/lists/preview")
@requires(Can.EDIT_LISTS)
async def list_preview(request: web.Request) -> web.Response:
    return await _preview(request, "list")


@routes.get("/it/groups")
@requires(Can.EDIT_LISTS)
async def groups_page(request: web.Request) -> web.Response:
    return await _groups_form(request, {}, [], 200)


async def _groups_form(
    request: web.Request, form: dict[str, str], problems: list[str], status: int
) -> web.Response:
    version, state = await current_version(console_of(request))
    spec = state.spec
    groups = [
        {
            "name": name,
            "actions": {c: a.value for c, a in group.actions.items()},
            "open": form.get("group") == name,
        }
        for name, group in sorted(spec.groups.items())
    ]
    context = {
        "title": "Category actions per group", "version": version, "groups": groups,
        "categories": [spec.categories[n] for n in sorted(spec.categories)],
        "actions": ACTIONS, "form": form, "problems": problems,
        "can_preview": preview_hook() is not None, "default_group": spec.default_group,
    }  # fmt: skip
    return aiohttp_jinja2.render_template("groups_edit.html", request, context, status=status)


@routes.post("/it/groups/save")
@requires(Can.EDIT_LISTS)
async def groups_save(request: web.Request) -> web.Response:
    return await _save(request, "group")


@routes.post("/it/groups/preview")
@requires(Can.EDIT_LISTS)
async def groups_preview(request: web.Request) -> web.Response:
    return await _preview(request, "group")


async def _plan(console: Console, what: str, form: dict[str, str]) -> tuple[Any, Plan, Version]:
    """The change the form asks for, planned on the files as they are now. A form from an
    older version is refused first: its fields were chosen looking at another policy."""
    base = version_of_form(form.get("base", "")[:20])
    version, state = await current_version(console)
    if version.number != base:
        raise VersionConflict(version, base)
    if what == "list":
        listed = list_change_from(form)
        return listed, await asyncio.to_thread(plan_list_change, state, listed), version
    grouped = group_change_from(form)
    return grouped, await asyncio.to_thread(plan_group_change, state, grouped), version


async def _save(request: web.Request, what: str) -> web.Response:
    console = console_of(request)
    signin = signin_of(request)
    form = save_fields(await request.post())
    try:
        change, plan, _ = await _plan(console, what, form)
        saved = await save_change(
            console, actor=signin.user.username, reason=change.reason, base=change.base,
            proposed=plan.proposed, summary=plan.summary,
        )  # fmt: skip
    except (FieldError, PolicyEditError, VersionConflict) as exc:
        return await _refused(request, what, form, exc)
    signin.flash.append(
        ("ok", f"Saved as version {saved.number}: {plan.summary}. The gateway puts it in force "
               "within seconds.")
    )  # fmt: skip
    if what == "list":
        return see_other(f"/it/lists/edit?file={quote(form['file'], safe='/')}")
    return see_other("/it/groups")


async def _preview(request: web.Request, what: str) -> web.Response:
    console = console_of(request)
    form = save_fields(await request.post())
    hook = preview_hook()
    if hook is None:
        raise web.HTTPNotFound(text="This console has no impact preview.")
    try:
        _, plan, _ = await _plan(console, what, form)
    except (FieldError, PolicyEditError, VersionConflict) as exc:
        return await _refused(request, what, form, exc)
    base = console.policy_path.parent.resolve()
    proposed = {str(p.resolve().relative_to(base).as_posix()): t for p, t in plan.proposed.items()}
    save_url = "/it/lists/save" if what == "list" else "/it/groups/save"
    try:
        job = await hook(console, proposed, save_url, form)
    except ValueError as exc:  # PreviewRefused: a form too big to carry, a path outside
        return await _refused(request, what, form, exc)
    return see_other(f"/it/impact/{job}")


async def _refused(
    request: web.Request, what: str, form: dict[str, str], exc: Exception
) -> web.Response:
    console = console_of(request)
    status = 400
    if isinstance(exc, VersionConflict):
        problems, status = [conflict_message(console, exc)], 409
        form = {k: v for k, v in form.items() if not k.startswith("remove_")}
        form["base"] = str(exc.latest.number) if exc.latest else ""
    elif isinstance(exc, PolicyEditError) and exc.problems:
        problems = [f"Not saved: {exc}.", *exc.problems[:20]]
    else:
        problems = [f"Not saved: {exc}"]
    if what == "list":
        return await _list_form(request, form, problems, status)
    return await _groups_form(request, form, problems, status)
