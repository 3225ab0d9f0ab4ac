"""Reading a fetched feed body: `read_feed(body, content_type) -> FeedDocument`.

Two rules keep this safe:

- feedparser is only ever given a byte *stream* (`io.BytesIO`). Given a string it fetches URLs
  itself, and given a str *or bytes* that names a file it opens the file: a feed server that
  answered `/etc/passwd` would make it read our own disk.
- XML that declares entities is refused before feedparser sees it (defusedxml): a one-line
  "billion laughs" costs expat seconds and tens of megabytes before its own amplification limit
  trips, and external entities have no business in a news feed.

An empty body, an HTML page, or XML that is not well-formed (a feed cut off mid-entry) is an error
for the feed, never "no news". A feed whose bytes do not match its declared encoding (cp1252
bytes in a feed declared UTF-8) is read the way feedparser recovers it, with a warning.
"""

from __future__ import annotations

import calendar
import html
import io
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from xml.etree.ElementTree import ParseError

import feedparser
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as defused_fromstring

MAX_TITLE = 1000
MAX_SNIPPET = 2000
MAX_ENTRIES = 500  # a search alert carries 20-100; more is a misconfigured or hostile feed

_ENTITY_DECL_RE = re.compile(rb"<!\s*ENTITY", re.IGNORECASE)
_HTML_START_RE = re.compile(
    rb"\A\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)\b", re.I | re.S
)
_HTML_TITLE_RE = re.compile(rb"<title[^>]*>(.{0,200}?)</title>", re.I | re.S)
_SPACE_RE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One entry as the feed gave it, in plain text."""

    id: str | None
    link: str | None
    title: str
    snippet: str
    published: datetime | None
    source_url: str | None = None  # Google News: the publisher's site
    source_title: str | None = None


@dataclass(slots=True)
class FeedDocument:
    error: str | None = None  # the feed is unusable this time
    warning: str | None = None  # usable, but something a person should know
    title: str = ""
    entries: list[FeedEntry] = field(default_factory=list)
    dropped: int = 0  # entries beyond MAX_ENTRIES

    @property
    def ok(self) -> bool:
        return self.error is None


def read_feed(body: bytes, content_type: str = "") -> FeedDocument:
    """Parse a feed body. Never raises for anything in `body`."""
    try:
        return _read(body, content_type)
    except Exception as exc:  # feedparser on hostile input: a broken feed, not a broken watcher
        return FeedDocument(error=f"the feed could not be read: {exc!r}"[:500])


def _read(body: bytes, content_type: str) -> FeedDocument:
    if not body.strip():
        return FeedDocument(error="the server answered 200 with an empty body (no feed at all)")
    refused = _entity_problem(body)
    if refused:
        return FeedDocument(error=refused)
    if _HTML_START_RE.match(body[:4096]):
        return FeedDocument(error=_html_page(body))
    headers = {"content-type": content_type} if content_type else {}
    # No HTML sanitising or URI resolving: titles and snippets become plain text below, and
    # nothing from a feed is ever rendered as HTML (the digest escapes it).
    parsed = feedparser.parse(
        io.BytesIO(body), response_headers=headers, sanitize_html=False,
        resolve_relative_uris=False,
    )
    problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
    warning = None
    if problem is not None:
        if isinstance(problem, feedparser.CharacterEncodingOverride):
            warning = (
                "the feed's bytes do not match its declared encoding; read as "
                f"{parsed.get('encoding')}"
            )
        elif isinstance(problem, feedparser.NonXMLContentType):
            warning = f"served as {content_type or 'no content type'}, not as XML"
        else:
            return FeedDocument(error=f"the feed is not well-formed XML ({_describe(problem)}); "
                                "it may be cut off or broken")
    if not parsed.get("version"):
        if "html" in content_type.lower():
            return FeedDocument(error=_html_page(body))
        return FeedDocument(error="the body is not an RSS or Atom feed")
    entries = [_entry(e) for e in parsed.entries[:MAX_ENTRIES]]
    return FeedDocument(
        warning=warning,
        title=plain_text(parsed.feed.get("title", ""))[:MAX_TITLE],
        entries=entries,
        dropped=max(0, len(parsed.entries) - MAX_ENTRIES),
    )


def _html_page(body: bytes) -> str:
    title = _HTML_TITLE_RE.search(body[:65536])
    named = f" titled {plain_text(title.group(1).decode('utf-8', 'replace'))!r}" if title else ""
    return (
        f"the server sent an HTML page{named}, not a feed (a login page or an error page? "
        "open the feed URL in a browser)"
    )


def _entity_problem(body: bytes) -> str | None:
    message = (
        "the feed declares XML entities (an entity-expansion or external-entity attack, or a "
        "broken generator); refused without reading it"
    )
    try:
        defused_fromstring(body, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        return message
    except (ParseError, ValueError, UnicodeError):
        # Not well-formed to expat (often a wrong encoding): look for declarations by hand,
        # in UTF-16 too, before feedparser's own recovery gets to see it.
        probe = body
        if body[:2] in (b"\xff\xfe", b"\xfe\xff"):
            probe = body.decode("utf-16", "replace").encode("utf-8")
        if _ENTITY_DECL_RE.search(probe):
            return message
    return None


def _describe(problem: Any) -> str:
    text = str(problem) or type(problem).__name__
    line = getattr(problem, "getLineNumber", None)
    if callable(line):
        try:
            return f"line {line()}: {text}"
        except Exception:
            return text
    return text


def _entry(raw: Any) -> FeedEntry:
    source = raw.get("source") or {}
    return FeedEntry(
        id=_text_or_none(raw.get("id")),
        link=_text_or_none(raw.get("link")),
        title=plain_text(raw.get("title", ""))[:MAX_TITLE],
        snippet=_words_or_nothing(plain_text(raw.get("summary", ""))[:MAX_SNIPPET]),
        published=_when(raw.get("published_parsed") or raw.get("updated_parsed")),
        source_url=_text_or_none(source.get("href") or source.get("url")),
        source_title=_text_or_none(source.get("title")),
    )


def _words_or_nothing(text: str) -> str:
    """A snippet that is only "..." (an alert with nothing to quote) is no snippet."""
    return text if any(c.isalnum() for c in text) else ""


def _text_or_none(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def _when(parsed: time.struct_time | None) -> datetime | None:
    if parsed is None:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    except (OverflowError, ValueError, OSError):
        return None


# Elements whose content is code, not words: a browser never shows it, so neither do we (their
# text would otherwise become "alert(1)" or CSS in a title, and be classified).
_HIDDEN = frozenset({"script", "style", "template", "noembed", "noframes", "xmp", "iframe"})
_MAX_UNESCAPES = 3  # tags escaped once or twice (&amp;lt;script&amp;gt;) are still tags


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0  # inside a script or style element

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag in ("br", "p", "div", "li"):
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: Any) -> None:
        if tag not in _HIDDEN:  # <script/> opens nothing
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN and self._hidden:
            self._hidden -= 1


def _strip_tags(value: str) -> str:
    reader = _TextOnly()
    reader.feed(value)
    reader.close()
    return "".join(reader.parts)


def plain_text(value: Any) -> str:
    """Text without tags, script or style bodies, or entities, on one line: what a title or
    snippet says. Escaped markup (`&lt;script&gt;`, also double-escaped) is markup too."""
    if not isinstance(value, str) or not value:
        return ""
    for _ in range(_MAX_UNESCAPES):
        if "<" not in value and "&" not in value:
            break
        text = html.unescape(_strip_tags(value))  # double-escaped feeds (&amp;nbsp;)
        if text == value:
            break
        value = text
    else:
        value = _strip_tags(value)
    value = value.replace("\u00a0", " ")
    return _SPACE_RE.sub(" ", value).strip()
