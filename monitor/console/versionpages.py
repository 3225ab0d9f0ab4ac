"""The policy's history: every recorded version with its diff, and rolling back to one.

    GET  /it/policy/versions                     newest first: who, when, why, what, files
    GET  /it/policy/versions/{number}            one version: its diff and the files it kept
    POST /it/policy/versions/{number}/rollback   base, reason: restore that version's files

Opening either page first records the files as a new version if they were changed outside
the console (`policysave.current_version`). A rollback is itself a recorded version, needs a
reason, and is refused like any change when the page was out of date. The Prevent lead sees
the history too (`Can.POLICY_HISTORY`); only IT staff and administrators roll back.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp_jinja2
from aiohttp import web

from monitor.console.entryform import FieldError, reason_of, version_of_form
from monitor.console.listedit import conflict_message
from monitor.console.policysave import current_version, roll_back
from monitor.console.policytext import PolicyEditError
from monitor.console.roles import Can, grants
from monitor.console.web import console_of, requires, see_other, signin_of
from monitor.store.policyversions import (
    KIND_NAMES,
    Version,
    VersionConflict,
    get_version,
    list_versions,
)

routes = web.RouteTableDef()
PAGE = 100


@dataclass(frozen=True, slots=True)
class DiffLine:
    kind: str  # file | hunk | add | del | note | same
    text: str


def diff_lines(diff: str) -> list[DiffLine]:
    lines = []
    for line in diff.splitlines():
        if line.startswith(("--- ", "+++ ")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        elif line.startswith("#"):
            kind = "note"
        else:
            kind = "same"
        lines.append(DiffLine(kind, line))
    return lines


@routes.get("/it/policy/versions")
@requires(Can.POLICY_HISTORY)
async def versions_page(request: web.Request) -> web.Response:
    console = console_of(request)
    latest, _ = await current_version(console)
    before = request.query.get("before", "")
    older = int(before) if before.isdigit() and len(before) < 10 else None
    versions = await console.store.read(
        list_versions, console.schools.own, limit=PAGE, before=older
    )
    more = len(versions) == PAGE and versions[-1].number > 1
    return aiohttp_jinja2.render_template(
        "versions.html", request,
        {"title": "Policy history", "versions": versions, "latest": latest, "kinds": KIND_NAMES,
         "older": versions[-1].number if more else None},
    )  # fmt: skip


@routes.get(r"/it/policy/versions/{number:\d{1,9}}")
@requires(Can.POLICY_HISTORY)
async def version_page(request: web.Request) -> web.Response:
    return await _version_page(request, [], 200)


async def _version_page(request: web.Request, problems: list[str], status: int) -> web.Response:
    console = console_of(request)
    signin = signin_of(request)
    latest, _ = await current_version(console)
    version = await _version_of(request)
    return aiohttp_jinja2.render_template(
        "version.html", request,
        {"title": f"Policy version {version.number}", "version": version, "latest": latest,
         "diff": diff_lines(version.diff), "kinds": KIND_NAMES, "problems": problems,
         "may_roll_back": Can.EDIT_LISTS in grants(signin.user.role)
         and version.number != latest.number},
        status=status,
    )  # fmt: skip


async def _version_of(request: web.Request) -> Version:
    console = console_of(request)
    number = int(request.match_info["number"])
    version = await console.store.read(get_version, console.schools.own, number)
    if version is None:
        raise web.HTTPNotFound(text="There is no such policy version.")
    return version


@routes.post(r"/it/policy/versions/{number:\d{1,9}}/rollback")
@requires(Can.EDIT_LISTS)
async def rollback(request: web.Request) -> web.Response:
    console = console_of(request)
    signin = signin_of(request)
    target = await _version_of(request)
    form = await request.post()
    try:
        base = version_of_form(str(form.get("base", ""))[:20])
        reason = reason_of(str(form.get("reason", ""))[:4096])
        saved, left = await roll_back(
            console, actor=signin.user.username, reason=reason, base=base,
            number=target.number,
        )  # fmt: skip
    except VersionConflict as exc:
        return await _version_page(request, [conflict_message(console, exc)], 409)
    except PolicyEditError as exc:
        return await _version_page(request, [f"Not rolled back: {exc}", *exc.problems[:20]], 400)
    except FieldError as exc:
        return await _version_page(request, [f"Not rolled back: {exc}"], 400)
    message = f"Rolled back to version {target.number} as version {saved.number}."
    if left:
        message += " Not restored (their text is not kept): " + ", ".join(left[:10]) + "."
    signin.flash.append(("ok", message))
    return see_other(f"/it/policy/versions/{saved.number}")
