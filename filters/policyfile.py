"""Reading `policy.yaml`: categories, groups, lists, allowlist, study exemptions and schedules.

The file is read into plain frozen dataclasses (`PolicySpec`). Every mistake becomes a
`ListProblem` naming `file:line`, the key path and what to do, so `lists validate` can show all of
them at once; `filters.policy` compiles a spec only when it has no problems.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from filters.decision import Action, Kind, Severity
from filters.hosts import normalise_host
from filters.lists import FORMATS, ListProblem, load_yaml_nodes, mapping_items, node_line

ACTIONS = tuple(a.value for a in Action)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Category:
    name: str
    description: str = ""
    severity: Severity = Severity.MEDIUM
    action: Action = Action.BLOCK
    illegal: bool = False  # unlawful content (CTIRU/IWF): no allowlist or exemption lifts it
    kind: Kind = Kind.URL


@dataclass(frozen=True, slots=True)
class ListSpec:
    """One list file (or UT1/squidGuard folder member) and how its entries are used."""

    path: Path
    display: str
    format: str | None
    category: str | None
    use: str  # "block" (category lists), "search", "page", "allow"
    name: str
    line: int  # where the policy names it


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    users: frozenset[str] = frozenset()
    directory_groups: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()
    actions: dict[str, Action] = field(default_factory=dict)
    page_flag: int | None = None
    page_block: int | None = None
    safe_search: bool = True


@dataclass(frozen=True, slots=True)
class StudyExemption:
    """A teacher's time-boxed request, approved by the Prevent lead."""

    id: str
    reason: str
    approved_by: str
    groups: frozenset[str]
    categories: frozenset[str]
    sites: tuple[str, ...]  # canonical hosts; each covers its subdomains
    starts: datetime
    ends: datetime
    requested_by: str = ""
    source: str = ""

    def active(self, when: datetime) -> bool:
        return self.starts <= when < self.ends


@dataclass(frozen=True, slots=True)
class Schedule:
    """A time-of-day rule: in the window, these groups get these actions."""

    name: str
    groups: frozenset[str]
    days: frozenset[int]
    start: time
    end: time
    actions: dict[str, Action]
    source: str = ""

    def active(self, local: datetime) -> bool:
        if local.weekday() not in self.days:
            return False
        now = local.time()
        if self.start <= self.end:
            return self.start <= now < self.end
        return now >= self.start or now < self.end  # a window across midnight


@dataclass(slots=True)
class PolicySpec:
    path: Path
    school: str = "Our school"
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/London"))
    categories: dict[str, Category] = field(default_factory=dict)
    lists: list[ListSpec] = field(default_factory=list)
    groups: dict[str, Group] = field(default_factory=dict)
    default_group: str = "default"
    exemptions: list[StudyExemption] = field(default_factory=list)
    schedules: list[Schedule] = field(default_factory=list)
    page_flag: int = 50
    page_block: int = 100
    problems: list[ListProblem] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)  # every file read, for the version hash


# Categories the engine itself decides (hosts that cannot be listed); a policy may override them.
BUILTIN_CATEGORIES = {
    "malformed-host": Category(
        "malformed-host",
        "A web address whose host name is broken or disguised",
        Severity.MEDIUM,
        Action.BLOCK,
        kind=Kind.CIRCUMVENTION,
    ),
    "obfuscated-ip": Category(
        "obfuscated-ip",
        "A numeric address written in a disguised form (decimal, hex or octal)",
        Severity.MEDIUM,
        Action.BLOCK,
        kind=Kind.CIRCUMVENTION,
    ),
    "ip-literal": Category(
        "ip-literal",
        "A site reached by its numeric address instead of its name",
        Severity.LOW,
        Action.FLAG,
        kind=Kind.CIRCUMVENTION,
    ),
}


class _Reader:
    """Walks the composed YAML, keeping the key path and line for every complaint."""

    def __init__(self, spec: PolicySpec, display: str) -> None:
        self.spec = spec
        self.display = display
        self.base = spec.path.parent

    def problem(self, node: yaml.Node | None, keypath: str, reason: str) -> None:
        line = node_line(node) if node is not None else 0
        self.spec.problems.append(ListProblem(self.display, line, f"{keypath}: {reason}"))

    def scalar(self, node: yaml.Node | None, keypath: str) -> str | None:
        if node is None:
            return None
        if not isinstance(node, yaml.ScalarNode):
            self.problem(node, keypath, "expected a single value")
            return None
        return str(node.value)

    def boolean(self, node: yaml.Node | None, keypath: str, default: bool) -> bool:
        value = self.scalar(node, keypath)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in ("true", "yes", "on"):
            return True
        if lowered in ("false", "no", "off"):
            return False
        self.problem(node, keypath, f"{value!r} is not true or false")
        return default

    def integer(self, node: yaml.Node | None, keypath: str) -> int | None:
        value = self.scalar(node, keypath)
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            self.problem(node, keypath, f"{value!r} is not a whole number")
            return None

    def strings(self, node: yaml.Node | None, keypath: str) -> list[tuple[str, yaml.Node]]:
        if node is None:
            return []
        if isinstance(node, yaml.ScalarNode):
            return [(str(node.value), node)] if node.value else []
        if not isinstance(node, yaml.SequenceNode):
            self.problem(node, keypath, "expected a list")
            return []
        out = []
        for index, item in enumerate(node.value):
            value = self.scalar(item, f"{keypath}[{index}]")
            if value is not None:
                out.append((value, item))
        return out

    def action(self, node: yaml.Node | None, keypath: str, default: Action) -> Action:
        value = self.scalar(node, keypath)
        if value is None:
            return default
        try:
            return Action(value.strip().lower())
        except ValueError:
            self.problem(
                node, keypath, f"unknown action {value!r}: use one of {', '.join(ACTIONS)}"
            )
            return default

    def severity(self, node: yaml.Node | None, keypath: str, default: Severity) -> Severity:
        value = self.scalar(node, keypath)
        if value is None:
            return default
        try:
            return Severity.parse(value)
        except ValueError as exc:
            self.problem(node, keypath, str(exc))
            return default

    def known_keys(self, node: yaml.MappingNode, keypath: str, allowed: tuple[str, ...]) -> None:
        for key, value in mapping_items(node):
            if key not in allowed:
                where = f"{keypath}.{key}" if keypath else key
                self.problem(value, where, f"unknown key: expected one of {', '.join(allowed)}")

    def mapping(self, node: yaml.Node | None, keypath: str) -> dict[str, yaml.Node]:
        if node is None:
            return {}
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, keypath, "expected a mapping (key: value lines)")
            return {}
        return dict(mapping_items(node))

    def path(self, value: str) -> Path:
        candidate = Path(value).expanduser()
        return candidate if candidate.is_absolute() else self.base / candidate


TOP_KEYS = (
    "school",
    "timezone",
    "categories",
    "lists",
    "search_terms",
    "page_phrases",
    "page_thresholds",
    "allowlist",
    "groups",
    "default_group",
    "exemptions",
    "schedules",
)


def read_policy(path: Path) -> PolicySpec:
    """Read a policy file. Never raises: problems are in `spec.problems`."""
    spec = PolicySpec(path=path)
    reader = _Reader(spec, _display(path))
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        spec.problems.append(
            ListProblem(reader.display, 0, f"cannot read the policy ({exc.strerror or exc})")
        )
        return spec
    spec.files.append(path)
    try:
        root = load_yaml_nodes(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        spec.problems.append(
            ListProblem(
                reader.display, mark.line + 1 if mark else 0, f"not valid YAML: {exc}".strip()
            )
        )
        return spec
    if not isinstance(root, yaml.MappingNode):
        reader.problem(root, "(top)", "the policy must be a mapping of settings")
        return spec
    reader.known_keys(root, "", TOP_KEYS)
    top = dict(mapping_items(root))
    spec.school = reader.scalar(top.get("school"), "school") or spec.school
    _read_timezone(reader, top.get("timezone"))
    spec.categories.update(BUILTIN_CATEGORIES)
    _read_categories(reader, top.get("categories"))
    _read_lists(reader, top.get("lists"), "lists", "block")
    _read_lists(reader, top.get("search_terms"), "search_terms", "search")
    _read_lists(reader, top.get("page_phrases"), "page_phrases", "page")
    _read_lists(reader, top.get("allowlist"), "allowlist", "allow")
    thresholds = reader.mapping(top.get("page_thresholds"), "page_thresholds")
    spec.page_flag = reader.integer(thresholds.get("flag"), "page_thresholds.flag") or 50
    spec.page_block = reader.integer(thresholds.get("block"), "page_thresholds.block") or 100
    _read_groups(reader, top.get("groups"))
    default_group = reader.scalar(top.get("default_group"), "default_group")
    if default_group:
        if default_group not in spec.groups:
            reader.problem(top.get("default_group"), "default_group", "no such group")
        spec.default_group = default_group
    spec.groups.setdefault(spec.default_group, Group(spec.default_group))
    _read_exemptions(reader, top.get("exemptions"), "exemptions")
    _read_schedules(reader, top.get("schedules"))
    return spec


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _read_timezone(reader: _Reader, node: yaml.Node | None) -> None:
    name = reader.scalar(node, "timezone")
    if not name:
        return
    try:
        reader.spec.timezone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        reader.problem(node, "timezone", f"unknown time zone {name!r}: use e.g. Europe/London")


def _read_categories(reader: _Reader, node: yaml.Node | None) -> None:
    for name, value in reader.mapping(node, "categories").items():
        keypath = f"categories.{name}"
        fields = reader.mapping(value, keypath)
        if isinstance(value, yaml.MappingNode):
            reader.known_keys(
                value, keypath, ("description", "severity", "action", "illegal", "kind")
            )
        # A partial entry for a built-in category (say, only `action: flag` for ip-literal)
        # keeps the built-in description, severity and kind.
        base = reader.spec.categories.get(name, Category(name))
        kind_value = reader.scalar(fields.get("kind"), f"{keypath}.kind") or base.kind.value
        if kind_value not in ("url", "circumvention"):
            reader.problem(fields.get("kind"), f"{keypath}.kind", "use url or circumvention")
            kind_value = "url"
        reader.spec.categories[name] = Category(
            name=name,
            description=reader.scalar(fields.get("description"), f"{keypath}.description")
            or base.description,
            severity=reader.severity(fields.get("severity"), f"{keypath}.severity", base.severity),
            action=reader.action(fields.get("action"), f"{keypath}.action", base.action),
            illegal=reader.boolean(fields.get("illegal"), f"{keypath}.illegal", base.illegal),
            kind=Kind(kind_value),
        )


_UT1_MEMBERS = (("domains", "domains"), ("urls", "urls"), ("expressions", "expressions"))


def _read_lists(reader: _Reader, node: yaml.Node | None, key: str, use: str) -> None:
    if node is None:
        return
    if not isinstance(node, yaml.SequenceNode):
        reader.problem(node, key, "expected a list of {file: ..., category: ...}")
        return
    for index, item in enumerate(node.value):
        keypath = f"{key}[{index}]"
        if isinstance(item, yaml.ScalarNode):
            fields: dict[str, yaml.Node] = {"file": item}
        else:
            fields = reader.mapping(item, keypath)
            if isinstance(item, yaml.MappingNode):
                reader.known_keys(item, keypath, ("file", "folder", "format", "category", "name"))
        category = reader.scalar(fields.get("category"), f"{keypath}.category")
        if category and category not in reader.spec.categories:
            reader.problem(
                fields.get("category"),
                f"{keypath}.category",
                f"unknown category {category!r}: declare it under categories:",
            )
        if use == "block" and not category:
            reader.problem(item, keypath, "a block list needs a category")
        fmt = reader.scalar(fields.get("format"), f"{keypath}.format")
        if fmt and fmt not in FORMATS:
            reader.problem(fields.get("format"), f"{keypath}.format", f"use one of {FORMATS}")
        file_value = reader.scalar(fields.get("file"), f"{keypath}.file")
        folder_value = reader.scalar(fields.get("folder"), f"{keypath}.folder")
        if bool(file_value) == bool(folder_value):
            reader.problem(item, keypath, "give exactly one of file: or folder:")
            continue
        name = reader.scalar(fields.get("name"), f"{keypath}.name")
        if folder_value:
            folder = reader.path(folder_value)
            if not folder.is_dir():
                reader.problem(item, f"{keypath}.folder", f"{folder} is not a folder")
                continue
            members = [(folder / member, fmt) for member, fmt in _UT1_MEMBERS]
            found = [(p, f) for p, f in members if p.is_file()]
            if not found:
                reader.problem(item, f"{keypath}.folder", "holds no domains, urls or expressions")
            for member_path, member_fmt in found:
                _add_list(reader, member_path, member_fmt, category, use, name, item)
            continue
        assert file_value is not None
        list_path = reader.path(file_value)
        if not list_path.is_file():
            reader.problem(item, f"{keypath}.file", f"{list_path} does not exist")
            continue
        _add_list(reader, list_path, fmt, category, use, name, item)


def _add_list(
    reader: _Reader,
    path: Path,
    fmt: str | None,
    category: str | None,
    use: str,
    name: str | None,
    node: yaml.Node,
) -> None:
    reader.spec.files.append(path)
    reader.spec.lists.append(
        ListSpec(
            path=path,
            display=_display(path),
            format=fmt,
            category=category,
            use=use,
            name=name or (path.parent.name + "/" + path.name if fmt else path.stem),
            line=node_line(node),
        )
    )


def _read_actions(reader: _Reader, node: yaml.Node | None, keypath: str) -> dict[str, Action]:
    actions: dict[str, Action] = {}
    for category, value in reader.mapping(node, keypath).items():
        if category not in reader.spec.categories:
            reader.problem(value, f"{keypath}.{category}", "unknown category")
            continue
        actions[category] = reader.action(value, f"{keypath}.{category}", Action.BLOCK)
    return actions


def _read_groups(reader: _Reader, node: yaml.Node | None) -> None:
    for name, value in reader.mapping(node, "groups").items():
        keypath = f"groups.{name}"
        fields = reader.mapping(value, keypath)
        if isinstance(value, yaml.MappingNode):
            reader.known_keys(
                value,
                keypath,
                (
                    "users",
                    "directory_groups",
                    "networks",
                    "actions",
                    "page_thresholds",
                    "safe_search",
                    "description",
                ),
            )
        networks: list[Network] = []
        for text, item in reader.strings(fields.get("networks"), f"{keypath}.networks"):
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                reader.problem(item, f"{keypath}.networks", f"{text!r} is not an address or range")
        thresholds = reader.mapping(fields.get("page_thresholds"), f"{keypath}.page_thresholds")
        reader.spec.groups[name] = Group(
            name=name,
            users=frozenset(
                u.lower() for u, _ in reader.strings(fields.get("users"), f"{keypath}.users")
            ),
            directory_groups=frozenset(
                g.lower()
                for g, _ in reader.strings(
                    fields.get("directory_groups"), f"{keypath}.directory_groups"
                )
            ),
            networks=tuple(networks),
            actions=_read_actions(reader, fields.get("actions"), f"{keypath}.actions"),
            page_flag=reader.integer(thresholds.get("flag"), f"{keypath}.page_thresholds.flag"),
            page_block=reader.integer(thresholds.get("block"), f"{keypath}.page_thresholds.block"),
            safe_search=reader.boolean(fields.get("safe_search"), f"{keypath}.safe_search", True),
        )


def _parse_when(text: str, zone: ZoneInfo, *, end: bool) -> datetime:
    """A date means the whole day (an end date is inclusive); a datetime is taken as local."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        moment = datetime.fromisoformat(text)
        return moment if moment.tzinfo else moment.replace(tzinfo=zone)
    moment = datetime.combine(day, time.min, tzinfo=zone)
    if end:
        moment = datetime.combine(day.fromordinal(day.toordinal() + 1), time.min, tzinfo=zone)
    return moment


EXEMPTION_KEYS = (
    "id",
    "reason",
    "approved_by",
    "requested_by",
    "groups",
    "categories",
    "sites",
    "starts",
    "ends",
)


def _read_exemptions(reader: _Reader, node: yaml.Node | None, keypath: str) -> None:
    if node is None:
        return
    if not isinstance(node, yaml.SequenceNode):
        reader.problem(node, keypath, "expected a list of exemptions")
        return
    for index, item in enumerate(node.value):
        where = f"{keypath}[{index}]"
        fields = reader.mapping(item, where)
        if "file" in fields and len(fields) == 1:
            _read_exemption_file(reader, fields["file"], where)
            continue
        exemption = _read_exemption(reader, item, fields, where)
        if exemption:
            reader.spec.exemptions.append(exemption)


def _read_exemption_file(reader: _Reader, node: yaml.Node, keypath: str) -> None:
    """Exemptions approved in the console live in their own file, reloaded like any list."""
    value = reader.scalar(node, f"{keypath}.file")
    if not value:
        return
    path = reader.path(value)
    # Watched even while absent: the console creates it when the first exemption is approved.
    reader.spec.files.append(path)
    if not path.exists():
        return
    sub = _Reader(reader.spec, _display(path))
    try:
        root = load_yaml_nodes(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, yaml.YAMLError) as exc:
        sub.problem(node, "exemptions", f"cannot read {path}: {exc}")
        return
    if root is None:
        return
    top = sub.mapping(root, "(top)")
    _read_exemptions(sub, top.get("exemptions"), "exemptions")


def _read_exemption(
    reader: _Reader, item: yaml.Node, fields: dict[str, yaml.Node], where: str
) -> StudyExemption | None:
    if isinstance(item, yaml.MappingNode):
        reader.known_keys(item, where, EXEMPTION_KEYS)
    before = len(reader.spec.problems)
    required: dict[str, str] = {}
    for key in ("id", "reason", "approved_by", "starts", "ends"):
        value = reader.scalar(fields.get(key), f"{where}.{key}")
        if not value:
            reader.problem(item, f"{where}.{key}", "is required for a study exemption")
            continue
        required[key] = value
    zone = reader.spec.timezone
    bounds: dict[str, datetime] = {}
    for key in ("starts", "ends"):
        if key not in required:
            continue
        try:
            bounds[key] = _parse_when(required[key], zone, end=key == "ends")
        except ValueError:
            reader.problem(fields.get(key), f"{where}.{key}", "use a date like 2026-12-18")
    if "starts" in bounds and "ends" in bounds and bounds["ends"] <= bounds["starts"]:
        reader.problem(fields.get("ends"), f"{where}.ends", "ends before it starts")
    categories = frozenset(c for c, _ in reader.strings(fields.get("categories"), where))
    for category in categories - reader.spec.categories.keys():
        reader.problem(fields.get("categories"), f"{where}.categories", f"unknown {category!r}")
    sites = []
    for site, node in reader.strings(fields.get("sites"), f"{where}.sites"):
        host, kind, _ = normalise_host(site)
        if kind in ("malformed", "empty"):
            reader.problem(node, f"{where}.sites", f"{site!r} is not a site name")
            continue
        sites.append(host)
    if not categories and not sites:
        reader.problem(item, where, "an exemption needs categories: or sites: (or both)")
    if len(reader.spec.problems) > before:
        return None
    return StudyExemption(
        id=required["id"],
        reason=required["reason"],
        approved_by=required["approved_by"],
        requested_by=reader.scalar(fields.get("requested_by"), f"{where}.requested_by") or "",
        groups=frozenset(g for g, _ in reader.strings(fields.get("groups"), f"{where}.groups")),
        categories=categories,
        sites=tuple(sites),
        starts=bounds["starts"],
        ends=bounds["ends"],
        source=f"{reader.display}:{node_line(item)}",
    )


def _read_schedules(reader: _Reader, node: yaml.Node | None) -> None:
    if node is None:
        return
    if not isinstance(node, yaml.SequenceNode):
        reader.problem(node, "schedules", "expected a list")
        return
    for index, item in enumerate(node.value):
        where = f"schedules[{index}]"
        fields = reader.mapping(item, where)
        if isinstance(item, yaml.MappingNode):
            reader.known_keys(item, where, ("name", "groups", "days", "from", "until", "actions"))
        days: set[int] = set()
        for day, day_node in reader.strings(fields.get("days"), f"{where}.days"):
            key = day.strip().lower()[:3]
            if key not in DAYS:
                reader.problem(day_node, f"{where}.days", f"{day!r} is not a day (mon..sun)")
                continue
            days.add(DAYS.index(key))
        bounds = []
        for key in ("from", "until"):
            value = reader.scalar(fields.get(key), f"{where}.{key}")
            try:
                bounds.append(time.fromisoformat(value or ""))
            except ValueError:
                reader.problem(fields.get(key) or item, f"{where}.{key}", "use a time like 16:00")
                bounds.append(time.min)
        reader.spec.schedules.append(
            Schedule(
                name=reader.scalar(fields.get("name"), f"{where}.name") or f"schedule {index + 1}",
                groups=frozenset(g for g, _ in reader.strings(fields.get("groups"), where)),
                days=frozenset(days or range(7)),
                start=bounds[0],
                end=bounds[1],
                actions=_read_actions(reader, fields.get("actions"), f"{where}.actions"),
                source=f"{reader.display}:{node_line(item)}",
            )
        )
