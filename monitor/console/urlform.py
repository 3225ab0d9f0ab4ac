"""Reading what someone typed into a console form: a web address, a name. Every field is
hostile until read here.

`read_url()` takes an http(s) address only: a bare host gets `http://` (as a browser would),
any other scheme (`javascript:`, `data:`, `file:`) is refused with words saying so, and so are
over-long text, control characters (a NUL, a line break, a bidirectional override that would
make the address read differently on screen) and text that is not an address at all (an
unclosed IPv6 bracket, a port past 65535). The console only ever shows such text back as text
and never fetches it.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,30}$")
# Shown as text, these reorder what is around them: an address must not be able to disguise
# itself on the page that explains it.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def has_control(text: str) -> bool:
    """A control character, a line or paragraph separator, or a bidirectional control."""
    return any(
        ord(c) < 32 or c in _BIDI or unicodedata.category(c) in ("Cc", "Zl", "Zp")
        for c in text
    )


def read_url(text: str, limit: int) -> tuple[str, str]:
    """(the address, "") or ("", what is wrong with it, in words a person can act on)."""
    text = text.strip()
    if not text:
        return "", "Type a web address (for example https://www.example.test/page)."
    if len(text) > limit:
        return "", (
            f"The address is {len(text):,} characters long; at most {limit:,} are accepted."
        )
    if has_control(text):
        return "", (
            "The address contains a control character (such as a tab, a line break or a "
            "hidden direction mark): type or paste it again without it."
        )
    scheme, colon, rest = text.partition(":")
    if not colon or "://" not in text[: len(scheme) + 3]:
        if scheme.lower() in ("http", "https") and colon:
            return "", f"Write the address as {scheme.lower()}://… (two slashes after the colon)."
        if colon and _SCHEME_RE.match(scheme) and not rest[:1].isdigit():
            return "", _not_web(scheme)  # javascript:..., data:..., mailto:...; not host:port
        text = "http://" + text.lstrip("/")
    elif scheme.lower() not in ("http", "https"):
        return "", _not_web(scheme)
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that cannot be
    except ValueError:
        return "", (
            "This is not a web address that can be read: check the host name, the port "
            "(1 to 65535) and the brackets around an IPv6 address."
        )
    if not parts.hostname:
        return "", "The address has no host name (the part after http://)."
    return parts.geturl(), ""


def _not_web(scheme: str) -> str:
    shown = "this is not one"
    if _SCHEME_RE.match(scheme):
        shown = f'this one begins "{scheme.lower()}:"'
    return f"Only web addresses (http:// or https://) can be used; {shown}."


def read_name(text: str, limit: int) -> tuple[str, str]:
    """A short single-line name (a user name): (name, "") or ("", what is wrong)."""
    text = text.strip()
    if len(text) > limit:
        return "", f"The name is {len(text):,} characters long; at most {limit:,} are accepted."
    if has_control(text):
        return "", "The name contains a control character: type it again without it."
    return text, ""
