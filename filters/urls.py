"""One canonical form for every spelling of a URL and its host, so one list entry matches them all.

Browsers accept many spellings of the same address: `HTTP://BAD.TEST./`, `http://good.test@bad.test/`,
`http://%62ad.test/`, `http://ｂａｄ．ｔｅｓｔ/`, `http://3232235777/`, `http://[::ffff:c0a8:101]/`,
`http://bad.test/a/../%2562ad`. A filter that compares strings is evaded by each of them (issue 2
point 1). `normalise_url` follows what browsers do (the WHATWG URL standard) closely enough that
the form we match is the address the browser really visits, and records every evasion it undid as
a short stable tag in `anomalies`, so the policy can block or flag the trick itself.

Pure and fast: no network, no I/O; host normalisation is cached. Nothing here raises on bad input:
any `str` gives a `NormalisedURL`, a host that cannot be made canonical is `host_kind="malformed"`.
This module cuts a URL into its parts; `filters.hosts` canonicalises the host and
`filters.escapes` the path and query.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from filters.escapes import canonical_component, canonical_path
from filters.hosts import CONTROL_RE, HostKind, anomaly_tags, is_canonical_domain, normalise_host

DEFAULT_PORTS: dict[str, int] = {"http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21}
SPECIAL_SCHEMES = frozenset(DEFAULT_PORTS)

# WHATWG strips leading and trailing C0 controls and spaces, and every tab and newline inside.
_C0_AND_SPACE = "".join(chr(c) for c in range(0x21))
_TAB_NEWLINE_RE = re.compile(r"[\t\n\r]")
_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_PORT_LIKE_RE = re.compile(r"\d*(?:/|$)")


class NormalisedURL(NamedTuple):
    """A URL in canonical form, with the evasions that were undone to get it. A NamedTuple, as
    `Decision` is: immutable, and five times cheaper to build than a frozen dataclass, which
    mattered when every request builds one (about 1 µs of a 10 µs decision)."""

    raw: str
    scheme: str
    host: str
    host_kind: HostKind
    port: int | None
    path: str
    query: str
    anomalies: tuple[str, ...] = ()

    @property
    def match_key(self) -> str:
        """`host/path?query`, lowercased: what URL-prefix and regex lists match against."""
        if self.query:
            return f"{self.host}{self.path}?{self.query}".lower()
        return f"{self.host}{self.path}".lower()

    def url(self) -> str:
        """A canonical absolute URL for display and events (scheme defaults to http)."""
        query = f"?{self.query}" if self.query else ""
        if self.scheme and not self.host and self.scheme not in SPECIAL_SCHEMES:
            return f"{self.scheme}:{self.path[1:]}{query}"  # mailto:, data:, javascript:
        scheme = self.scheme or ("https" if self.port == 443 else "http")
        host = f"[{self.host}]" if self.host_kind == "ipv6" else self.host
        default = DEFAULT_PORTS.get(scheme)
        port = "" if self.port is None or self.port == default else f":{self.port}"
        return f"{scheme}://{host}{port}{self.path}{query}"


class RawParts(NamedTuple):
    """A URL cut into its parts as written, before any canonicalisation."""

    scheme: str  # lowercase, "" when none
    authority: str | None  # None for an opaque URL such as mailto:x
    path: str
    query: str
    anomalies: tuple[str, ...]


def split_url(raw: str) -> RawParts:
    """Cut `raw` into scheme, authority, path and query the way a browser reads it.

    Tabs and newlines are dropped and backslashes read as "/", as browsers do; the fragment is
    dropped. Inputs without a scheme (`bad.test/x`, `bad.test:443`, `//bad.test/x`) are read as
    an authority followed by a path, the way squidGuard lines and CONNECT targets are written.
    """
    anomalies: list[str] = []
    s = raw.strip(_C0_AND_SPACE)
    if _TAB_NEWLINE_RE.search(s):
        s = _TAB_NEWLINE_RE.sub("", s)
        anomalies.append("control-chars")
    if CONTROL_RE.search(s):
        anomalies.append("control-chars")
    s = s.partition("#")[0]
    before, _, query = s.partition("?")
    if "\\" in before:
        before = before.replace("\\", "/")
        anomalies.append("backslash")

    scheme = ""
    rest = before
    m = _SCHEME_RE.match(before)
    if m:
        candidate = m.group(1).lower()
        after = before[m.end() :]
        if after.startswith("/") or candidate in SPECIAL_SCHEMES:
            scheme, rest = candidate, after
        elif not (_PORT_LIKE_RE.match(after) or "." in candidate):
            return RawParts(candidate, None, after, query, tuple(anomalies))
        # else "bad.test:443" or "localhost:8080/x": an authority with a port, not a scheme

    if scheme in SPECIAL_SCHEMES or (not scheme and rest.startswith("//")):
        rest = rest.lstrip("/")  # browsers ignore any number of slashes here
    elif scheme or rest.startswith("/"):
        if not rest.startswith("//"):
            return RawParts(scheme, "", rest, query, tuple(anomalies))
        rest = rest[2:]
    slash = rest.find("/")
    if slash == -1:
        return RawParts(scheme, rest, "", query, tuple(anomalies))
    return RawParts(scheme, rest[:slash], rest[slash:], query, tuple(anomalies))


# Most URLs a gateway sees are already canonical: lowercase host, no escapes, no dot segments.
# Those skip the full parse (about 4x faster); anything unusual takes the careful path below.
_PLAIN_HOST = r"[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63})+"
_PLAIN_QUERY = r"(?:\?([A-Za-z0-9._~!$&'()*+,;=:@/?-]*))?"
_PLAIN_REST = rf"(/[A-Za-z0-9._~!$&'()*+,;=:@/-]*)?{_PLAIN_QUERY}"
_PLAIN_URL_RE = re.compile(rf"(https?)://({_PLAIN_HOST}){_PLAIN_REST}")
# A plain host, then a path of segments neither empty nor starting with "." (so no "//" and no
# "/.", which canonical form rewrites), then any plain query: `canonical_url_of` in one match.
_SEGMENT = r"[A-Za-z0-9_~!$&'()*+,;=:@-][A-Za-z0-9._~!$&'()*+,;=:@-]*"
_CANONICAL_REST_RE = re.compile(
    rf"{_PLAIN_HOST}/(?:{_SEGMENT}(?:/{_SEGMENT})*/?)?{_PLAIN_QUERY}"
)


def _plain_parts(raw: str) -> tuple[str, str, str, str] | None:
    """(scheme, host, path, query) of a URL already in canonical form, else None."""
    match = _PLAIN_URL_RE.fullmatch(raw)
    if match is None:
        return None
    scheme, host, path, query = match.groups()
    if path and ("//" in path or "/." in path):
        return None
    if not is_canonical_domain(host):
        return None
    return scheme, host, path or "/", query or ""


def _plain_url(raw: str) -> NormalisedURL | None:
    parts = _plain_parts(raw)
    if parts is None:
        return None
    scheme, host, path, query = parts
    return NormalisedURL(raw, scheme, host, "domain", None, path, query)


def canonical_url(raw: str) -> str:
    """`normalise_url(raw).url()`, without building the parts for a URL already in plain form
    (the Squid helper's JSON answer names it for every line)."""
    parts = _plain_parts(raw) if len(raw) < 2048 else None
    if parts is None:
        return normalise_url(raw).url()
    scheme, host, path, query = parts
    return f"{scheme}://{host}{path}?{query}" if query else f"{scheme}://{host}{path}"


def canonical_url_of(raw: str, host: str) -> str:
    """`canonical_url(raw)` for a URL that is `http://` or `https://`, then `host`, then "/" or
    nothing, where `host` is a canonical domain (as `filters.hostanswers.answerable_host`
    names it). One match tells a URL already in plain form, with nothing built: the Squid
    helper asks this for every line of a host it has answered before."""
    match = _CANONICAL_REST_RE.fullmatch(raw, raw.index("//") + 2) if len(raw) < 2048 else None
    if match is None:
        return canonical_url(raw)  # not plain, or a path that canonical form rewrites
    # A "?" ends the URL only in an empty query, which canonical form drops.
    return raw if raw[-1] != "?" or match.group(1) else raw[:-1]


def normalise_url(raw: str) -> NormalisedURL:
    """The canonical form of any string read as a URL. Never raises."""
    try:
        if len(raw) < 2048:
            plain = _plain_url(raw)
            if plain is not None:
                return plain
        return _normalise_url(raw)
    except Exception:  # the last line of defence: hostile input must still get an answer
        text = raw if isinstance(raw, str) else repr(raw)
        return NormalisedURL(text, "", "", "malformed", None, "/", "", ("internal-error",))


def _normalise_url(raw: str) -> NormalisedURL:
    parts = split_url(raw)
    anomalies = list(parts.anomalies)
    if parts.authority is None:  # opaque: mailto:, data:, javascript:
        path = "/" + canonical_component(parts.path, anomalies, query=True)
        query = canonical_component(parts.query, anomalies, query=True)
        tags = anomaly_tags(anomalies)
        return NormalisedURL(raw, parts.scheme, "", "empty", None, path, query, tags)

    authority = parts.authority
    if "@" in authority:
        authority = authority.rpartition("@")[2]
        anomalies.append("userinfo")
    host_raw, port_raw = _split_host_port(authority)
    port: int | None = None
    if port_raw:
        digits = port_raw.lstrip("0") or "0"
        if digits.isascii() and digits.isdigit() and len(digits) <= 5 and int(digits) <= 65535:
            port = int(digits)
            if port == DEFAULT_PORTS.get(parts.scheme):
                port = None
        else:
            anomalies.append("bad-port")
    host, kind, host_anomalies = normalise_host(host_raw)
    anomalies.extend(host_anomalies)
    path = canonical_path(parts.path, anomalies)
    query = canonical_component(parts.query, anomalies, query=True)
    return NormalisedURL(raw, parts.scheme, host, kind, port, path, query, anomaly_tags(anomalies))


def _split_host_port(authority: str) -> tuple[str, str]:
    if authority.startswith("["):
        end = authority.find("]")
        tail = authority[end + 1 :] if end != -1 else ""
        if end == -1 or (tail and not tail.startswith(":")):
            return authority, ""  # no closing bracket, or junk after it: malformed
        return authority[: end + 1], tail[1:]
    if authority.count(":") > 1:
        return authority, ""  # an unbracketed IPv6 literal, or malformed either way
    host, _, port = authority.partition(":")
    return host, port
