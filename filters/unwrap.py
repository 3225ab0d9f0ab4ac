"""Targets carried inside a URL: redirect links, translate proxies, web archives, image search.

A pupil who cannot reach bad.test directly can often reach it through `google.com/url?q=...`,
a translate proxy (`www-bad-test.translate.goog`) or a web archive. The policy decides such a
request on its target too (issue 2 point 2); this module finds the targets, one level deep (the
policy recurses to a small depth), and never fetches anything. The work is bounded because the
input is hostile: at most `MAX_TARGETS` targets, values up to `MAX_VALUE` characters, the first
`MAX_PARAMS` query parameters.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable
from urllib.parse import unquote, unquote_plus

from filters.urls import NormalisedURL, split_url

MAX_TARGETS = 8
MAX_VALUE = 8192
MAX_PARAMS = 256

_GOOGLE_RE = re.compile(r"(?:www\.|images\.|news\.)?google(?:\.[a-z]{2,3}){1,2}")
_GOOGLE_TRANSLATE_RE = re.compile(r"translate\.google(?:\.[a-z]{2,3}){1,2}")
# archive.today and its mirrors
_ARCHIVE_TODAY_TLDS = ("ph", "is", "today", "li", "vn", "fo", "md")
_ARCHIVE_TODAY = frozenset(f"archive.{tld}" for tld in _ARCHIVE_TODAY_TLDS)
# Every host `_site_rule` knows has one of these labels (google.co.uk, www-x.translate.goog,
# l.facebook.com, ...): any other host is no redirector, told by one set check in C, which
# every host seen for the first time pays. A rule added below needs its label added here.
CARRIER_LABELS = frozenset(
    ("goog", "google", "googleusercontent", "bing", "duckduckgo", "yahoo", "facebook",
     "messenger", "instagram", "archive")
)  # fmt: skip
_WAYBACK_PATH_RE = re.compile(r"/web/(?:\d{0,14}\*?|\*)(?:[a-z]{2}_)?/+(.+)", re.IGNORECASE)
_ARCHIVE_TODAY_PATH_RE = re.compile(
    r"/(?:newest|oldest|timegate|timemap(?:/[a-z]+)?|\d{4}(?:\.\d\d){0,2}(?:-\d{6})?|\d{8,14}"
    r"|o/[A-Za-z0-9]+)/+(.+)",
    re.IGNORECASE,
)
_ARCHIVED_URL_START_RE = re.compile(r"https?:/+|https?%3a", re.IGNORECASE)
_YAHOO_RU_RE = re.compile(r"/RU=([^/]+)")
_CACHE_ID_RE = re.compile(r"[A-Za-z0-9_-]{8,16}:(?!//)")
_ABSOLUTE_RE = re.compile(r"https?://", re.IGNORECASE)
# A scheme-relative reference ("//bad.test/x"): browsers read "\\" as "/" in it, and any run of
# two or more slashes still starts the host, so "/\\bad.test" and "///bad.test" go there too.
_SCHEME_RELATIVE_RE = re.compile(r"[/\\]{2,}(?=[^/\\])")
_TARGET_LIKE_RE = re.compile(r"https?://|[/\\]{2}|www\.", re.IGNORECASE)


def embedded_targets(url: NormalisedURL) -> tuple[str, ...]:
    """Raw target URLs carried inside `url`, outermost first. Never raises."""
    try:
        return _targets(url)
    except Exception:  # hostile input must never break a decision; the outer URL still counts
        return ()


def _targets(url: NormalisedURL) -> tuple[str, ...]:
    found: list[str] = []
    if url.host_kind == "domain":
        site_rule = _site_rule(url.host)
        if site_rule is not None:
            found.extend(site_rule(url))
    if url.query and may_carry_target(url.query):
        found.extend(value for _, value in _params(url.query) if _is_target(value))
    targets: dict[str, None] = {}
    for target in found:
        target = _absolute(target.strip(), url.scheme)
        if target and len(target) <= MAX_VALUE:
            targets.setdefault(target)
            if len(targets) == MAX_TARGETS:
                break
    return tuple(targets)


def may_carry_target(query: str) -> bool:
    """Whether a (normalised) query could hold an absolute or scheme-relative URL: a cheap test
    that lets the common request skip unwrapping."""
    return "//" in query or "\\" in query or "http" in query.lower()


def _is_target(value: str) -> bool:
    return bool(_ABSOLUTE_RE.match(value) or _SCHEME_RELATIVE_RE.match(value))


def _absolute(target: str, scheme: str) -> str:
    """A scheme-relative target with the carrying page's scheme (as the browser resolves it)."""
    start = _SCHEME_RELATIVE_RE.match(target)
    if start is None:
        return target
    return f"{scheme if scheme in ('http', 'https') else 'https'}://{target[start.end() :]}"


def _params(query: str) -> list[tuple[str, str]]:
    """Query parameters, decoded; `NormalisedURL.query` keeps only & = + # encoded."""
    out: list[tuple[str, str]] = []
    for pair in query.split("&", MAX_PARAMS)[:MAX_PARAMS]:
        name, _, value = pair.partition("=")
        if len(value) <= 3 * MAX_VALUE:
            out.append((unquote_plus(name), unquote_plus(value)))
    return out


def _param_values(url: NormalisedURL, names: Iterable[str]) -> list[str]:
    wanted = frozenset(names)
    return [value for name, value in _params(url.query) if name in wanted]


def _raw_path_and_query(url: NormalisedURL) -> tuple[str, str]:
    # Archive and Yahoo paths embed a whole URL; the canonical path has collapsed its "//".
    parts = split_url(url.raw)
    return parts.path, parts.query


def carries_targets(host: str) -> bool:
    """Whether a site is a known redirector, proxy or archive (its paths can carry a URL)."""
    return _site_rule(host) is not None


def _site_rule(host: str) -> Callable[[NormalisedURL], list[str]] | None:
    if CARRIER_LABELS.isdisjoint(host.split(".")):
        return None
    if host.endswith(".translate.goog"):
        return _translate_goog
    if _GOOGLE_RE.fullmatch(host):
        return _google
    if _GOOGLE_TRANSLATE_RE.fullmatch(host) or host == "translate.googleusercontent.com":
        return _google_translate
    if host == "webcache.googleusercontent.com":
        return _google_cache
    if host == "bing.com" or host.endswith(".bing.com"):
        return _bing
    if host == "duckduckgo.com" or host.endswith(".duckduckgo.com"):
        return _duckduckgo
    if host.endswith(".search.yahoo.com"):
        return _yahoo
    if host in ("l.facebook.com", "lm.facebook.com", "l.messenger.com", "l.instagram.com"):
        return _facebook
    if host in ("web.archive.org", "wayback.archive.org"):
        return _wayback
    if host in _ARCHIVE_TODAY or host.removeprefix("www.") in _ARCHIVE_TODAY:
        return _archive_today
    return None


def _target_like(values: Iterable[str]) -> list[str]:
    return [value for value in values if _TARGET_LIKE_RE.match(value)]


def _google(url: NormalisedURL) -> list[str]:
    if url.path == "/url":
        return _target_like(_param_values(url, ("q", "url")))
    if url.path == "/imgres":
        return _target_like(_param_values(url, ("imgurl", "imgrefurl")))
    return []


def _google_translate(url: NormalisedURL) -> list[str]:
    return [value for value in _param_values(url, ("u",)) if value]


def _google_cache(url: NormalisedURL) -> list[str]:
    targets = []
    for value in _param_values(url, ("q",)):
        if not value.lower().startswith("cache:"):
            continue
        value = value[6:]
        cache_id = _CACHE_ID_RE.match(value)  # cache:<id>:<url> is the older form
        if cache_id:
            value = value[cache_id.end() :]
        targets.append(value.split(" ", 1)[0])  # search words may follow the URL
    return targets


def _bing(url: NormalisedURL) -> list[str]:
    if url.path == "/news/apiclick.aspx":
        return _target_like(_param_values(url, ("url",)))
    if url.path != "/ck/a":
        return []
    targets = []
    for value in _param_values(url, ("u",)):
        if not value.startswith("a1"):
            continue
        encoded = value[2:].replace("+", "-").replace("/", "_").replace(" ", "-")
        try:
            decoded = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            target = decoded.decode("utf-8")
        except (binascii.Error, ValueError):
            continue
        if _ABSOLUTE_RE.match(target):
            targets.append(target)
    return targets


def _duckduckgo(url: NormalisedURL) -> list[str]:
    if url.path not in ("/l", "/l/"):
        return []
    return [value for value in _param_values(url, ("uddg",)) if value]


def _yahoo(url: NormalisedURL) -> list[str]:
    path, _ = _raw_path_and_query(url)
    match = _YAHOO_RU_RE.search(path)
    return [unquote(match.group(1))] if match else []


def _facebook(url: NormalisedURL) -> list[str]:
    return [value for value in _param_values(url, ("u",)) if value]


def _translate_goog(url: NormalisedURL) -> list[str]:
    label = url.host.removesuffix(".translate.goog").rpartition(".")[2]
    if not label:
        return []
    # The proxy spells the site's dots as "-" and its hyphens as "--".
    site = label.replace("--", "\0").replace("-", ".").replace("\0", "-")
    params = [p for p in url.query.split("&") if p and not p.startswith("_x_tr_")]
    query = "?" + "&".join(params) if params else ""
    return [f"https://{site}{url.path}{query}"]


def _archived(path_match: re.Match[str] | None, raw_query: str) -> list[str]:
    if path_match is None:
        return []
    target = path_match.group(1)
    if target.lower().startswith(("http%3a", "https%3a")):
        target = unquote(target)
    # The archives accept "http:/bad.test" with one slash, as the browser's path collapsed it.
    start = _ARCHIVED_URL_START_RE.match(target)
    if start and start.group().endswith("/"):
        target = start.group().rstrip("/") + "//" + target[start.end() :]
    return [target + ("?" + raw_query if raw_query else "")]


def _wayback(url: NormalisedURL) -> list[str]:
    path, query = _raw_path_and_query(url)
    return _archived(_WAYBACK_PATH_RE.fullmatch(path), query)


def _archive_today(url: NormalisedURL) -> list[str]:
    path, query = _raw_path_and_query(url)
    match = _ARCHIVE_TODAY_PATH_RE.fullmatch(path)
    if match is None and _ARCHIVED_URL_START_RE.match(path[1:]):
        match = re.fullmatch(r"/(.+)", path)
    return _archived(match, query)
