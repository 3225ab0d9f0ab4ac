"""How `prevent-monitor check` writes its answer lines: JSON by orjson, cut into templates where
the URLs go (one escape a line for a host answered before), and the parts of a Squid redirect
escaped as `urllib.parse.quote` would."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

import orjson

from filters.decision import Decision
from filters.explain import answer
from filters.urls import canonical_url_of

URL_MARK = "\x00url\x00"
CANONICAL_MARK = "\x00canonical\x00"
HOST_MARK = "\x00host\x00"
# A JSON line's parts around its URL and its canonical URL.
Template = tuple[str, str, str]
NO_TEMPLATE: Template = ("", "", "")  # the line cannot be cut: encode each one
# json's own string escape (C), as json and orjson escape a string (ensure_ascii=False).
json_string = json.encoder.encode_basestring
# For what orjson refuses: the standard encoder, compact, with everything but ASCII escaped.
_encode_escaped = json.JSONEncoder(separators=(",", ":")).encode


def encode(data: dict[str, Any]) -> str:
    """An answer line: orjson, compact and unescaped (a sixth of the standard encoder's cost),
    or, for text orjson refuses (a lone surrogate: a command-line argument's undecodable byte),
    the standard encoder with non-ASCII escaped, so the line can still be written out."""
    try:
        return orjson.dumps(data).decode()
    except TypeError:
        return _encode_escaped(data)


def unwritable(text: str) -> bool:
    """Whether `text` holds a lone surrogate, which no UTF-8 output can take as it is."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return True
    return False


# urllib.parse.quote(text) (safe "/"), as one str.translate for ASCII text: 1/8 of the cost.
_QUOTE_TABLE = {
    code: chr(code) if chr(code).isalnum() or chr(code) in "_.-~/" else f"%{code:02X}"
    for code in range(128)
}


# What a canonical URL, a category and a rule are nearly always made of: then only ":", "?",
# "=" and "&" need escaping, and four str.replace calls in C are a third of the translate's cost.
_PLAIN_TEXT = re.compile(r"[A-Za-z0-9_.~/:?=&-]*")


def quote_part(text: str) -> str:
    if _PLAIN_TEXT.fullmatch(text):
        return text.replace(":", "%3A").replace("?", "%3F").replace("=", "%3D").replace("&", "%26")
    return text.translate(_QUOTE_TABLE) if text.isascii() else quote(text)


def filled(head: str, middle: str, tail: str, url: str, host: str) -> str:
    """A JSON template with the line's URL (of `host`, answerable) and its canonical form put
    in: most URLs are already canonical, and then one escape serves both."""
    escaped = json_string(url)
    canonical = canonical_url_of(url, host)
    return f"{head}{escaped}{middle}{escaped if canonical == url else json_string(canonical)}{tail}"


def with_host(template: Template, host: str) -> Template:
    """`_allowed_json`'s template for one host: the host put in where its mark is."""
    head, middle, tail = template
    return head, middle.replace(json_string(HOST_MARK), json_string(host)), tail


def line_text(line: bytes) -> str:
    # Squid passes URLs as bytes; a stray invalid byte must not stop the helper.
    return line.decode("utf-8", errors="replace").rstrip("\r")


def cut(kept: Decision) -> Template | None:
    """`Checker._json(kept)` cut where the two URLs go, so a line costs two string escapes."""
    data = answer(kept, URL_MARK)
    data["normalised"] = CANONICAL_MARK
    line = encode(data)
    url, canonical = json_string(URL_MARK), json_string(CANONICAL_MARK)
    if line.count(url) != 1 or line.count(canonical) != 1:
        return None  # a mark inside another field (a NUL in a reason): encode each line
    head, _, rest = line.partition(url)
    middle, _, tail = rest.partition(canonical)
    return head, middle, tail
