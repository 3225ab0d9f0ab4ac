"""A page's score as a decision for one reader: their group's thresholds, and any allowlist entry
or exemption that lifts the page to study. `Policy.page_decision` calls it; the score itself is
the page's alone (`Policy.page_score`), so the gateway keeps scores and decides per reader."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from filters.compiled import Hit
from filters.decision import Action, Decision, Kind, Lift, Severity, Step
from filters.urls import normalise_url

if TYPE_CHECKING:
    from filters.policy import Policy
    from filters.weighted import PageScore


def decide_page(
    policy: Policy,
    page_score: PageScore,
    *,
    url: str,
    group: str | None = None,
    when: datetime | None = None,
    user: str | None = None,
) -> Decision:
    """What a page's score means for this reader: their group's thresholds, and any
    allowlist or exemption that lifts the page to study."""
    normalised = normalise_url(url)
    group_name = group if group in policy.groups else policy.spec.default_group
    group_spec = policy.groups[group_name]
    flag_at = group_spec.page_flag or policy.spec.page_flag
    block_at = group_spec.page_block or policy.spec.page_block
    if page_score.score < flag_at or not page_score.hits:
        return policy._allow(normalised, group_name, None)
    top = page_score.hits[0][0]
    action = Action.BLOCK if page_score.score >= block_at else Action.FLAG
    hit = Hit(
        category=top.category,
        rule=top.rule,
        source=top.source,
        kind=Kind.PAGE,
        url=normalised,
        phrase=" + ".join(top.words),
    )
    reason = (
        f"the page text scored {page_score.score} (flag at {flag_at}, block at {block_at}); "
        f"strongest phrase: {' + '.join(top.words)!r}"
    )
    lift = policy._lifted(hit, (group_name, user), aware(when)) or Lift("", Step.GROUP)
    if lift.why:
        action, reason = Action.STUDY, f"{reason}; allowed for study: {lift.why}"
    category = policy.categories.get(top.category)
    decision = Decision(
        action=action,
        url=normalised.url(),
        host=normalised.host,
        category=top.category,
        severity=category.severity if category else Severity.MEDIUM,
        kind=Kind.PAGE,
        rule=top.rule,
        source=top.source,
        reason=reason,
        group=group_name,
        policy_version=policy.version,
        matched=tuple(" + ".join(p.words) for p, _ in page_score.hits[:10]),
        step=lift.step,
        exemption=lift.exemption,
    )
    return decision


def aware(when: datetime | None) -> datetime:
    """`when` in UTC (now if None); a naive time is taken as UTC."""
    if when is None:
        return datetime.now(UTC)
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
