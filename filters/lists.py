"""Reading list files: every entry keeps the file and line it came from (DESIGN.md contract 2).

Formats, chosen by the policy's `format:` key or else by the file name:

- `domains`  — one domain per line, `#` comments (UT1/squidGuard `domains` files). `*.x` and `.x`
  are accepted and mean the same as `x`: a domain always covers its subdomains, label-aligned.
  dnsmasq (`address=/x/0.0.0.0`, `server=/x/`) and adblock (`||x^`) host lines are read too
  (`filters/hostlines.py`); `dnsmasq` and `adblock` are names for the same format.
- `hosts`    — a hosts file (`0.0.0.0 bad.test other.test`); `localhost` lines are skipped.
- `urls`     — squidGuard `urls`: `host/path` prefixes (a scheme, if present, is ignored).
- `expressions` / `regex` — one regular expression per line, run by RE2 (linear time, so a hostile
  URL cannot make a list entry take seconds); matched against `host/path?query`, lowercased.
- `phrases`  — one search phrase per line, or an e2guardian banned phrase (`<phrase>`,
  `<a>,<b>`: all of the words).
- `weighted` — e2guardian weighted phrases: `<phrase><weight>`, combinations `<a>,<b><weight>`.
  Both phrase formats follow e2guardian's `.Include<path>` (`filters/includes.py`).

A UTF-8 byte-order mark at the start of any list is ignored.
- `yaml`     — the project's own format: `entries:` of `{domain|url|regex|phrase: ..., ...}`.

Nothing here raises on bad content: problems are collected as `ListProblem(file, line, reason)`,
so `lists validate` can show them all and a reload can refuse a bad change and keep the old policy.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import re2
import yaml

from filters.hostlines import foreign_domains, foreign_line
from filters.hosts import normalise_host
from filters.includes import read_with_includes
from filters.listentries import EntryKind, ListEntry, ListFile, excerpt
from filters.listentries import ListProblem as ListProblem  # re-exported: the public name
from filters.urls import normalise_url

FORMATS: tuple[str, ...] = (
    "domains",
    "dnsmasq",
    "adblock",
    "hosts",
    "urls",
    "expressions",
    "phrases",
    "weighted",
    "yaml",
)

# Lists are data edited by people: a few megabytes of junk in one line is a mistake, not a rule.
MAX_LINE = 4096

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
_WEIGHTED_LINE = re.compile(r"^((?:\s*<[^<>]+>\s*,?)+)\s*<\s*(-?\d+)\s*>\s*$")
_WEIGHTED_PART = re.compile(r"<([^<>]+)>")
_BANNED_LINE = re.compile(r"^(?:\s*<[^<>]+>\s*,?)+$")
_HOSTS_SKIP = frozenset({"localhost", "localhost.localdomain", "local", "broadcasthost", "0.0.0.0"})


def guess_format(path: Path) -> str:
    """The format a file's name suggests; UT1/squidGuard folders use bare names."""
    name = path.name.lower()
    if name.endswith((".yaml", ".yml")):
        return "yaml"
    for fmt in ("domains", "hosts", "urls", "expressions", "phrases", "weighted"):
        if name == fmt or name.endswith("." + fmt):
            return fmt
    if name.endswith(".regex"):
        return "expressions"
    if name.endswith(".txt") or name.endswith(".list"):
        return "domains"
    return "domains"


def read_list(
    path: Path,
    fmt: str | None = None,
    *,
    display: str | None = None,
    on_domain: Callable[[str, int], None] | None = None,
    root: Path | None = None,
) -> ListFile:
    """Read one list file. Never raises: an unreadable file is a problem at line 0.

    `root` is the policy folder: the `.Include<...>` lines of phrase lists may name files
    inside it only (the list's own folder when not given).

    With `on_domain`, domain entries of `domains` and `hosts` files are handed to it as
    (domain, line) instead of being kept: a million-line list then never exists as a million
    objects (the policy adds them straight to its table).
    """
    fmt = fmt or guess_format(path)
    fmt = "domains" if fmt in ("dnsmasq", "adblock") else fmt
    bulk = on_domain if fmt in ("domains", "hosts") else None
    result = ListFile(path=path, display=display or str(path), format=fmt, on_domain=bulk)
    if fmt not in FORMATS:
        result.problem(0, f"unknown list format {fmt!r}: use one of {', '.join(FORMATS)}")
        return result
    try:
        # Line by line, not one big decode: a reload in a worker thread then never holds the
        # interpreter for long, so decisions on other threads keep flowing.
        with path.open(encoding="utf-8-sig", errors="replace") as handle:
            if fmt == "yaml":
                _read_yaml(handle.read(), result)
                return result
            reader = _LINE_READERS[fmt]
            if fmt in ("phrases", "weighted"):
                read_with_includes(handle, result, reader, _lines, root or path.parent)
                return result
            for number, line in _lines(handle, result):
                reader(line, number, result)
    except OSError as exc:
        result.problem(0, f"cannot read the list ({exc.strerror or exc}): check the path")
    return result


def _lines(lines: Iterable[str], result: ListFile) -> Iterator[tuple[int, str]]:
    for number, raw in enumerate(lines, start=1):
        if len(raw) > MAX_LINE:
            result.problem(number, f"line is longer than {MAX_LINE} characters: split or remove it")
            continue
        line = raw.split("#", 1)[0].strip() if "#" in raw else raw.strip()
        if line:
            yield number, line


# Already canonical: lowercase ASCII labels and a final label that starts with a letter (so not
# an IPv4 address). Such lines skip host normalisation, the bulk of a UT1 list's load time.
_PLAIN_DOMAIN = re.compile(r"(?:[a-z0-9_-]{1,63}\.)+[a-z][a-z0-9-]{0,62}")


def _domain_entry(token: str, number: int, result: ListFile) -> None:
    bulk = result.on_domain is not None and len(token) <= 253 and "xn--" not in token
    if bulk and result.on_domain is not None and _PLAIN_DOMAIN.fullmatch(token):
        result.on_domain(token, number)
        return
    token = token.strip()
    if token.startswith("*."):
        token = token[2:]
    token = token.lstrip(".")
    if "/" in token or " " in token or "\t" in token:
        result.problem(
            number,
            f"{excerpt(token)} is not a domain (it has a path or spaces): put URL prefixes in "
            "a urls list",
        )
        return
    host, kind, _ = normalise_host(token)
    if kind in ("malformed", "empty"):
        result.problem(number, f"{excerpt(token)} is not a valid domain or IP address")
        return
    if result.on_domain is not None:
        result.on_domain(host, number)
        return
    result.entries.append(ListEntry("domain", host, number))


def _read_domain_line(line: str, number: int, result: ListFile) -> None:
    if not foreign_line(line):
        _domain_entry(line, number, result)
        return
    domains, problem = foreign_domains(line)
    if problem:
        result.problem(number, problem)
    for domain in domains:
        _domain_entry(domain, number, result)


def _read_hosts_line(line: str, number: int, result: ListFile) -> None:
    parts = line.split()
    if len(parts) < 2:
        result.problem(number, "a hosts line needs an address and at least one name")
        return
    for name in parts[1:]:
        if name.lower() in _HOSTS_SKIP:
            continue
        _domain_entry(name, number, result)


def _url_prefix(value: str) -> str | None:
    """`host/path` as the URL table stores it, or None if there is no usable host."""
    normalised = normalise_url(value)
    if normalised.host_kind in ("malformed", "empty"):
        return None
    return normalised.match_key


def _read_url_line(line: str, number: int, result: ListFile) -> None:
    prefix = _url_prefix(line)
    if prefix is None:
        result.problem(number, f"{excerpt(line)} is not a URL prefix of the form host/path")
        return
    result.entries.append(ListEntry("url", prefix, number))


def regex_problem(pattern: str) -> str | None:
    """Why RE2 refuses a pattern, or None if it compiles."""
    try:
        re2.compile(pattern, options=_RE2_OPTIONS)
    except re2.error as exc:
        detail = exc.args[0] if exc.args else exc
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        return (
            f"regular expression {excerpt(pattern)} is not valid for RE2 ({detail}); "
            "back-references and look-arounds are not supported"
        )
    return None


def _read_regex_line(line: str, number: int, result: ListFile) -> None:
    problem = regex_problem(line)
    if problem:
        result.problem(number, problem)
        return
    result.entries.append(ListEntry("regex", line, number))


def _read_phrase_line(line: str, number: int, result: ListFile) -> None:
    if line.startswith("<"):  # an e2guardian banned phrase: <phrase> or <a>,<b>
        if not _BANNED_LINE.match(line) or line.rstrip().endswith(","):
            result.problem(number, "expected <phrase> or <phrase>,<phrase>, e.g. <zorblax front>")
            return
        words = [w.strip() for w in _WEIGHTED_PART.findall(line) if w.strip()]
        if not words:
            result.problem(number, f"{excerpt(line)} has no words between its < >")
            return
        line = " ".join(words)
    result.entries.append(ListEntry("phrase", line, number))


def parse_weighted(line: str) -> tuple[tuple[str, ...], int] | None:
    """`<a><10>` or `<a>,<b><-5>` into (words, weight); None if the line is not of that shape."""
    match = _WEIGHTED_LINE.match(line)
    if not match:
        return None
    words = tuple(w.strip() for w in _WEIGHTED_PART.findall(match.group(1)) if w.strip())
    if not words:
        return None
    return words, int(match.group(2))


def _read_weighted_line(line: str, number: int, result: ListFile) -> None:
    parsed = parse_weighted(line)
    if parsed is None:
        result.problem(
            number, "expected <phrase><weight> or <phrase>,<phrase><weight>, e.g. <zorblax><40>"
        )
        return
    words, weight = parsed
    result.entries.append(
        ListEntry("weighted", " + ".join(words), number, weight=weight, words=words)
    )


_LINE_READERS = {
    "domains": _read_domain_line,
    "hosts": _read_hosts_line,
    "urls": _read_url_line,
    "expressions": _read_regex_line,
    "phrases": _read_phrase_line,
    "weighted": _read_weighted_line,
}


# --- the project's own YAML format -------------------------------------------------------------

_YAML_KINDS: tuple[EntryKind, ...] = ("domain", "url", "regex", "phrase", "weighted")


def load_yaml_nodes(text: str) -> yaml.Node | None:
    """Compose YAML to nodes so every value keeps its line (safe: no tags, no objects)."""
    return yaml.compose(text, Loader=yaml.SafeLoader)


def node_line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def mapping_items(node: yaml.Node) -> Iterator[tuple[str, yaml.Node]]:
    if not isinstance(node, yaml.MappingNode):
        return
    for key, value in node.value:
        yield str(key.value), value


def _read_yaml(text: str, result: ListFile) -> None:
    try:
        root = load_yaml_nodes(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 0
        result.problem(line, f"not valid YAML: {getattr(exc, 'problem', exc)}")
        return
    if root is None:
        return
    if not isinstance(root, yaml.MappingNode):
        result.problem(node_line(root), "a YAML list needs a mapping with an `entries:` key")
        return
    top = dict(mapping_items(root))
    result.category = _scalar(top.get("category"))
    result.category_line = node_line(top["category"]) if "category" in top else 0
    entries = top.get("entries")
    if entries is None:
        result.problem(node_line(root), "no `entries:` key: add `entries: []` for an empty list")
        return
    if not isinstance(entries, yaml.SequenceNode):
        result.problem(node_line(entries), "`entries:` must be a list")
        return
    for item in entries.value:
        _read_yaml_entry(item, result)


def _scalar(node: yaml.Node | None) -> str | None:
    if isinstance(node, yaml.ScalarNode) and node.value != "":
        return str(node.value)
    return None


def _read_yaml_entry(item: yaml.Node, result: ListFile) -> None:
    number = node_line(item)
    if isinstance(item, yaml.ScalarNode):
        # A bare string is a domain: the shortest way for IT staff to add one.
        _domain_entry(str(item.value), number, result)
        return
    if not isinstance(item, yaml.MappingNode):
        result.problem(number, "an entry must be a domain or a mapping like {domain: bad.test}")
        return
    fields = {key: _scalar(value) for key, value in mapping_items(item)}
    kinds = [k for k in _YAML_KINDS if fields.get(k)]
    if len(kinds) != 1:
        result.problem(number, f"an entry needs exactly one of: {', '.join(_YAML_KINDS)}")
        return
    kind = kinds[0]
    value = fields[kind] or ""
    before = len(result.entries)
    if kind == "domain":
        _domain_entry(value, number, result)
    elif kind == "url":
        _read_url_line(value, number, result)
    elif kind == "regex":
        _read_regex_line(value, number, result)
    elif kind == "phrase":
        _read_phrase_line(value, number, result)
    else:
        _read_weighted_yaml(value, fields.get("weight"), number, result)
    if len(result.entries) == before:
        return
    entry = result.entries[-1]
    result.entries[-1] = ListEntry(
        entry.kind,
        entry.value,
        entry.line,
        category=fields.get("category"),
        severity=fields.get("severity"),
        weight=entry.weight,
        words=entry.words,
        note=fields.get("note") or fields.get("source"),
    )


def _read_weighted_yaml(value: str, weight: str | None, number: int, result: ListFile) -> None:
    if weight is None:
        result.problem(number, "a weighted entry needs `weight:` (a whole number, may be negative)")
        return
    try:
        points = int(weight)
    except ValueError:
        result.problem(number, f"weight {excerpt(weight)} is not a whole number")
        return
    words = tuple(w.strip() for w in value.split("+") if w.strip())
    result.entries.append(ListEntry("weighted", value, number, weight=points, words=words))
