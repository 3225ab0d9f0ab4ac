"""One canonical form for every spelling of a URL and its host, so one list entry matches them all.

Browsers accept many spellings of the same address: `HTTP://BAD.TEST./`, `http://good.test@bad.test/`,
`http://%62ad.test/`, `http://ｂａｄ．ｔｅｓｔ/`, `http://3232235777/`, `http://[::ffff:c0a8:101]/`,
`http://bad.test/a/../%2562ad`. A filter that compares strings is evaded by each of them (issue 2
point 1). `normalise_url` follows what browsers do (the WHATWG URL standard) closely enough that
the form we match is the address the browser really visits, and records every evasion it undid as
a short stable tag in `anomalies`, so the policy can block or flag the trick itself.

Pure and fast: no network, no I/O; host normalisation is cached. Nothing here raises on bad input:
any `str` gives a `NormalisedURL`, a host that cannot be made canonical is `host_kind="malformed"`.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, NamedTuple

import idna

HostKind = Literal["domain", "ipv4", "ipv6", "malformed", "empty"]

DEFAULT_PORTS: dict[str, int] = {"http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21}
SPECIAL_SCHEMES = frozenset(DEFAULT_PORTS)

# WHATWG strips leading and trailing C0 controls and spaces, and every tab and newline inside.
_C0_AND_SPACE = "".join(chr(c) for c in range(0x21))
_TAB_NEWLINE_RE = re.compile(r"[\t\n\r]")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_PORT_LIKE_RE = re.compile(r"\d*(?:/|$)")

# Percent-decoding works on bytes so that a multi-byte character split over two rounds of
# encoding still comes out whole.
_PCT_RUN_RE = re.compile(rb"(?:%[0-9A-Fa-f]{2})+")
# Decoding these in a query would change its structure (a=1%26b=2 is one parameter, not two).
_QUERY_KEEP_RE = re.compile(rb"[&=+#]")
_MAX_DECODE_ROUNDS = 4

# What must stay percent-encoded in the canonical form for it to parse back to itself.
_PATH_ENCODE_RE = re.compile(r"[\x00-\x20\x7f#?\\\ud800-\udfff]|%(?![0-9A-Fa-f]{2})")
_QUERY_ENCODE_RE = re.compile(r"[\x00-\x20\x7f#\ud800-\udfff]|%(?![0-9A-Fa-f]{2})")
_PATH_SLOW_RE = re.compile(r"%|//|/\.\.?(?:/|$)|[\x00-\x20\x7f\\\ud800-\udfff]")
_QUERY_SLOW_RE = re.compile(r"[%\x00-\x20\x7f\ud800-\udfff]")

_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})
_DOMAIN_RE = re.compile(r"(?:[a-z0-9_-]{1,63}\.)*[a-z0-9_-]{1,63}")
_HEX_NUMBER_RE = re.compile(r"0x[0-9a-f]*")
_IPV4_RE = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}")
_MAX_HOST_CHARS = 1024  # far beyond any real host; longer is malformed without further work
_MAX_CACHED_HOST = 512  # longer hosts are not cached, so hostile input cannot fill memory


@dataclass(frozen=True, slots=True)
class NormalisedURL:
    """A URL in canonical form, with the evasions that were undone to get it."""

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
    if _CONTROL_RE.search(s):
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
_PLAIN_URL_RE = re.compile(
    r"(https?)://([a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63})+)"
    r"(/[A-Za-z0-9._~!$&'()*+,;=:@/-]*)?(?:\?([A-Za-z0-9._~!$&'()*+,;=:@/?-]*))?"
)


def _plain_url(raw: str) -> NormalisedURL | None:
    match = _PLAIN_URL_RE.fullmatch(raw)
    if match is None:
        return None
    scheme, host, path, query = match.groups()
    if path and ("//" in path or "/." in path):
        return None
    canonical, kind, anomalies = normalise_host(host)
    if kind != "domain" or canonical != host or anomalies:
        return None
    return NormalisedURL(raw, scheme, host, "domain", None, path or "/", query or "")


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
        path = "/" + _canonical_component(parts.path, anomalies, query=True)
        query = _canonical_component(parts.query, anomalies, query=True)
        return NormalisedURL(raw, parts.scheme, "", "empty", None, path, query, _tags(anomalies))

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
    path = _canonical_path(parts.path, anomalies)
    query = _canonical_component(parts.query, anomalies, query=True)
    return NormalisedURL(raw, parts.scheme, host, kind, port, path, query, _tags(anomalies))


def _tags(anomalies: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(anomalies)) if anomalies else ()


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


# -- percent-encoding ------------------------------------------------------------------------------


def _percent_decode(text: str, anomalies: list[str], keep: re.Pattern[bytes] | None) -> bytes:
    """Decode %XX escapes, again and again while that changes something (%2562 -> %62 -> b).

    Escapes whose byte matches `keep` stay encoded, with uppercase hex, so both spellings agree.
    """
    data = text.encode("utf-8", "surrogatepass")

    def decode_run(m: re.Match[bytes]) -> bytes:
        decoded = bytes.fromhex(m.group().replace(b"%", b"").decode("ascii"))
        if keep is not None and keep.search(decoded):
            return keep.sub(lambda k: b"%%%02X" % k.group()[0], decoded)
        return decoded

    for round_no in range(_MAX_DECODE_ROUNDS):
        if b"%" not in data:
            break
        decoded = _PCT_RUN_RE.sub(decode_run, data)
        if decoded == data:
            break
        if round_no:
            anomalies.append("double-encoded")
        data = decoded
    return data


def _encode_char(m: re.Match[str]) -> str:
    char = m.group()
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, kept by surrogateescape
        return f"%{code - 0xDC00:02X}"
    return "".join(f"%{b:02X}" for b in char.encode("utf-8", "surrogatepass"))


def _canonical_component(text: str, anomalies: list[str], *, query: bool) -> str:
    if not text:
        return ""
    if query and not _QUERY_SLOW_RE.search(text):
        return text
    if "%" in text:
        keep = _QUERY_KEEP_RE if query else None
        data = _percent_decode(text, anomalies, keep)
        text = data.decode("utf-8", "surrogateescape")
    pattern = _QUERY_ENCODE_RE if query else _PATH_ENCODE_RE
    return pattern.sub(_encode_char, text)


def _canonical_path(path: str, anomalies: list[str]) -> str:
    if not path:
        return "/"
    if not _PATH_SLOW_RE.search(path):
        return path
    if "%" in path:
        path = _percent_decode(path, anomalies, None).decode("utf-8", "surrogateescape")
    if "//" in path or "/." in path:
        path = _remove_dot_segments(path, anomalies)
    return _PATH_ENCODE_RE.sub(_encode_char, path)


def _remove_dot_segments(path: str, anomalies: list[str]) -> str:
    """Resolve "." and ".." and collapse empty segments ("//"), as the server will."""
    segments = path.split("/")[1:]
    kept: list[str] = []
    for segment in segments:
        if segment == ".." or segment == ".":
            anomalies.append("dot-segments")
            if segment == ".." and kept:
                kept.pop()
        elif segment:
            kept.append(segment)
    if not kept:
        return "/"
    trailing = "/" if segments[-1] in ("", ".", "..") else ""
    return "/" + "/".join(kept) + trailing


# -- hosts -----------------------------------------------------------------------------------------


def normalise_host(raw: str) -> tuple[str, HostKind, tuple[str, ...]]:
    """The canonical host, its kind and the evasions undone to get it. Never raises.

    Domains come out as lowercase ASCII (punycode A-labels) without trailing dots; IPv4 in any
    browser-accepted spelling as a dotted quad; IPv6 compressed without brackets, except that an
    IPv4-mapped address becomes its IPv4. Anything else is "malformed", keeping the raw host
    lowercased so it can be shown.
    """
    if len(raw) > _MAX_CACHED_HOST:
        return _normalise_host_safely(raw)
    return _cached_host(raw)


@lru_cache(maxsize=65536)
def _cached_host(raw: str) -> tuple[str, HostKind, tuple[str, ...]]:
    return _normalise_host_safely(raw)


def _normalise_host_safely(raw: str) -> tuple[str, HostKind, tuple[str, ...]]:
    try:
        return _normalise_host(raw)
    except Exception:  # never let a hostile host escape as an exception
        return raw.lower(), "malformed", ("malformed-host",)


def _normalise_host(raw: str) -> tuple[str, HostKind, tuple[str, ...]]:
    if not raw:
        return "", "empty", ()
    anomalies: list[str] = []

    def malformed() -> tuple[str, HostKind, tuple[str, ...]]:
        anomalies.append("malformed-host")
        return raw.lower(), "malformed", _tags(anomalies)

    if len(raw) > _MAX_HOST_CHARS:
        return malformed()
    host = raw
    if host.startswith("["):
        return _ipv6_host(host[1:-1], raw, anomalies) if host.endswith("]") else malformed()
    if "%" in host:
        anomalies.append("percent-encoded-host")
        try:
            host = _percent_decode(host, anomalies, None).decode("utf-8")
        except UnicodeDecodeError:
            return malformed()
    if _CONTROL_RE.search(host):
        anomalies.append("control-chars")
        return malformed()
    if ":" in host:
        return _ipv6_host(host, raw, anomalies)

    if host.isascii():
        host = host.lower().rstrip(".")
        if "xn--" in host:
            anomalies.append("idn")
            ascii_host = _to_ascii(host, anomalies)
            if ascii_host is None:
                return malformed()
            host = ascii_host
    else:
        anomalies.append("idn")
        ascii_host = _to_ascii(host.translate(_DOTS).rstrip("."), anomalies)
        if ascii_host is None:
            return malformed()
        host = ascii_host.rstrip(".")
    if not host:
        return malformed()

    last = host.rpartition(".")[2]
    if last.isdigit() or _HEX_NUMBER_RE.fullmatch(last):  # WHATWG: "ends in a number" means IPv4
        ipv4 = _parse_ipv4(host)
        if ipv4 is None:
            return malformed()
        anomalies.append("ip-literal")
        if ipv4 != raw:  # any other spelling (numeric, full-width, trailing dot) hides the IP
            anomalies.append("obfuscated-ip")
        return ipv4, "ipv4", _tags(anomalies)
    if len(host) > 253 or not _DOMAIN_RE.fullmatch(host):
        return malformed()
    return host, "domain", _tags(anomalies)


def _to_ascii(host: str, anomalies: list[str]) -> str | None:
    """Unicode or punycode host to its A-label form: IDNA 2008 with UTS-46 mapping first."""
    try:
        return idna.encode(host, uts46=True, std3_rules=False, transitional=False).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        pass
    # IDNA 2003 (Python's codec) still resolves in browsers for names IDNA 2008 refuses, such as
    # symbols or an underscore beside Unicode letters; malformed only if that fails too.
    try:
        labels = unicodedata.normalize("NFKC", host).translate(_DOTS).lower().split(".")
        out: list[str] = []
        for label in labels:
            if label.isascii():
                if label.startswith("xn--"):
                    label[4:].encode("ascii").decode("punycode")  # raises if not valid punycode
                out.append(label)
            else:
                out.append(label.encode("idna").decode("ascii"))
    except (UnicodeError, ValueError):
        return None
    anomalies.append("idn-nonstandard")
    return ".".join(out)


def _parse_ipv4(host: str) -> str | None:
    """WHATWG IPv4 parser: decimal, 0x hex and 0-prefixed octal parts, 1 to 4 of them."""
    if _IPV4_RE.fullmatch(host) and not any(
        len(p) > 1 and p.startswith("0") for p in host.split(".")
    ):
        return host if all(int(p) <= 255 for p in host.split(".")) else None
    parts = host.split(".")
    if len(parts) > 4:
        return None
    numbers: list[int] = []
    for part in parts:
        if not part or len(part) > 40:
            return None
        try:
            if part.startswith("0x"):
                numbers.append(int(part[2:], 16) if len(part) > 2 else 0)
            elif len(part) > 1 and part.startswith("0"):
                numbers.append(int(part[1:], 8))
            else:
                numbers.append(int(part, 10))
        except ValueError:
            return None
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        return None
    value = numbers[-1]
    for i, n in enumerate(numbers[:-1]):
        value += n * 256 ** (3 - i)
    return str(ipaddress.IPv4Address(value))


def _ipv6_host(
    text: str, raw: str, anomalies: list[str]
) -> tuple[str, HostKind, tuple[str, ...]]:
    if "%" in text:  # a zone id (fe80::1%25eth0): local to the client, irrelevant to policy
        text = text.partition("%")[0]
        anomalies.append("ipv6-zone")
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError:
        anomalies.append("malformed-host")
        return raw.lower(), "malformed", _tags(anomalies)
    anomalies.append("ip-literal")
    if address.ipv4_mapped is not None:
        anomalies.append("ipv4-mapped")
        return str(address.ipv4_mapped), "ipv4", _tags(anomalies)
    return address.compressed, "ipv6", _tags(anomalies)


def parent_domains(host: str) -> Iterator[str]:
    """`a.b.test` -> `a.b.test`, `b.test`, `test`: the label-aligned suffixes a domain table checks.

    An IP address yields only itself: `2.3.4` is not a parent of `1.2.3.4`.
    """
    if not host:
        return
    yield host
    if ":" in host or _IPV4_RE.fullmatch(host):
        return
    dot = host.find(".")
    while dot != -1:
        if dot + 1 < len(host):
            yield host[dot + 1 :]
        dot = host.find(".", dot + 1)
