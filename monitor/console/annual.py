"""The annual filtering review (DfE filtering and monitoring standards): what is blocked and
allowed and why, with counts over the year, the false-positive rate and policy changes; as a
page that prints well (`/annual-review`) and as CSV (`/annual-review.csv`). No pupil identities.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import yaml
from aiohttp import web

from filters.policyfile import PolicySpec, read_policy
from monitor.console.formatting import csv_cell, severity_name
from monitor.console.policysave import current_version
from monitor.console.roles import Can
from monitor.console.web import Console, console_of, requires, signin_of
from monitor.store.mentionreview import MENTION_STATUS_NAMES
from monitor.store.models import ReviewStatus
from monitor.store.review import record
from monitor.store.stats import review_counts

routes = web.RouteTableDef()
log = logging.getLogger(__name__)


@dataclass
class AnnualReview:
    since: date
    until: date  # inclusive
    categories: list[dict[str, Any]] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)
    lists: list[dict[str, Any]] = field(default_factory=list)
    allowlist: list[dict[str, str]] = field(default_factory=list)
    exemptions: list[dict[str, str]] = field(default_factory=list)
    counts: list[tuple[str, str, int, int]] = field(default_factory=list)
    months: list[tuple[str, int, int]] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    reviewed: int = 0
    false_positives: int = 0
    versions: list[Any] = field(default_factory=list)
    changes: list[Any] = field(default_factory=list)
    unblock: dict[str, int] = field(default_factory=dict)
    mentions: list[tuple[str, str, int]] = field(default_factory=list)  # (status, name, count)
    policy_problem: str = ""

    @property
    def false_positive_rate(self) -> str:
        if not self.reviewed:
            return "no events reviewed"
        return f"{100 * self.false_positives / self.reviewed:.1f}% of {self.reviewed} reviewed"


def _period(request: web.Request, console: Console) -> tuple[date, date]:
    today = datetime.now(console.zone).date()
    try:
        given = request.query.get("until")
        until = date.fromisoformat(given) if given else today
        since = (
            date.fromisoformat(request.query["since"])
            if request.query.get("since")
            else until - timedelta(days=364)
        )
    except ValueError:
        raise web.HTTPBadRequest(text="Give the period as dates like 2026-08-31.") from None
    if since > until:
        raise web.HTTPBadRequest(text="The period ends before it starts.")
    return since, until


async def build_review(console: Console, since: date, until: date) -> AnnualReview:
    review = AnnualReview(since, until)
    await _note_outside_changes(console)
    start = datetime.combine(since, time(0), console.zone).astimezone(UTC)
    end = datetime.combine(until + timedelta(days=1), time(0), console.zone).astimezone(UTC)
    await asyncio.to_thread(_policy_part, console.policy_path, review)
    counts = await console.store.read(review_counts, start, end, console.schools.own)
    review.counts, review.months = counts.counts, counts.months
    review.statuses, review.versions = counts.statuses, counts.versions
    review.changes, review.unblock = counts.changes, counts.unblock
    review.mentions = [
        (status, name, counts.mention_statuses[status])
        for status, name in MENTION_STATUS_NAMES.items()
        if counts.mention_statuses.get(status)
    ]
    new = review.statuses.get(ReviewStatus.NEW.value, 0)
    review.reviewed = sum(review.statuses.values()) - new
    review.false_positives = review.statuses.get(ReviewStatus.FALSE_POSITIVE.value, 0)
    return review


async def _note_outside_changes(console: Console) -> None:
    """Record the policy's files as a version if they changed outside the console, so the
    review lists every change up to now (`monitor.console.policysave`)."""
    try:
        await current_version(console)
    except Exception:  # the rest of the review is still worth showing
        log.exception("could not compare the policy's files with the recorded versions")


def _policy_part(policy_path: Path, review: AnnualReview) -> None:
    try:
        spec = read_policy(policy_path)
    except Exception as exc:  # show the rest of the review even when the policy is unreadable
        review.policy_problem = f"{policy_path}: {exc}"
        return
    if spec.problems:
        review.policy_problem = "; ".join(str(p) for p in spec.problems[:5])
    for name, category in sorted(spec.categories.items()):
        review.categories.append(
            {
                "name": name,
                "description": getattr(category, "description", ""),
                "action": str(getattr(category, "action", "")),
                "severity": severity_name(int(getattr(category, "severity", 0))),
                "illegal": bool(getattr(category, "illegal", False)),
            }
        )
    for name, group in sorted(spec.groups.items()):
        actions = getattr(group, "actions", {}) or {}
        review.groups.append(
            {
                "name": name,
                "description": getattr(group, "description", ""),
                "actions": ", ".join(f"{k}: {v}" for k, v in sorted(actions.items())),
            }
        )
    for item in spec.lists:
        review.lists.append(
            {"file": item.display, "use": item.use, "category": item.category or ""}
        )
    review.allowlist = _allow_entries(spec)
    for exemption in spec.exemptions:
        review.exemptions.append(
            {
                "id": exemption.id,
                "reason": exemption.reason,
                "requested_by": exemption.requested_by,
                "approved_by": exemption.approved_by,
                "groups": ", ".join(sorted(exemption.groups)) or "everyone",
                "covers": ", ".join([*sorted(exemption.categories), *exemption.sites]),
                "starts": exemption.starts.date().isoformat(),
                "ends": (exemption.ends - timedelta(seconds=1)).date().isoformat(),
                "source": exemption.source,
            }
        )


def _allow_entries(spec: PolicySpec) -> list[dict[str, str]]:
    """Every entry of the YAML allowlists with its note (why it is allowed)."""
    rows: list[dict[str, str]] = []
    for item in spec.lists:
        if item.use != "allow" or item.path.suffix not in (".yaml", ".yml"):
            continue
        try:
            data = yaml.safe_load(item.path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            continue
        entries = data.get("entries") if isinstance(data, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, str):
                rows.append({"entry": entry, "note": "", "file": item.display})
            elif isinstance(entry, dict):
                value = next(
                    (str(entry[k]) for k in ("domain", "url", "regex") if k in entry), "?"
                )
                rows.append(
                    {"entry": value, "note": str(entry.get("note", "")), "file": item.display}
                )
    return rows


@routes.get("/annual-review")
@requires(Can.ANNUAL_REVIEW)
async def annual_review(request: web.Request) -> web.Response:
    console = console_of(request)
    since, until = _period(request, console)
    review = await build_review(console, since, until)
    return aiohttp_jinja2.render_template(
        "annual_review.html", request, {"title": "Annual filtering review", "review": review}
    )


@routes.get("/annual-review.csv")
@requires(Can.ANNUAL_REVIEW)
async def annual_review_csv(request: web.Request) -> web.Response:
    console = console_of(request)
    signin = signin_of(request)
    since, until = _period(request, console)
    review = await build_review(console, since, until)
    await console.store.write(
        record, actor=signin.user.username, action="export.review", subject=f"{since}..{until}"
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["section", "item", "detail", "value", "extra"])

    def row(*cells: object) -> None:
        writer.writerow([csv_cell(c) for c in cells])

    row("period", since.isoformat(), until.isoformat(), "", "")
    for c in review.categories:
        illegal = " (unlawful: never lifted)" if c["illegal"] else ""
        row("category", c["name"], c["description"], c["action"], c["severity"] + illegal)
    for g in review.groups:
        row("group", g["name"], g["description"], g["actions"], "")
    for item in review.lists:
        row("list", item["file"], item["use"], item["category"], "")
    for a in review.allowlist:
        row("allowlist", a["entry"], a["note"], a["file"], "")
    for e in review.exemptions:
        dates = f"{e['starts']}..{e['ends']} {e['covers']}"
        row("exemption", e["id"], e["reason"], f"approved by {e['approved_by']}", dates)
    for category, action, events, sightings in review.counts:
        row("count", category, action, events, sightings)
    for month, events, sightings in review.months:
        row("month", month, "", events, sightings)
    for status, n in sorted(review.statuses.items()):
        row("review status", status, "", n, "")
    row("false-positive rate", "", "", review.false_positive_rate, "")
    for v in review.versions:
        in_use = f"{v.first_seen:%Y-%m-%d}..{v.last_seen:%Y-%m-%d}"
        row("policy version", v.version, in_use, v.events, "")
    for change in review.changes:
        when = f"{change.at:%Y-%m-%d %H:%M}"
        detail = change.detail + (f" — why: {change.note}" if change.note else "")
        row("policy change", change.action, detail, change.actor, when)
    for status, n in sorted(review.unblock.items()):
        row("unblock requests", status, "", n, "")
    for status, name, n in review.mentions:
        row("brand mentions", status, name, n, "")
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        charset="utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="filtering-review-{since}-{until}.csv"'
        },
    )
