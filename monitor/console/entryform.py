"""What IT staff type into the console's policy forms, made safe or refused with the reason.

Every field is hostile: each has a length cap, control and invisible formatting characters
(bidi overrides, zero-width characters, NUL) are refused rather than stripped (what is saved is
what was typed, or nothing), a site must normalise to a host name, and an address must be
http or https (never `javascript:` or `data:`). `FieldError` carries the message to show.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

from filters.urls import normalise_host, normalise_url
from monitor.console.urlform import read_url

URL_MAX = 2048
SITE_MAX = 253
NOTE_MAX = 200
REASON_MAX = 500
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(.*)$", re.DOTALL)


class FieldError(ValueError):
    """A form field that cannot be used; the message says what to do."""


def _hidden(text: str, allowed: str = "") -> str | None:
    """The first control or invisible formatting character in `text`, as U+XXXX, else None."""
    for char in text:
        if char in allowed:
            continue
        if unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp"):
            return f"U+{ord(char):04X}"
    return None


def clean_text(value: str, label: str, limit: int, *, lines: bool = False) -> str:
    """A free-text field: stripped, at most `limit` characters, no control characters (line
    breaks and tabs only where the field has several lines)."""
    text = value.strip()
    if len(text) > limit:
        raise FieldError(f"{label} is longer than {limit} characters: shorten it.")
    found = _hidden(text, "\n\r\t" if lines else "")
    if found:
        raise FieldError(
            f"{label} contains a control or invisible character ({found}): type it again "
            "without it."
        )
    return text


def reason_of(value: str) -> str:
    reason = clean_text(value, "The reason", REASON_MAX, lines=True)
    if not reason:
        raise FieldError("Say why: every change to the policy is recorded with its reason.")
    return reason


def clean_url(value: str) -> str | None:
    """An http(s) URL from what was typed (a bare `host/path` gets http://), or None
    (`monitor.console.urlform.read_url` says why)."""
    url, problem = read_url(value, URL_MAX)
    return None if problem or _hidden(value) else url


def site_of(value: str) -> str:
    """The canonical host name a site entry lists, from a name, `*.name` or an http(s) URL of
    the whole site. Refused: other schemes, paths, spaces, and names that do not normalise."""
    text = value.strip()
    if not text:
        raise FieldError("Give the site's name, like site.example.")
    if len(text) > URL_MAX or _hidden(text) or any(c.isspace() for c in text):
        raise FieldError("A site name has no spaces or control characters.")
    scheme = _SCHEME.match(text)
    if scheme and not text.startswith("[") and not scheme.group(2).isdigit():
        url = clean_url(text)
        if url is None:
            raise FieldError(
                f"{scheme.group(1)[:20]!r} addresses cannot be listed: give a site name or an "
                "http:// or https:// address."
            )
        parts = urlsplit(url)
        if parts.path not in ("", "/") or parts.query:
            raise FieldError("That is one page, not a site: choose “this page and below”.")
        text = parts.netloc.rsplit("@", 1)[-1]
    text = text.removeprefix("*.").lstrip(".")
    if "/" in text or len(text) > SITE_MAX:
        raise FieldError("That is not a site name: give one like site.example.")
    host, kind, _ = normalise_host(text)
    if kind in ("malformed", "empty"):
        raise FieldError(f"{text[:60]!r} is not a valid site name or address.")
    return host


def page_of(value: str) -> str:
    """A URL prefix entry (`host/path`) from an http(s) address or `host/path`."""
    url, problem = read_url(value, URL_MAX)
    if problem:
        raise FieldError(problem)
    if _hidden(value):
        raise FieldError("The address contains an invisible character: type it again.")
    normalised = normalise_url(url)
    if normalised.host_kind in ("malformed", "empty"):
        raise FieldError("That address has no valid site name.")
    key = normalised.match_key
    if key.endswith("/") and key.count("/") == 1:
        raise FieldError("That is the whole site: choose “the whole site” instead.")
    return key


def note_of(value: str) -> str:
    return clean_text(value, "The note", NOTE_MAX)


def version_of_form(value: str) -> int | None:
    """The version a form was based on ("" before any was recorded)."""
    text = value.strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 9:
        raise FieldError("The form's version is not a number: reload the page.")
    return int(text)
