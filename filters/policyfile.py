"""Reading `policy.yaml`: categories, groups, lists and the allowlist (study exemptions and
schedules are read by `filters.timerules`).

The file is read into plain frozen dataclasses (`PolicySpec`, in `filters.policyspec`). Every
mistake becomes a `ListProblem` naming `file:line`, the key path and what to do, so
`lists validate` can show all of them at once; `filters.policy` compiles a spec only when it has
no problems.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from filters.decision import Kind
from filters.lists import FORMATS, ListProblem, load_yaml_nodes, mapping_items, node_line
from filters.policyinherit import Floor, read_base, start_from
from filters.policyreader import PolicyReader, display_name
from filters.policyspec import (
    BUILTIN_CATEGORIES,
    Category,
    Group,
    ListSpec,
    Network,
    PolicySpec,
)
from filters.timerules import read_exemptions, read_schedules

# The spec's classes are imported from here by older callers; they live in filters.policyspec.
__all__ = ["Category", "Group", "ListSpec", "PolicySpec", "read_policy"]


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
    "list_folders",
    "extends",
)


def read_policy(path: Path) -> PolicySpec:
    """Read a policy file (and the trust policy it `extends:`). Never raises: problems are in
    `spec.problems`."""
    return _read_policy(path, ())


def _is_configuration(top: dict[str, yaml.Node]) -> bool:
    """Whether a file has the daemon configuration's keys and none of a policy's own (its
    `policy:` section names the policy file): given as a policy, one plain problem beats a
    dozen unknown keys."""
    return (
        "policy" in top
        and bool(_CONFIG_ONLY_KEYS & top.keys())
        and not (_POLICY_ONLY_KEYS & top.keys())
    )


def _refuse_configuration(reader: PolicyReader, section: yaml.Node) -> None:
    """The one problem of a configuration given as the policy, naming the policy it names."""
    named = reader.mapping(section, "policy").get("file")
    policy = f" (its policy file is {named.value})" if isinstance(named, yaml.ScalarNode) else ""
    reader.problem(
        section, "policy", "this is prevent-monitor's configuration, not a policy: "
        f"pass it as --config {reader.display}{policy}",
    )  # fmt: skip


_CONFIG_ONLY_KEYS = frozenset({"database", "gateway", "console", "watcher", "digest"})
_POLICY_ONLY_KEYS = frozenset({"categories", "lists", "allowlist", "groups", "extends"})


def _read_policy(path: Path, chain: tuple[Path, ...]) -> PolicySpec:
    spec = PolicySpec(path=path)
    reader = PolicyReader(spec, display_name(path))
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
    top = dict(mapping_items(root))
    if _is_configuration(top):
        _refuse_configuration(reader, top["policy"])
        return spec
    reader.known_keys(root, "", TOP_KEYS)
    _read_list_folders(reader, top.get("list_folders"))
    spec.categories.update(BUILTIN_CATEGORIES)
    base = read_base(reader, top.get("extends"), (*chain, path.resolve()), _read_policy)
    if base is not None:
        start_from(spec, base)
    spec.school = reader.scalar(top.get("school"), "school") or spec.school
    _read_timezone(reader, top.get("timezone"))
    _read_categories(reader, top.get("categories"))
    _read_lists(reader, top.get("lists"), "lists", "block")
    _read_lists(reader, top.get("search_terms"), "search_terms", "search")
    _read_lists(reader, top.get("page_phrases"), "page_phrases", "page")
    _read_lists(reader, top.get("allowlist"), "allowlist", "allow")
    thresholds = reader.mapping(top.get("page_thresholds"), "page_thresholds")
    spec.page_flag = (
        reader.integer(thresholds.get("flag"), "page_thresholds.flag") or spec.page_flag
    )
    spec.page_block = (
        reader.integer(thresholds.get("block"), "page_thresholds.block") or spec.page_block
    )
    _read_groups(reader, top.get("groups"))
    default_group = reader.scalar(top.get("default_group"), "default_group")
    if default_group:
        if default_group not in spec.groups:
            reader.problem(top.get("default_group"), "default_group", "no such group")
        spec.default_group = default_group
    spec.groups.setdefault(spec.default_group, Group(spec.default_group))
    read_exemptions(reader, top.get("exemptions"), "exemptions")
    read_schedules(reader, top.get("schedules"))
    if base is not None:
        Floor(reader, base, top).hold()
    return spec


def _read_timezone(reader: PolicyReader, node: yaml.Node | None) -> None:
    name = reader.scalar(node, "timezone")
    if not name:
        return
    try:
        reader.spec.timezone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        reader.problem(node, "timezone", f"unknown time zone {name!r}: use e.g. Europe/London")


def _read_categories(reader: PolicyReader, node: yaml.Node | None) -> None:
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


def _read_lists(reader: PolicyReader, node: yaml.Node | None, key: str, use: str) -> None:
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
            if not _confined(reader, folder, item, f"{keypath}.folder"):
                continue
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
        if not _confined(reader, list_path, item, f"{keypath}.file"):
            continue
        if not list_path.is_file():
            reader.problem(item, f"{keypath}.file", f"{list_path} does not exist")
            continue
        _add_list(reader, list_path, fmt, category, use, name, item)


def _read_list_folders(reader: PolicyReader, node: yaml.Node | None) -> None:
    """`list_folders:` extra folders list files may be read from (imported lists kept apart
    from the policy, say); the policy's own folder is always allowed."""
    reader.roots = [reader.base.resolve()]
    if node is None:
        return
    if not isinstance(node, yaml.SequenceNode):
        reader.problem(node, "list_folders", "expected a list of folders")
        return
    for index, item in enumerate(node.value):
        value = reader.scalar(item, f"list_folders[{index}]")
        if value:
            reader.roots.append(reader.path(value).resolve())


def _confined(reader: PolicyReader, path: Path, node: yaml.Node, keypath: str) -> bool:
    """Whether `path`, after following links, is inside the policy folder or a `list_folders`
    entry. Absolute paths, `..` and symlinks out are refused, so a list cannot be made to read
    /etc/shadow (and echo its lines into problems that reach logs and the dashboard)."""
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):
        resolved = path
    if any(resolved.is_relative_to(root) for root in reader.roots):
        return True
    reader.problem(
        node, keypath,
        f"{path} is outside the policy folder (after following links): copy the list into "
        f"{reader.base}, or name its folder under list_folders:",
    )  # fmt: skip
    return False


def _add_list(
    reader: PolicyReader,
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
            root=reader.base,
            path=path,
            display=display_name(path),
            format=fmt,
            category=category,
            use=use,
            name=name or (path.parent.name + "/" + path.name if fmt else path.stem),
            line=node_line(node),
        )
    )


def _read_groups(reader: PolicyReader, node: yaml.Node | None) -> None:
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
        # A group the trust's policy already has: what the school's entry leaves out is the
        # trust's (its actions are added to, and may only be tightened: filters.policyinherit).
        inherited = reader.spec.groups.get(name, Group(name))
        users = reader.strings(fields.get("users"), f"{keypath}.users")
        directory = reader.strings(fields.get("directory_groups"), f"{keypath}.directory_groups")
        page_flag = reader.integer(thresholds.get("flag"), f"{keypath}.page_thresholds.flag")
        page_block = reader.integer(thresholds.get("block"), f"{keypath}.page_thresholds.block")
        reader.spec.groups[name] = Group(
            name=name,
            users=frozenset(u.lower() for u, _ in users) if users else inherited.users,
            directory_groups=(
                frozenset(g.lower() for g, _ in directory)
                if directory
                else inherited.directory_groups
            ),
            networks=tuple(networks) if networks else inherited.networks,
            actions={
                **inherited.actions,
                **reader.actions(fields.get("actions"), f"{keypath}.actions"),
            },
            page_flag=inherited.page_flag if page_flag is None else page_flag,
            page_block=inherited.page_block if page_block is None else page_block,
            safe_search=reader.boolean(
                fields.get("safe_search"), f"{keypath}.safe_search", inherited.safe_search
            ),
        )
