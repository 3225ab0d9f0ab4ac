"""Health for IT staff (`/health`): every part's state, the policy in force and its last refused
change, the spool and the write rate, alert delivery, and the feeds' fetch errors.

Operational warnings live here, not in the safeguarding queue: a refused list change, a gateway
that went quiet, events waiting in a spool, an alert that cannot be sent, a feed that fails.
The sources are the parts' status files (`monitor.console.partstatus`), the console's own reads
of the store (alert delivery, feed state, the newest event's policy version; a database that
does not answer is itself a finding, never an error page) and a validation of the policy files
on disk (cached for `VALIDATE_SECONDS`, as it reads every list). Nothing here names a pupil.
The dashboard shows `summary()`, the same warnings in a line each, with a link here.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from filters.policy import Policy
from filters.policyfile import read_policy
from monitor.console.healthparts import Refusal, WriterFigures, refusals, writer_figures
from monitor.console.partstatus import (
    PartStatus,
    gateway_files,
    part_from_file,
    text,
    when_of,
)
from monitor.console.roles import Can
from monitor.console.web import Console, console_of, requires
from monitor.policyreload import WATCHER_STATUS_FILE
from monitor.store.alerting import AlertHealth, alert_health
from monitor.store.mentions import feed_states
from monitor.store.models import FeedState
from monitor.store.stats import newest_policy_version

routes = web.RouteTableDef()
VALIDATE_SECONDS = 30.0
MAX_FEEDS = 200


@dataclass
class HealthReport:
    parts: list[PartStatus]
    versions: list[tuple[str, str, datetime | None]]  # (part, policy version, loaded at)
    policy_path: str
    disk_problems: list[str]
    refusals: list[Refusal]  # the last refused change of each part that has one
    writers: list[WriterFigures]
    alerts: AlertHealth | None
    alerts_off: bool
    feeds: list[FeedState]
    newest_event_version: str
    database_problem: str = ""
    warnings: list[str] = field(default_factory=list)


async def report(console: Console) -> HealthReport:
    now = datetime.now(UTC)
    parts = await asyncio.to_thread(_read_parts, console, now)
    files = [p for p in parts if p.status]
    problems = await _disk_problems(console)
    alerts, feeds, newest, database_problem = await _store_reads(console, now)
    parts.append(PartStatus("Console", "up", "answering (this page)", heard=now, age_seconds=0))
    parts.append(
        PartStatus("Database", "down", database_problem)
        if database_problem
        else PartStatus("Database", "up", "answering the console's reads", heard=now, age_seconds=0)
    )
    watcher = next((p.status for p in files if p.name == "Watcher"), {})
    result = HealthReport(
        parts=parts,
        versions=[
            (p.name, text(p.status.get("policy_version")), when_of(p.status.get("last_reload")))
            for p in files
        ],
        policy_path=str(console.policy_path),
        disk_problems=problems,
        refusals=refusals(files),
        writers=writer_figures(files),
        alerts=alerts,
        alerts_off=watcher.get("instant_alerts") == "off",
        feeds=sorted(feeds, key=lambda f: (f.status != "error", -(f.error_count or 0), f.feed_url)),
        newest_event_version=newest,
        database_problem=database_problem,
    )
    result.warnings = _warnings(result)
    return result


def _read_parts(console: Console, now: datetime) -> list[PartStatus]:
    parts = [part_from_file(name, path, now) for name, path in gateway_files(console.status_file)]
    parts.append(part_from_file("Watcher", console.data_dir / WATCHER_STATUS_FILE, now))
    return parts


async def _disk_problems(console: Console) -> list[str]:
    """`Policy.validate()` of the files on disk, again only when one of them changed (or
    after `VALIDATE_SECONDS`): it reads every list, and this page is opened often."""
    return await asyncio.to_thread(_validated, console)


def _validated(console: Console) -> list[str]:
    stamps = _stamps(console.policy_path)
    cached = console.cache.get("health:validate")
    if cached and time.monotonic() - cached[0] < VALIDATE_SECONDS and cached[1][0] == stamps:
        kept: list[str] = cached[1][1]
        return kept
    try:
        problems = [str(p) for p in Policy.validate(console.policy_path)][:50]
    except Exception as exc:  # the health page must show a broken policy, not crash on it
        problems = [f"{console.policy_path}: {exc}"]
    console.cache["health:validate"] = (time.monotonic(), (stamps, problems))
    return problems


def _stamps(path: Path) -> tuple[tuple[str, int, int], ...]:
    """(file, mtime, size) of the policy file and every file it names."""
    try:
        spec = read_policy(path)
    except Exception:  # unreadable: validate() will say why
        return ()
    found = []
    for name in dict.fromkeys([spec.path, *spec.files, *(s.path for s in spec.lists)]):
        try:
            stat = name.stat()
        except OSError:
            found.append((str(name), -1, -1))
            continue
        found.append((str(name), stat.st_mtime_ns, stat.st_size))
    return tuple(found)


async def _store_reads(
    console: Console, now: datetime
) -> tuple[AlertHealth | None, list[FeedState], str, str]:
    """Alert delivery, feed state and the newest event's policy: or why the store would not
    say (a health page that fails with the database would hide the one thing it should show)."""
    try:
        alerts = await console.store.read(alert_health, now)
        feeds = (await console.store.read(feed_states))[:MAX_FEEDS]
        newest = await console.store.read(newest_policy_version) or ""
    except Exception as exc:
        first_line = (str(exc).strip().splitlines() or [""])[0]
        return None, [], "", f"does not answer: {type(exc).__name__}: {first_line[:300]}"
    return alerts, feeds, newest, ""


def _warnings(result: HealthReport) -> list[str]:
    """One line per thing IT staff should look at, in the order they would fix them."""
    found = [
        f"{p.name} is {p.state}: {p.detail}"
        for p in result.parts
        # A watcher may run on another machine; the gateway's file is the console's to read.
        if p.state == "down" or (p.state == "unknown" and p.name == "Gateway")
    ]
    refused = [r for r in result.refusals if r.current]
    found.extend(
        f"{r.part} refused the latest policy change ({len(r.problems) + r.more} problem(s)): "
        f"policy {r.kept_version} stays in force"
        for r in refused
    )
    if result.disk_problems and not refused:
        found.append(
            f"The policy files have {len(result.disk_problems)} problem(s): their latest change "
            "is not in force"
        )
    found.extend(w for figures in result.writers for w in figures.warnings())
    if result.alerts is not None and result.alerts.failing:
        found.append(
            f"{result.alerts.failing} instant alert(s) to the Prevent lead not delivered yet"
        )
    failing = sum(1 for f in result.feeds if (f.error_count or 0) > 0)
    if failing:
        found.append(f"{failing} of {len(result.feeds)} feeds failing")
    return found


async def summary(console: Console) -> list[str]:
    """The health page's warnings, for the dashboard."""
    return (await report(console)).warnings


@routes.get("/health")
@requires(Can.DASHBOARD)
async def health(request: web.Request) -> web.Response:
    result = await report(console_of(request))
    context: dict[str, Any] = {"title": "Health", "health": result}
    return aiohttp_jinja2.render_template("health.html", request, context)
