"""What `prevent-monitor check` says about a URL, and the words a person testing it needs.

`answer()` is the check line: the decision's JSON with the URL as given and as normalised.
`explain()` decides a URL the way `check` does and adds what the console's URL tester shows
beside that line: the precedence step in words, the study exemption that lifted the hit, the
schedules in force that set the action, and the targets unwrapped from the URL. Both read
only what `Policy.decide()` recorded in the `Decision`, so the tester and `check` can never
tell two stories about one URL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from filters.compiled import nested_targets
from filters.decision import Decision, Step
from filters.policy import Policy
from filters.policyspec import Schedule, StudyExemption
from filters.urls import normalise_url

STEP_WORDS = {
    Step.ILLEGAL: "an illegal-content category: blocked for everyone, and no allowlist entry, "
    "exemption or group setting can lift it",
    Step.ALLOWLIST: "lifted to study by the legitimate-study allowlist: allowed, and recorded",
    Step.EXEMPTION: "lifted to study by a study exemption: allowed, and recorded",
    Step.SCHEDULE: "a schedule in force sets this group's action for the category",
    Step.GROUP: "the group's action for the category (the category's own when the group "
    "sets none)",
    Step.NONE: "nothing listed matched, or every match is allowed for this group",
}


@dataclass(frozen=True, slots=True)
class Explanation:
    """One URL's decision, with the words around it."""

    answer: dict[str, Any]  # the `check` line
    decision: Decision
    step_words: str
    exemption: StudyExemption | None  # the exemption that lifted the hit, if one did
    schedules: tuple[Schedule, ...]  # the schedules in force that set the action (step 3)
    targets: tuple[str, ...]  # the targets unwrapped from the URL, outermost first


def answer(decision: Decision, url: str) -> dict[str, Any]:
    """The `check` line for `url` (as given): the decision, and the URL as normalised."""
    data = decision.as_json()
    data["url"] = url
    data["normalised"] = decision.url
    return data


def explain(
    policy: Policy,
    url: str,
    *,
    user: str | None = None,
    group: str | None = None,
    directory_groups: Sequence[str] = (),
    client_ip: str | None = None,
    when: datetime | None = None,
) -> Explanation:
    """Decide `url` as `check` does and explain it. Never raises for any URL text."""
    moment = when or datetime.now(UTC)
    decision = policy.decide(
        url,
        user=user,
        group=group,
        directory_groups=directory_groups,
        client_ip=client_ip,
        when=moment,
    )
    exemption = None
    if decision.exemption is not None:
        exemption = next((e for e in policy.spec.exemptions if e.id == decision.exemption), None)
    schedules: tuple[Schedule, ...] = ()
    if decision.step is Step.SCHEDULE and decision.category:
        schedules = _schedules_in_force(policy, decision.category, decision.group, moment)
    targets = tuple(inner.url() for inner in nested_targets(normalise_url(url)))
    return Explanation(
        answer=answer(decision, url),
        decision=decision,
        step_words=STEP_WORDS[decision.step],
        exemption=exemption,
        schedules=schedules,
        targets=targets,
    )


def _schedules_in_force(
    policy: Policy, category: str, group: str | None, when: datetime
) -> tuple[Schedule, ...]:
    local = when.astimezone(policy.spec.timezone)
    return tuple(
        schedule
        for schedule in policy.spec.schedules
        if category in schedule.actions
        and (not schedule.groups or group in schedule.groups)
        and schedule.active(local)
    )
