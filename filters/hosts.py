"""One canonical form for every spelling of a host: case, trailing dots, IDN, disguised IPs.

`BAD.TEST.`, `%62ad.test`, `ｂａｄ．ｔｅｓｔ`, `3232235777` and `[::ffff:c0a8:101]` are each one
host to a browser. `normalise_host` gives the form lists match against (lowercase ASCII domains,
dotted-quad IPv4, compressed IPv6) and the evasions it undid. Cached and never raises.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache
from typing import Literal

import idna

from filters.escapes import percent_decode

HostKind = Literal["domain", "ipv4", "ipv6", "malformed", "empty"]

CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})
_DOMAIN_RE = re.compile(r"(?:[a-z0-9_-]{1,63}\.)*[a-z0-9_-]{1,63}")
# A host already in canonical form: lowercase ASCII labels, no trailing dot, and a last label
# that is not a number (WHATWG reads "ends in a number" as IPv4). With no "xn--" label and at
# most 253 characters, `_normalise_in_full` returns it unchanged with no anomalies: see there.
_CANONICAL_DOMAIN_RE = re.compile(
    r"(?:[a-z0-9_-]{1,63}\.)*(?![0-9]+\Z|0x[0-9a-f]*\Z)[a-z0-9_-]{1,63}"
)
_HEX_NUMBER_RE = re.compile(r"0x[0-9a-f]*")
_IPV4_RE = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}")
_MAX_LABELS = 127
_MAX_HOST_CHARS = 1024  # far beyond any real host; longer is malformed without further work
_MAX_CACHED_HOST = 512  # longer hosts are not cached, so hostile input cannot fill memory


def anomaly_tags(anomalies: list[str]) -> tuple[str, ...]:
    """The evasions undone, each once, in the order found."""
    return tuple(dict.fromkeys(anomalies)) if anomalies else ()


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


def is_canonical_domain(raw: str) -> bool:
    """Whether `normalise_host(raw)` is `(raw, "domain", ())`: a domain already in canonical
    form. A plain one is told without the cache, which a Squid helper's new host always misses."""
    return _is_plain_domain(raw) or normalise_host(raw) == (raw, "domain", ())


def _is_plain_domain(raw: str) -> bool:
    # Only ASCII without "xn--" can be plain: IDNA and look-alike work (filters.confusables)
    # only ever applies to non-ASCII or punycode hosts, which go the full way.
    if len(raw) > 253 or "xn--" in raw:
        return False
    return _CANONICAL_DOMAIN_RE.fullmatch(raw) is not None


def _normalise_host(raw: str) -> tuple[str, HostKind, tuple[str, ...]]:
    # Most hosts a gateway sees are already canonical, and every new host pays for the full
    # path (about 2 µs).
    if _is_plain_domain(raw):
        return raw, "domain", ()
    return _normalise_in_full(raw)


def _normalise_in_full(raw: str) -> tuple[str, HostKind, tuple[str, ...]]:
    """Every spelling. For a host matching `_CANONICAL_DOMAIN_RE` (at most 253 characters, no
    "xn--") each step below is a no-op: at most 126 dots, no "[", "%", control character or
    ":", ASCII already lowercase with no trailing dot, no IDN label, a last label that is no
    number, and `_DOMAIN_RE` matches; so the answer is the host itself, "domain", no anomalies.
    tests/filters/test_host_fast_path.py holds the two ways equal."""
    if not raw:
        return "", "empty", ()
    anomalies: list[str] = []

    def malformed() -> tuple[str, HostKind, tuple[str, ...]]:
        anomalies.append("malformed-host")
        return raw.lower(), "malformed", anomaly_tags(anomalies)

    if len(raw) > _MAX_HOST_CHARS or _too_many_labels(raw):
        return malformed()
    host = raw
    if host.startswith("["):
        return _ipv6_host(host[1:-1], raw, anomalies) if host.endswith("]") else malformed()
    if "%" in host:
        anomalies.append("percent-encoded-host")
        try:
            host = percent_decode(host, anomalies, None).decode("utf-8")
        except UnicodeDecodeError:
            return malformed()
    if CONTROL_RE.search(host):
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
        return ipv4, "ipv4", anomaly_tags(anomalies)
    if len(host) > 253 or not _DOMAIN_RE.fullmatch(host):
        return malformed()
    return host, "domain", anomaly_tags(anomalies)


def _too_many_labels(raw: str) -> bool:
    """More than 127 labels cannot be a domain (253 characters hold at most 127)."""
    dots = raw.count(".")
    if not raw.isascii():
        dots += raw.count("\u3002") + raw.count("\uff0e") + raw.count("\uff61")
    return dots > _MAX_LABELS


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
        if not part or len(part) > 40 or not part.isascii():
            return None
        # int() would also take "-1", "+1", "1_0" and spaces: a hostile host is none of them.
        digits = part[2:] if part.startswith("0x") else part
        if digits and not all(c in "0123456789abcdef" for c in digits):
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
        return raw.lower(), "malformed", anomaly_tags(anomalies)
    anomalies.append("ip-literal")
    if address.ipv4_mapped is not None:
        anomalies.append("ipv4-mapped")
        return str(address.ipv4_mapped), "ipv4", anomaly_tags(anomalies)
    return address.compressed, "ipv6", anomaly_tags(anomalies)


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
