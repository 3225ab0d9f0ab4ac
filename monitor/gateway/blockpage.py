"""The page a pupil sees instead of a blocked one, and the "filter error" page.

It says what was blocked, the category and the reason in plain words, a reference number (the
event's id, which IT staff and the Prevent lead can look up), the time, the school's name and a
link to ask for a review (the console's unblock-request form). Rendered with Jinja2, autoescaped:
every value on it (the URL above all) comes from outside.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

import jinja2
from mitmproxy import http

from filters.decision import Decision

TEMPLATES = Path(__file__).with_name("templates")
MAX_SHOWN_URL = 300  # a page is no place for a 64 KB URL
BLOCK_STATUS = 403
ERROR_STATUS = 503

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
}


def shorten(url: str) -> str:
    return url if len(url) <= MAX_SHOWN_URL else url[: MAX_SHOWN_URL - 1] + "…"


def review_link(review_url: str, url: str, reference: str) -> str:
    """The console's unblock-request form for this URL and event; empty when not configured."""
    if not review_url:
        return ""
    joiner = "&" if "?" in review_url else "?"
    return f"{review_url}{joiner}{urlencode({'url': url[:2048], 'ref': reference})}"


def own_hosts(review_url: str, extra: Sequence[str] = ()) -> frozenset[str]:
    """The school's own prevent-monitor hosts: the review link's, and any named besides."""
    hosts = {h.strip().lower().strip(".") for h in extra if h.strip()}
    try:
        review_host = urlsplit(review_url).hostname if review_url else None
    except ValueError:
        review_host = None
    if review_host:
        hosts.add(review_host.rstrip("."))
    return frozenset(hosts)


class BlockPage:
    """Renders the block and error pages for one school."""

    def __init__(
        self, school: str, review_url: str = "", timezone: ZoneInfo | None = None
    ) -> None:
        self.school = school
        self.review_url = review_url
        self.timezone = timezone or ZoneInfo("Europe/London")
        self._template = _ENV.get_template("block.html")

    def render_block(
        self, decision: Decision, *, reference: str, when: datetime, category: str | None
    ) -> str:
        return self._template.render(
            title="This page is blocked",
            summary="The school's web filter stopped this page.",
            school=self.school,
            url=shorten(decision.url),
            category=category,
            reason=decision.reason,
            reference=reference,
            time=self._time(when),
            review_link=review_link(self.review_url, decision.url, reference),
        )

    def block(
        self, decision: Decision, *, reference: str, when: datetime, category: str | None
    ) -> http.Response:
        html = self.render_block(decision, reference=reference, when=when, category=category)
        return http.Response.make(BLOCK_STATUS, html.encode(), _HEADERS)

    def error(self, url: str, *, reference: str, when: datetime) -> http.Response:
        """Fail closed: the filter could not decide, so the page is not shown."""
        html = self._template.render(
            title="The web filter had a problem",
            summary="The school's web filter could not check this page, so it was not shown. "
            "Try again in a moment; if it keeps happening, tell IT staff.",
            school=self.school,
            url=shorten(url),
            category=None,
            reason="filter error",
            reference=reference,
            time=self._time(when),
            review_link="",
        )
        return http.Response.make(ERROR_STATUS, html.encode(), _HEADERS)

    def _time(self, when: datetime) -> str:
        return when.astimezone(self.timezone).strftime("%A %d %B %Y, %H:%M:%S %Z")
