"""Host-blocking lines in other tools' formats, read as domain-list entries.

Schools bring lists from DNS filters and ad blockers. In a `domains` list (or one declared
`format: dnsmasq` / `format: adblock`) these lines are understood:

- dnsmasq: `address=/bad.test/0.0.0.0`, `address=/bad.test/` (NXDOMAIN), `server=/bad.test/`,
  `local=/bad.test/`, several domains in one line (`address=/a.test/b.test/::`);
- adblock: `||bad.test^` (optionally `$important` or `$all`); `!` comments and the
  `[Adblock Plus 2.0]` header are skipped. A rule with other options (`$script`,
  `$third-party`) or a path blocks less than the whole site, so it is refused, never widened.
"""

from __future__ import annotations

from filters.listentries import excerpt

_DNSMASQ_KEYS = ("address=", "server=", "local=")
_ADBLOCK_WHOLE_SITE = frozenset({"", "important", "all", "document", "doc"})


def foreign_line(line: str) -> bool:
    """Whether a domains-list line is in the dnsmasq or adblock format (cheap first test)."""
    first = line[0]
    if first in "asl":
        return line.startswith(_DNSMASQ_KEYS)
    return first in "|!" or (first == "[" and line[:8].lower() == "[adblock")


def foreign_domains(line: str) -> tuple[list[str], str | None]:
    """(domains, problem) for a dnsmasq or adblock line; ([], None) for one to skip."""
    if line.startswith(("!", "[")):  # a comment or the [Adblock Plus 2.0] header
        return [], None
    if line.startswith("||"):
        return _adblock(line)
    if line.startswith(_DNSMASQ_KEYS):
        return _dnsmasq(line)
    return [], f"{excerpt(line)} is neither a domain nor a dnsmasq or adblock host rule"


def _adblock(line: str) -> tuple[list[str], str | None]:
    rule, _, options = line[2:].partition("$")
    whole_site = all(o.strip() in _ADBLOCK_WHOLE_SITE for o in options.split(","))
    if not rule.endswith("^") or not whole_site:
        return [], (
            f"{excerpt(line)} is an adblock rule for less than a whole site: only ||host^ lines "
            "(optionally $important) can be read as domains"
        )
    host = rule[:-1]
    if not host or any(c in host for c in "/*^|"):
        return [], f"{excerpt(line)} is not an adblock host rule of the form ||bad.test^"
    return [host], None


def _dnsmasq(line: str) -> tuple[list[str], str | None]:
    key, _, rest = line.partition("=")
    parts = rest.split("/")
    domains = [p for p in parts[1:-1] if p and p != "#"]
    if not rest.startswith("/") or len(parts) < 3 or not domains:
        return [], f"{excerpt(line)} is not a dnsmasq rule of the form {key}=/bad.test/..."
    return domains, None
