"""A school's policy that `extends:` the trust's: the trust sets the floor, the school builds on it.

A multi-academy trust keeps one policy file (categories, their actions and severities, shared
block lists, page thresholds, trust-wide groups). Each school's `policy.yaml` names it with
`extends: ../trust/policy.yaml` and starts from everything it says. On top, the school adds its
own: local block and allow lists, search terms, page phrases, its groups (its users and
networks), exemptions and schedules, and may tighten what the trust set.

A school may never loosen what the trust's file says. The trust's safeguarding lead answers for
every school, so a school's IT staff cannot turn a category the trust blocks into a flag, lower
its severity, clear `illegal`, raise a page threshold, give a group (or a schedule) a weaker
action than the trust gives it, or turn off safe search for a group the trust names. Each such
line is reported at the school's file:line, naming the trust's file, and the trust's value
stands: `PolicySpec.held`. `lists validate` and the console refuse such a line; a gateway that
meets one (the trust tightened its file under a school's) runs on the trust's value and logs it.
Study exemptions stay the school's Prevent lead's to approve (they never lift a category
marked illegal), and a school's allowlist is its own, as before.

Bounds, because a policy is a file a person edited: at most `MAX_DEPTH` files in a chain, no
file twice (a loop is a problem, not a hang), and only a `.yaml`/`.yml` file inside the policy's
folder, the folder above it (the trust's folder beside the schools') or a `list_folders:` entry.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import yaml

from filters.decision import Action
from filters.lists import ListProblem, mapping_items, node_line
from filters.policyreader import PolicyReader, display_name
from filters.policyspec import Group, PolicySpec

MAX_DEPTH = 4

ReadPolicy = Callable[[Path, tuple[Path, ...]], PolicySpec]


def read_base(
    reader: PolicyReader, node: yaml.Node | None, chain: tuple[Path, ...], read: ReadPolicy
) -> PolicySpec | None:
    """The policy `extends:` names, read whole (its own `extends:` first), or None."""
    written = reader.scalar(node, "extends")
    if not written:
        return None
    path = reader.path(written)
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):
        resolved = path
    if resolved.suffix.lower() not in (".yaml", ".yml"):
        reader.problem(node, "extends", f"{written!r} is not a policy file (.yaml or .yml)")
        return None
    allowed = [reader.base.resolve(), reader.base.resolve().parent, *reader.roots]
    if not any(resolved.is_relative_to(root) for root in allowed):
        reader.problem(
            node,
            "extends",
            f"{display_name(resolved)} is outside the policy folder and the folder above it: "
            "keep the trust's "
            "policy beside the schools' folders, or name its folder under list_folders:",
        )
        return None
    if resolved in chain:
        reader.problem(node, "extends", f"{written!r} is already in this chain (an extends loop?)")
        return None
    if len(chain) >= MAX_DEPTH:
        reader.problem(node, "extends", f"more than {MAX_DEPTH} policies deep: flatten the chain")
        return None
    if not resolved.is_file():
        reader.problem(node, "extends", f"{display_name(resolved)}: no such file")
        return None
    return read(resolved, chain)


def start_from(spec: PolicySpec, base: PolicySpec) -> None:
    """Everything the trust's policy says becomes this policy's starting point."""
    spec.base = base
    spec.school = base.school
    spec.timezone = base.timezone
    spec.categories.update(base.categories)
    spec.lists.extend(base.lists)
    # The trust's default group as `read_policy` made it up (named nowhere) is not a group the
    # trust set: the school's own default group, or the same made-up one, takes its place.
    made_up = Group(base.default_group)
    spec.groups.update((n, g) for n, g in base.groups.items() if g != made_up)
    spec.default_group = base.default_group
    spec.exemptions.extend(base.exemptions)
    spec.schedules.extend(base.schedules)
    spec.page_flag, spec.page_block = base.page_flag, base.page_block
    spec.problems.extend(base.problems)
    spec.held.extend(base.held)
    spec.files.extend(base.files)


class Floor:
    """What the trust's policy holds every school to, and the checks against it."""

    def __init__(self, reader: PolicyReader, base: PolicySpec, top: dict[str, yaml.Node]) -> None:
        self.reader = reader
        self.base = base
        self.top = top
        self.trust = display_name(base.path)

    def hold(self) -> None:
        """Put back, with a problem for each, whatever the school's file loosened."""
        self._categories()
        self._thresholds()
        self._groups()
        self._schedules()

    def action_for(self, group: str, category: str) -> Action:
        """The weakest action the trust allows `group` for `category`."""
        floor = self.base.categories[category].action
        trust_group = self.base.groups.get(group)
        if trust_group is not None:
            return trust_group.actions.get(category, floor)
        return floor

    def _refuse(self, node: yaml.Node | None, keypath: str, what: str) -> None:
        node = node or self.top.get("extends")
        self.reader.spec.held.append(
            ListProblem(
                self.reader.display,
                node_line(node) if node is not None else 0,
                f"{keypath}: {what}: a school may tighten the trust's policy ({self.trust}), "
                "never loosen it, so the trust's stands; remove the line, or ask the trust to "
                "change its file",
            )
        )

    def _categories(self) -> None:
        spec = self.reader.spec
        for name, trust in self.base.categories.items():
            ours = spec.categories[name]
            if ours == trust:
                continue
            keypath = f"categories.{name}"
            node = _at(self.top, "categories", name)
            held = ours
            if ours.action.strength < trust.action.strength:
                self._refuse(
                    _at(node, "action"),
                    f"{keypath}.action",
                    f"the trust has {name} as {trust.action}, not {ours.action}",
                )
                held = dataclasses.replace(held, action=trust.action)
            if ours.severity < trust.severity:
                self._refuse(
                    _at(node, "severity"),
                    f"{keypath}.severity",
                    f"the trust has {name} at {trust.severity.name.lower()} severity",
                )
                held = dataclasses.replace(held, severity=trust.severity)
            if trust.illegal and not ours.illegal:
                self._refuse(
                    _at(node, "illegal"), f"{keypath}.illegal", f"the trust marks {name} illegal"
                )
                held = dataclasses.replace(held, illegal=True)
            if ours.kind != trust.kind:
                self._refuse(
                    _at(node, "kind"),
                    f"{keypath}.kind",
                    f"the trust has {name} as kind {trust.kind.value}",
                )
                held = dataclasses.replace(held, kind=trust.kind)
            spec.categories[name] = held

    def _thresholds(self) -> None:
        spec = self.reader.spec
        node = _at(self.top, "page_thresholds")
        if spec.page_flag > self.base.page_flag:
            self._refuse(
                _at(node, "flag"),
                "page_thresholds.flag",
                f"the trust flags pages from a score of {self.base.page_flag}",
            )
            spec.page_flag = self.base.page_flag
        if spec.page_block > self.base.page_block:
            self._refuse(
                _at(node, "block"),
                "page_thresholds.block",
                f"the trust blocks pages from a score of {self.base.page_block}",
            )
            spec.page_block = self.base.page_block

    def _groups(self) -> None:
        spec = self.reader.spec
        for name, group in list(spec.groups.items()):
            if self.base.groups.get(name) == group:
                continue
            node = _at(self.top, "groups", name)
            spec.groups[name] = self._group(name, group, node)

    def _group(self, name: str, group: Group, node: yaml.Node | None) -> Group:
        keypath = f"groups.{name}"
        actions = dict(group.actions)
        for category, action in group.actions.items():
            if category not in self.base.categories:
                continue  # the school's own category: the school decides
            floor = self.action_for(name, category)
            if action.strength < floor.strength:
                self._refuse(
                    _at(node, "actions", category),
                    f"{keypath}.actions.{category}",
                    f"the trust gives {name} {floor} for {category}, not {action}",
                )
                actions[category] = floor
        trust = self.base.groups.get(name)
        flag_floor = (trust.page_flag if trust else None) or self.base.page_flag
        block_floor = (trust.page_block if trust else None) or self.base.page_block
        flag, block = group.page_flag, group.page_block
        thresholds = _at(node, "page_thresholds")
        if flag is not None and flag > flag_floor:
            self._refuse(
                _at(thresholds, "flag"),
                f"{keypath}.page_thresholds.flag",
                f"the trust flags pages from a score of {flag_floor}",
            )
            flag = flag_floor
        if block is not None and block > block_floor:
            self._refuse(
                _at(thresholds, "block"),
                f"{keypath}.page_thresholds.block",
                f"the trust blocks pages from a score of {block_floor}",
            )
            block = block_floor
        safe_search = group.safe_search
        if trust is not None and trust.safe_search and not safe_search:
            self._refuse(
                _at(node, "safe_search"),
                f"{keypath}.safe_search",
                f"the trust keeps safe search on for {name}",
            )
            safe_search = True
        return dataclasses.replace(
            group, actions=actions, page_flag=flag, page_block=block, safe_search=safe_search
        )

    def _schedules(self) -> None:
        spec = self.reader.spec
        ours = spec.schedules[len(self.base.schedules) :]
        nodes = self.top.get("schedules")
        items = nodes.value if isinstance(nodes, yaml.SequenceNode) else []
        kept = spec.schedules[: len(self.base.schedules)]
        for index, schedule in enumerate(ours):
            node = items[index] if index < len(items) else None
            actions = dict(schedule.actions)
            for category, action in schedule.actions.items():
                if category not in self.base.categories:
                    continue
                groups = schedule.groups or frozenset(spec.groups)
                floor = min(
                    (self.action_for(g, category) for g in groups),
                    key=lambda a: a.strength,
                    default=self.base.categories[category].action,
                )
                if action.strength < floor.strength:
                    self._refuse(
                        _at(node, "actions", category),
                        f"schedules[{index}].actions.{category}",
                        f"the trust gives {floor} for {category} to these groups",
                    )
                    actions[category] = floor
            kept.append(dataclasses.replace(schedule, actions=actions))
        spec.schedules[:] = kept


def _at(node: yaml.Node | dict[str, yaml.Node] | None, *keys: str) -> yaml.Node | None:
    """The node at `keys` under a mapping node (or the top dict), or None."""
    current: yaml.Node | dict[str, yaml.Node] | None = node
    for key in keys:
        if isinstance(current, dict):
            current = current.get(key)
        elif isinstance(current, yaml.MappingNode):
            current = dict(mapping_items(current)).get(key)
        else:
            return None
    return current if isinstance(current, yaml.Node) else None
