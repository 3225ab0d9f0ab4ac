"""The brand-alert watcher's and the digest's settings: two config sections, every field with help.

`WatcherSettings` (feeds, brand terms, polling, network safety) and `DigestSettings` (schedule,
recipients, the Prevent lead's address, SMTP). `monitor.config` places them in the one file.
`WatcherSettings.feed_sources()` and `check_*()` turn raw values into checked ones and name the
key path of anything wrong, so a bad source stops start-up with a message a person can act on.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from filters.decision import Severity
from monitor.setting import setting

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
FEED_KINDS = ("google-alerts", "bing-news", "google-news", "talkwalker", "rss", "atom")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_TIME_RE = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


@dataclass(frozen=True, slots=True)
class FeedSource:
    """One search-alert feed the watcher polls."""

    url: str
    label: str
    kind: str = "rss"


@dataclass(slots=True)
class WatcherSettings:
    enabled: bool = setting(True, "Poll the brand-alert feeds (Google Alerts, Bing News, ...).")
    # setting() gives list defaults a default_factory, so RUF009 does not apply.
    sources: list[dict[str, str]] = setting(  # noqa: RUF009
        [],
        "The feeds to poll, each {url: ..., label: ..., kind: ...}; kind is one of "
        + ", ".join(FEED_KINDS)
        + ". Make each alert a search for the school's name.",
    )
    brand_terms: list[str] = setting(  # noqa: RUF009
        [],
        "The school's name and its variants (\"St Aidan's Academy\", \"St Aidans Exampleton\"). "
        "Matched as whole phrases, ignoring case, accents, apostrophes and hyphens. Empty: the "
        "top-level `school` name.",
    )
    exclude_terms: list[str] = setting(  # noqa: RUF009
        [],
        "Words that mark a namesake school elsewhere (\"Darlington\"): a mention of the brand "
        "within `exclude_window_words` words of one of these is not ours.",
    )
    exclude_window_words: int = setting(
        8, "How close (in words) an exclusion term must be to the school's name to cancel it."
    )
    near_words: int = setting(
        12,
        "Extremist search phrases (the policy's search_terms lists) within this many words of "
        "the school's name in a title or snippet raise the mention's severity.",
    )
    alert_severity: str = setting(
        "high",
        "Mentions at or above this severity become a flagged event at once and are emailed "
        "straight to the Prevent lead; the rest wait for the digest.",
        choices=("low", "medium", "high", "critical"),
    )
    interval_minutes: float = setting(60.0, "Minutes between polls of each feed.")
    jitter_fraction: float = setting(
        0.1, "Random spread of each interval (0.1: +/-10%), so feeds are not polled in step."
    )
    max_backoff_hours: float = setting(
        24.0,
        "Failing feeds are retried with doubling delays up to this many hours, never given up.",
    )
    backlog_days: int = setting(
        7,
        "On a new feed's first poll, entries published more than this many days ago are "
        "recorded as backlog (counted, not listed) unless they reach alert_severity.",
    )
    connect_timeout: float = setting(10.0, "Seconds to connect to a feed's server.")
    read_timeout: float = setting(20.0, "Seconds to wait for each piece of a feed's body.")
    total_timeout: float = setting(60.0, "Seconds a whole fetch (redirects included) may take.")
    max_body_bytes: int = setting(
        5_000_000, "A feed larger than this once decompressed is refused (gzip-bomb guard)."
    )
    max_redirects: int = setting(5, "Redirects followed per fetch; each is checked again.")
    max_concurrent: int = setting(20, "Feeds fetched at the same time, overall.")
    max_per_host: int = setting(2, "Feeds fetched at the same time from one host.")
    allow_private_addresses: bool = setting(
        False,
        "Let feeds (and redirects) reach private, loopback, link-local and carrier-grade NAT "
        "addresses. Leave off: a feed must never be a way into the school's own network.",
    )
    allowed_networks: list[str] = setting(  # noqa: RUF009
        [],
        "Networks (CIDR) the watcher may reach even though they are private, e.g. an intranet "
        "feed server; everything else private stays refused.",
    )
    parse_workers: int = setting(
        1,
        "Processes that parse feeds next to the watcher (feedparser is CPU work); 0 parses "
        "in the watcher's own process.",
    )
    user_agent: str = setting(
        "prevent-monitor brand-alert watcher", "The User-Agent sent with each feed request."
    )

    def feed_sources(self, problems: list[str] | None = None) -> list[FeedSource]:
        """The checked sources; problems (with key paths) go to `problems` when given."""
        found: list[FeedSource] = []
        problems = problems if problems is not None else []
        seen: set[str] = set()
        for index, raw in enumerate(self.sources):
            where = f"watcher.sources[{index}]"
            if not isinstance(raw, dict):
                problems.append(f"{where}: expected {{url: ..., label: ..., kind: ...}}")
                continue
            url = str(raw.get("url") or "").strip()
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                problems.append(f"{where}.url: {url!r} is not an http(s) URL")
                continue
            if url in seen:
                problems.append(f"{where}.url: {url!r} is listed twice")
                continue
            kind = str(raw.get("kind") or "rss").strip().lower()
            if kind not in FEED_KINDS:
                problems.append(f"{where}.kind: {kind!r} is not one of {', '.join(FEED_KINDS)}")
                continue
            unknown = set(raw) - {"url", "label", "kind"}
            if unknown:
                problems.append(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
                continue
            seen.add(url)
            label = str(raw.get("label") or parts.hostname)
            found.append(FeedSource(url=url, label=label, kind=kind))
        return found

    def networks(self, problems: list[str] | None = None) -> list[Network]:
        out: list[Network] = []
        for index, text in enumerate(self.allowed_networks):
            try:
                out.append(ipaddress.ip_network(str(text), strict=False))
            except ValueError:
                if problems is not None:
                    problems.append(
                        f"watcher.allowed_networks[{index}]: {text!r} is not a network (10.0.0.0/8)"
                    )
        return out

    def alert_level(self) -> Severity:
        return Severity.parse(self.alert_severity)

    def check(self) -> list[str]:
        """Every problem, with key paths; empty when the section is usable."""
        problems: list[str] = []
        self.feed_sources(problems)
        self.networks(problems)
        for name in ("interval_minutes", "connect_timeout", "read_timeout", "total_timeout"):
            if getattr(self, name) <= 0:
                problems.append(f"watcher.{name}: must be more than 0")
        if not 0 <= self.jitter_fraction < 1:
            problems.append("watcher.jitter_fraction: use a fraction between 0 and 0.9")
        for name in ("max_body_bytes", "max_concurrent", "max_per_host"):
            if getattr(self, name) < 1:
                problems.append(f"watcher.{name}: must be at least 1")
        return problems


@dataclass(slots=True)
class DigestSettings:
    enabled: bool = setting(True, "Email the brand-alert digest on its schedule.")
    schedule: str = setting(
        "daily", "How often the digest goes out.", choices=("daily", "weekly")
    )
    weekday: str = setting("monday", "The day a weekly digest goes out.", choices=WEEKDAYS)
    time: str = setting("07:30", "Local time (HH:MM) the digest goes out.")
    timezone: str = setting("Europe/London", "The time zone of `time` (an IANA name).")
    recipients: list[str] = setting(  # noqa: RUF009
        [], "Who receives the digest (communications, head, Prevent lead)."
    )
    trust_recipients: list[str] = setting(  # noqa: RUF009
        [],
        "A trust: also email a trust-wide digest of every school's mentions, each with its "
        "school, to these addresses. Set it on one watcher only (the trust office's, or one "
        "school's). Empty: no trust-wide digest.",
    )
    prevent_lead: str = setting(
        "",
        "The Prevent lead's (DSL's) address: high-severity mentions are emailed here at once.",
    )
    sender: str = setting("prevent-monitor@localhost", "The From address of digests and alerts.")
    max_items: int = setting(
        50, "Mentions listed in one digest; the rest are counted (\"and 12 more\")."
    )
    smtp_host: str = setting("localhost", "The mail server (SMTP) that sends digests and alerts.")
    smtp_port: int = setting(587, "The mail server's port (587 submission, 465 TLS, 25).")
    smtp_starttls: bool = setting(
        True, "Upgrade the connection with STARTTLS (required when the server offers no TLS)."
    )
    smtp_tls: bool = setting(False, "Connect with TLS from the start (port 465).")
    smtp_username: str = setting("", "Log in to the mail server as this user (empty: no login).")
    smtp_password: str = setting("", "The mail server password.", secret=True)
    smtp_timeout: float = setting(30.0, "Seconds to wait for the mail server.")

    def send_time(self) -> dt.time:
        match = _TIME_RE.fullmatch(self.time.strip())
        if not match:
            raise ValueError(f"digest.time: {self.time!r} is not a time like 07:30")
        return dt.time(int(match.group(1)), int(match.group(2)))

    def zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"digest.timezone: {self.timezone!r} is not a time zone name (Europe/London)"
            ) from None

    def check(self) -> list[str]:
        problems: list[str] = []
        for check in (self.send_time, self.zone):
            try:
                check()
            except ValueError as exc:
                problems.append(str(exc))
        if self.max_items < 1:
            problems.append("digest.max_items: must be at least 1")
        if self.smtp_tls and self.smtp_starttls:
            problems.append("digest.smtp_starttls: turn it off when smtp_tls is on (port 465)")
        return problems


WEBHOOK_FORMATS = ("slack", "teams", "json")


@dataclass(slots=True)
class AlertingSettings:
    """Instant alerts to the Prevent lead for serious gateway events (alerts.instant)."""

    enabled: bool = setting(
        True, "Alert the Prevent lead at once (email, and the webhook if set) of serious events."
    )
    min_severity: str = setting(
        "high",
        "Events at or above this severity are alerted at once.",
        choices=("low", "medium", "high", "critical"),
    )
    recipients: list[str] = setting(  # noqa: RUF009
        [],
        "Who receives instant alerts. Empty: `digest.prevent_lead`. Mail goes through the "
        "digest's mail server settings (`digest.smtp_host` and the rest).",
    )
    window_minutes: int = setting(
        10,
        "One alert per pupil (or device, or address) per this many minutes: a burst becomes "
        "one alert with a count, and at most one follow-up when the window closes.",
    )
    gather_seconds: float = setting(
        20.0, "How long the first alert of a window waits for the rest of a burst (under 60 s)."
    )
    poll_seconds: float = setting(
        10.0, "How often the store is read for new serious events."
    )
    retry_max_minutes: float = setting(
        30.0, "The longest wait between tries of a failed send (it doubles up to this)."
    )
    webhook_url: str = setting(
        "",
        "A Teams or Slack incoming-webhook URL that also gets each alert (it holds a token).",
        secret=True,
    )
    webhook_format: str = setting(
        "slack", "The webhook's JSON shape.", choices=WEBHOOK_FORMATS
    )
    webhook_allow_private: bool = setting(
        False,
        "Let the webhook reach private or loopback addresses (a receiver inside the school). "
        "Off, the same guard as the feeds applies.",
    )

    def level(self) -> Severity:
        return Severity.parse(self.min_severity)

    def check(self) -> list[str]:
        problems: list[str] = []
        if self.window_minutes < 1:
            problems.append("alerting.window_minutes: must be at least 1")
        if not 0 <= self.gather_seconds <= 50:
            problems.append("alerting.gather_seconds: use 0 to 50 (alerts must go within 60 s)")
        if not 1 <= self.poll_seconds <= 30:
            problems.append("alerting.poll_seconds: use 1 to 30")
        if self.webhook_url and urlsplit(self.webhook_url).scheme not in ("https", "http"):
            problems.append("PREVENT_MONITOR_ALERTING_WEBHOOK_URL: use an https:// URL")
        for index, address in enumerate(self.recipients):
            if "@" not in address:
                problems.append(f"alerting.recipients[{index}]: {address!r} is not an address")
        return problems
