"""What did the pupil search for? The query text from a search engine, video site or shop URL.

One table row per engine: the engine's name, its host (label-aligned; `google.*` means any
country domain: google.de, google.co.uk, google.com.au), the paths that are searches (a regular
expression matched against the whole path, case-insensitively) and the query parameters that hold
the terms: all of them are read, and a repeated parameter for each of its values. Sites that put
the terms in the path (Wikipedia's `/wiki/Special:Search/<term>`) give a `term` group in
`path_term`.

Deliberately left out: autocomplete endpoints (`/complete/search`, `/ac/`): they fire per
keystroke and would turn one search into a dozen events; the submitted search is what counts.
Redirect links (`google.com/url?q=`) are not searches either; `filters.urls` unwraps those.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import unquote, unquote_plus

MAX_TERMS = 2048  # characters of decoded search text kept
MAX_QUERY = 65536  # characters of query string looked at; real browsers stop well before
_MAX_FIELD = MAX_TERMS * 9  # enough %-escapes for MAX_TERMS characters, double-encoded

_COUNTRY = r"(?:(?:com?|org|net|ac|gov|edu|gob|nic)\.)?[a-z]{2,3}"
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class SearchQuery:
    engine: str  # "google", "bing", "duckduckgo", "youtube", "wikipedia", ...
    terms: str  # the decoded query text as the pupil typed it


class Engine(NamedTuple):
    name: str
    host: str  # "bing.com" (and its subdomains) or "google.*" (any country domain)
    paths: str  # regex, full match on the path
    params: tuple[str, ...]  # query parameters holding the terms, in order of preference
    path_term: str | None = None  # regex with a `term` group, for terms carried in the path


ENGINES: tuple[Engine, ...] = (
    Engine(
        "google",
        "google.*",
        r"/(?:search|webhp|images|imghp)?/?",
        ("q", "as_q", "as_epq", "as_oq", "as_eq", "oq"),
    ),
    Engine("bing", "bing.com", r"/(?:(?:images|videos|news|shop)/)?search/?", ("q", "pq")),
    Engine("duckduckgo", "duckduckgo.com", r"/(?:html|lite|d\.js|i\.js|v\.js|news\.js)?/?", ("q",)),
    Engine("yahoo", "search.yahoo.*", r"/(?:search|yhs/search)(?:/[a-z]+)?/?(?:;.*)?", ("p", "q")),
    Engine("ecosia", "ecosia.org", r"/(?:search|images|videos|news)/?", ("q",)),
    Engine("youtube", "youtube.com", r"/(?:results|search)/?", ("search_query", "q")),
    Engine("youtube", "youtube-nocookie.com", r"/results/?", ("search_query",)),
    Engine(
        "wikipedia",
        "wikipedia.org",
        r"/(?:w/index\.php|wiki/.*|w/api\.php)",
        ("search",),
        r"/wiki/(?:special|spezial|spécial|especial|speciale)"
        r":(?:search|suche|recherche|buscar|ricerca)/(?P<term>.+)",
    ),
    Engine("startpage", "startpage.com", r"(?:/sp|/do)?/d?search/?", ("query", "q")),
    Engine("brave", "search.brave.com", r"/(?:search|images|videos|news)/?", ("q",)),
    Engine("yandex", "yandex.*", r"/(?:search|images/search|video/search)/?(?:touch/)?", ("text",)),
    Engine("yandex", "ya.ru", r"/(?:search)?/?", ("text",)),
    Engine("baidu", "baidu.com", r"/(?:s|from=\d+/s)/?", ("wd", "word", "kw")),
    Engine("qwant", "qwant.com", r"/(?:search|images|videos|news)?/?", ("q",)),
    Engine("ask", "ask.com", r"/(?:web|youtube|news)/?", ("q",)),
    Engine("aol", "search.aol.com", r"/aol/(?:search|image|video)/?", ("q", "query")),
    Engine("mojeek", "mojeek.com", r"/search/?", ("q",)),
    Engine("kiddle", "kiddle.co", r"/s\.php", ("q",)),
    Engine("swisscows", "swisscows.com", r"/(?:[a-z]{2}/)?(?:web|images|video|news)/?", ("query",)),
    Engine("tiktok", "tiktok.com", r"/search(?:/(?:video|user|live|photo))?/?", ("q",)),
    Engine("reddit", "reddit.com", r"(?:/r/[^/]+)?/search/?", ("q",)),
    Engine("twitter", "twitter.com", r"/(?:i/)?search/?", ("q",)),
    Engine("twitter", "x.com", r"/(?:i/)?search/?", ("q",)),
    Engine("facebook", "facebook.com", r"/search(?:/[a-z_]+)?/?", ("q",)),
    Engine("instagram", "instagram.com", r"/explore/search(?:/keyword)?/?", ("q",),
           r"/explore/tags/(?P<term>[^/]+)/?"),
    Engine("pinterest", "pinterest.*", r"/search/(?:pins|boards|users|videos)/?", ("q",)),
    Engine("tumblr", "tumblr.com", r"/search/?", ("q",), r"/search/(?P<term>[^/]+).*"),
    Engine("vimeo", "vimeo.com", r"/search(?:/[a-z]+)?/?", ("q",)),
    Engine("dailymotion", "dailymotion.com", r"/search/?", ("q",), r"/search/(?P<term>[^/]+).*"),
    Engine("rumble", "rumble.com", r"/search/(?:all|video|channel)/?", ("q",)),
    Engine("bitchute", "bitchute.com", r"/search/?", ("query", "q")),
    Engine("odysee", "odysee.com", r"/\$/search/?", ("q",)),
    Engine("twitch", "twitch.tv", r"/search/?", ("term",)),
    Engine("amazon", "amazon.*", r"/s(?:/.*)?", ("k", "field-keywords")),
    Engine("ebay", "ebay.*", r"/sch/.*", ("_nkw",)),
)


class _Compiled(NamedTuple):
    engine: Engine
    host: re.Pattern[str]
    paths: re.Pattern[str]
    path_term: re.Pattern[str] | None


def _brand(host: str) -> str:
    """The label a host pattern is filed under: the one just before the public suffix."""
    labels = host.split(".")
    return labels[-2] if labels[-1] == "*" or len(labels) >= 2 else labels[0]


def _host_pattern(host: str) -> re.Pattern[str]:
    wild = host.endswith(".*")
    body = re.escape(host[:-2]) + r"\." + _COUNTRY if wild else re.escape(host)
    return re.compile(r"(?:[a-z0-9-]+\.)*" + body)


def _compile(engines: tuple[Engine, ...]) -> dict[str, list[_Compiled]]:
    table: dict[str, list[_Compiled]] = {}
    for engine in engines:
        compiled = _Compiled(
            engine,
            _host_pattern(engine.host),
            re.compile(engine.paths, re.IGNORECASE),
            re.compile(engine.path_term, re.IGNORECASE) if engine.path_term else None,
        )
        table.setdefault(_brand(engine.host), []).append(compiled)
    return table


_BY_BRAND = _compile(ENGINES)
# Every host an engine could match has one of these labels (`is_search_site`).
BRAND_LABELS = frozenset(_BY_BRAND)


def _decode(raw: str, *, plus: bool) -> str:
    """%-decode (and `+` → space in a query) up to twice more if escapes remain: a double-encoded
    query should not slip past as "zorblax%2520front"."""
    value = unquote_plus(raw) if plus else unquote(raw)
    for _ in range(2):
        if not _ESCAPE.search(value):
            break
        value = unquote(value)
    return value


def _tidy(value: str) -> str:
    return _SPACES.sub(" ", value[: MAX_TERMS * 2]).strip()[:MAX_TERMS]


def _param(query: str, names: tuple[str, ...]) -> str | None:
    """Every non-empty value of every listed parameter, decoded, in the engine's order of
    preference and then as they came, each distinct value once, joined by " | ". A page can be
    asked `q=maths&q=<terms>` or `q=maths&oq=<terms>`: an engine reads more than the first."""
    values: dict[str, dict[str, None]] = {}
    budget = MAX_TERMS
    for field in query[:MAX_QUERY].split("&"):
        name, sep, raw = field.partition("=")
        if not sep:
            continue
        if "%" in name or "+" in name:
            name = unquote_plus(name)
        if name in names and budget > 0:
            terms = _tidy(_decode(raw[:_MAX_FIELD], plus=True))
            if terms:
                values.setdefault(name, {})[terms] = None
                budget -= len(terms)
    if not values:
        return None
    if len(values) == 1:  # the common case: one parameter, one value (already within MAX_TERMS)
        (only,) = values.values()
        if len(only) == 1:
            return next(iter(only))
    found = dict.fromkeys(v for name in names for v in values.get(name, ()))
    return " | ".join(found)[:MAX_TERMS]


def _lookup(host: str, path: str, query: str) -> SearchQuery | None:
    for label in host.split("."):
        candidates = _BY_BRAND.get(label)
        if not candidates:
            continue
        for row in candidates:
            if not row.host.fullmatch(host):
                continue
            if row.path_term is not None:
                match = row.path_term.fullmatch(unquote(path) if "%" in path else path)
                if match:
                    terms = _tidy(_decode(match.group("term")[:_MAX_FIELD], plus=False))
                    terms = terms.replace("_", " ") if row.engine.name == "wikipedia" else terms
                    if terms:
                        return SearchQuery(row.engine.name, terms)
            if query and row.paths.fullmatch(path):
                found = _param(query, row.engine.params)
                if found:
                    return SearchQuery(row.engine.name, found)
    return None


def extract_search(host: str, path: str, query: str) -> SearchQuery | None:
    """The search in a request, or None. Never raises, whatever the input."""
    if not host or not isinstance(host, str):
        return None
    if not isinstance(path, str) or not isinstance(query, str):
        return None
    if len(host) > 253 or len(path) > MAX_QUERY:
        return None
    try:
        return _lookup(host, path or "/", query)
    except (ValueError, TypeError, re.error):  # pragma: no cover - a last guard for odd input
        return None


def is_search_site(host: str) -> bool:
    """Whether any engine in the table could match this host (the policy caches the answer to
    skip query parsing for every other site)."""
    if not host or not isinstance(host, str) or len(host) > 253:
        return False
    labels = host.split(".")
    if _BY_BRAND.keys().isdisjoint(labels):
        return False  # the common case, in one pass in C
    for label in labels:
        for row in _BY_BRAND.get(label, ()):
            if row.host.fullmatch(host):
                return True
    return False
