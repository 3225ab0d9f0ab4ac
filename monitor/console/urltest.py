"""The URL tester (`/it/test-url`): what the live policy does with a URL, for IT staff and the
Prevent lead, in the words `prevent-monitor check` uses.

    GET  /it/test-url                       the form
    POST /it/test-url   url, group, user    the answer (csrf_token)

The answer is `filters.explain.explain()`: the same decision and check line as the command,
with the precedence step, the study exemption that lifted it, the schedules in force and the
unwrapped targets. It runs on the policy on disk as the gateway keeps it
(`monitor.console.livepolicy`). The form is a POST so that the user name, which names a pupil,
never reaches an address bar, a browser's history or a proxy's access log; it is used for one
decision and is neither logged nor stored. The URL is shown as text and never fetched. An
exemption's named pupils are shown to those who may see identities; IT staff see how many.
"""

from __future__ import annotations

import asyncio
import json
import shlex
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from filters.explain import Explanation, explain
from monitor.console.catalogue import options
from monitor.console.livepolicy import InForce, console_policy
from monitor.console.partstatus import versions_in_force
from monitor.console.roles import Can, sees_identities
from monitor.console.urlform import has_control, read_name, read_url
from monitor.console.web import console_of, requires, signin_of

routes = web.RouteTableDef()
URL_MAX = 8192  # longer than any address a browser sends in practice, short enough to explain
NAME_MAX = 256
GROUP_MAX = 128
PUPILS_SHOWN = 20


@dataclass
class Asked:
    """The form as read: what to test, and what was wrong with it."""

    url: str = ""
    group: str = ""
    user: str = ""
    problems: list[str] = field(default_factory=list)
    shown: dict[str, str] = field(default_factory=dict)  # what to put back in the form


@dataclass
class Answer:
    """What the page shows for one test."""

    explanation: Explanation | None = None
    version: str = ""
    groups: tuple[str, ...] = ()
    found_group_by: str = ""
    category_words: str = ""
    policy_problems: tuple[str, ...] = ()
    loaded: bool = True
    command: str = ""
    check_line: str = ""
    gateway_versions: tuple[str, ...] = ()  # what the gateways' status files say is in force


@routes.get("/it/test-url")
@requires(Can.TEST_URL)
async def test_url_form(request: web.Request) -> web.Response:
    groups = (await options(console_of(request))).groups
    return _render(request, Asked(), Answer(groups=groups), 200)


@routes.post("/it/test-url")
@requires(Can.TEST_URL)
async def test_url(request: web.Request) -> web.Response:
    form = await request.post()
    asked = _read_form({k: v for k, v in form.items() if isinstance(v, str)})
    console = console_of(request)
    answer = await console_policy(console).use(lambda in_force: _decide(in_force, asked))
    if answer.explanation is not None:
        now = datetime.now(UTC)
        answer.gateway_versions = await asyncio.to_thread(
            versions_in_force, console.status_file, now
        )
    return _render(request, asked, answer, 400 if asked.problems else 200)


def _read_form(form: dict[str, str]) -> Asked:
    asked = Asked()
    raw_url, raw_group, raw_user = (form.get(k, "") for k in ("url", "group", "user"))
    asked.url, problem = read_url(raw_url, URL_MAX)
    if problem:
        asked.problems.append(problem)
    asked.user, problem = read_name(raw_user, NAME_MAX)
    if problem:
        asked.problems.append(f"User name: {problem}")
    asked.group = raw_group.strip()
    if len(asked.group) > GROUP_MAX or has_control(asked.group):
        asked.group = ""
        asked.problems.append("There is no such group in the policy: choose one from the list.")
    # Put back only what can be shown as it was typed: never a 100 KB paste or a NUL.
    asked.shown = {
        key: value.strip()
        for key, value in (("url", raw_url), ("user", raw_user), ("group", asked.group))
        if len(value) <= URL_MAX and not has_control(value.strip())
    }
    return asked


def _decide(in_force: InForce, asked: Asked) -> Answer:
    """In the worker thread: check the group against the policy, then decide and explain."""
    policy = in_force.policy
    if policy is None:
        return Answer(policy_problems=in_force.problems, loaded=False)
    answer = Answer(
        version=policy.version,
        groups=tuple(sorted(policy.groups)),
        policy_problems=in_force.problems,
    )
    if asked.group and asked.group not in policy.groups:
        asked.problems.append(
            f'There is no group "{asked.group[:40]}" in the policy: choose one from the list.'
        )
    if asked.problems:
        return answer
    result = explain(policy, asked.url, user=asked.user or None, group=asked.group or None)
    answer.explanation = result
    answer.found_group_by = _found_by(asked, policy.spec.default_group, result)
    category = policy.categories.get(result.decision.category or "")
    answer.category_words = category.description if category and category.description else ""
    group = f" --group {shlex.quote(asked.group)}" if asked.group else ""
    answer.command = f"prevent-monitor check{group} {shlex.quote(asked.url)}"
    answer.check_line = json.dumps(result.answer, ensure_ascii=False)
    return answer


def _found_by(asked: Asked, default_group: str, result: Explanation) -> str:
    if asked.group:
        return "chosen above"
    if result.decision.group != default_group:
        return "the group the user name belongs to"
    return "the default group" + ("; the user name is in no group" if asked.user else "")


def _exemption_view(result: Explanation | None, identities: bool, user: str) -> dict[str, Any]:
    """The exemption that lifted the hit, with its pupils shown only to those who may see
    names (IT staff: how many)."""
    exemption = result.exemption if result else None
    if exemption is None:
        return {}
    pupils = sorted(exemption.pupils)
    return {
        "item": exemption,
        "first_day": exemption.starts.date().isoformat(),
        # `ends` is the first moment after it: a date in the file means the whole day.
        "last_day": (exemption.ends - timedelta(microseconds=1)).date().isoformat(),
        "pupil_count": len(pupils),
        "pupils": pupils[:PUPILS_SHOWN] if identities else [],
        "more_pupils": max(0, len(pupils) - PUPILS_SHOWN) if identities else 0,
        "names_user": bool(user) and user.lower() in exemption.pupils,
        "by_group": result.decision.group in exemption.groups if result else False,
    }


def _render(request: web.Request, asked: Asked, answer: Answer, status: int) -> web.Response:
    identities = sees_identities(signin_of(request).user.role)
    context = {
        "title": "Test a URL",
        "asked": asked,
        "answer": answer,
        "result": answer.explanation,
        "exemption": _exemption_view(answer.explanation, identities, asked.user),
        "url_max": URL_MAX,
        "name_max": NAME_MAX,
    }
    return aiohttp_jinja2.render_template("url_test.html", request, context, status=status)
