"""Reading the policy's rules that depend on the time: study exemptions (a teacher's time-boxed
request, approved by the Prevent lead, inline or in the console's own file) and time-of-day
schedules."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import yaml

from filters.hosts import normalise_host
from filters.lists import ListProblem, load_yaml_nodes, node_line
from filters.policyreader import PolicyReader, display_name
from filters.policyspec import Schedule, StudyExemption

# A directory or proxy user name: no spaces, nothing a list file would mistake for syntax.
USER_NAME = re.compile(r"[\w.@\\-]{1,128}")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


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
    "pupils",
    "class_list",
    "categories",
    "sites",
    "starts",
    "ends",
)


def read_exemptions(reader: PolicyReader, node: yaml.Node | None, keypath: str) -> None:
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


def _read_exemption_file(reader: PolicyReader, node: yaml.Node, keypath: str) -> None:
    """Exemptions approved in the console live in their own file, reloaded like any list."""
    value = reader.scalar(node, f"{keypath}.file")
    if not value:
        return
    path = reader.path(value)
    # Watched even while absent: the console creates it when the first exemption is approved.
    reader.spec.files.append(path)
    if not path.exists():
        return
    sub = PolicyReader(reader.spec, display_name(path))
    try:
        root = load_yaml_nodes(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, yaml.YAMLError) as exc:
        sub.problem(node, "exemptions", f"cannot read {path}: {exc}")
        return
    if root is None:
        return
    top = sub.mapping(root, "(top)")
    read_exemptions(sub, top.get("exemptions"), "exemptions")


def _read_exemption(
    reader: PolicyReader, item: yaml.Node, fields: dict[str, yaml.Node], where: str
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
    categories = _read_categories(reader, fields.get("categories"), f"{where}.categories")
    groups, pupils = _read_scope(reader, fields, where)
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
        groups=groups,
        pupils=pupils,
        categories=categories,
        sites=tuple(sites),
        starts=bounds["starts"],
        ends=bounds["ends"],
        source=f"{reader.display}:{node_line(item)}",
    )


def _read_categories(reader: PolicyReader, node: yaml.Node | None, where: str) -> frozenset[str]:
    """The categories an exemption lifts; an illegal one is refused, whoever approved it."""
    categories: set[str] = set()
    for category, item in reader.strings(node, where):
        known = reader.spec.categories.get(category)
        if known is None:
            reader.problem(item, where, f"unknown {category!r}")
        elif known.illegal:
            reader.problem(
                item,
                where,
                f"{category!r} is marked illegal: true (unlawful content): no exemption can "
                "lift it; remove it from the exemption",
            )
        else:
            categories.add(category)
    return frozenset(categories)


def _read_scope(
    reader: PolicyReader, fields: dict[str, yaml.Node], where: str
) -> tuple[frozenset[str], frozenset[str]]:
    """Who an exemption covers: `groups`, named `pupils` and a `class_list` file of user names.
    None of the three means everyone."""
    groups: set[str] = set()
    for group, item in reader.strings(fields.get("groups"), f"{where}.groups"):
        if group not in reader.spec.groups:
            reader.problem(item, f"{where}.groups", f"no such group {group!r}")
        groups.add(group)
    pupils: set[str] = set()
    for pupil, item in reader.strings(fields.get("pupils"), f"{where}.pupils"):
        if not USER_NAME.fullmatch(pupil.strip()):
            reader.problem(item, f"{where}.pupils", f"{pupil!r} is not a user name")
            continue
        pupils.add(pupil.strip().lower())
    node = fields.get("class_list")
    value = reader.scalar(node, f"{where}.class_list")
    if node is not None and value:
        pupils.update(_read_class_list(reader, node, value, f"{where}.class_list"))
    elif node is not None:
        reader.problem(node, f"{where}.class_list", "name a file of user names, one per line")
    return frozenset(groups), frozenset(pupils)


def _read_class_list(reader: PolicyReader, node: yaml.Node, value: str, where: str) -> set[str]:
    """A class list: one user name a line, `#` comments, inside the policy folder."""
    path = reader.path(value)
    folder = reader.spec.path.parent.resolve()
    if not path.resolve().is_relative_to(folder):
        reader.problem(node, where, f"{value!r} is outside the policy folder {folder}")
        return set()
    reader.spec.files.append(path)
    try:
        lines = path.read_text(encoding="utf-8-sig", errors="replace").splitlines()
    except OSError as exc:
        reader.problem(node, where, f"cannot read {value!r} ({exc.strerror or exc})")
        return set()
    display = display_name(path)
    names: set[str] = set()
    for number, raw in enumerate(lines, start=1):
        name = raw.split("#", 1)[0].strip()
        if not name:
            continue
        if not USER_NAME.fullmatch(name):
            reader.spec.problems.append(
                ListProblem(display, number, f"{name!r} is not a user name (one per line)")
            )
            continue
        names.add(name.lower())
    if not names:
        reader.problem(node, where, f"{value!r} names no pupils")
    return names


def read_schedules(reader: PolicyReader, node: yaml.Node | None) -> None:
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
                actions=reader.actions(fields.get("actions"), f"{where}.actions"),
                source=f"{reader.display}:{node_line(item)}",
            )
        )
