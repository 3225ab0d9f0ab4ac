"""Walking a composed policy YAML: every value read with its key path and line, so each mistake
becomes a `ListProblem` that says `file:line`, where and what to do."""

from __future__ import annotations

from pathlib import Path

import yaml

from filters.decision import Action, Severity
from filters.includes import display_name as display_name  # re-exported
from filters.lists import ListProblem, mapping_items, node_line
from filters.policyspec import PolicySpec

ACTIONS = tuple(a.value for a in Action)


class PolicyReader:
    """Walks the composed YAML, keeping the key path and line for every complaint."""

    def __init__(self, spec: PolicySpec, display: str) -> None:
        self.spec = spec
        self.display = display
        self.base = spec.path.parent
        # Where list files may be read from: the policy's folder and `list_folders:`.
        self.roots: list[Path] = [self.base.resolve()]

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

    def actions(self, node: yaml.Node | None, keypath: str) -> dict[str, Action]:
        """A `category: action` mapping; unknown categories are problems."""
        actions: dict[str, Action] = {}
        for category, value in self.mapping(node, keypath).items():
            if category not in self.spec.categories:
                self.problem(value, f"{keypath}.{category}", "unknown category")
                continue
            actions[category] = self.action(value, f"{keypath}.{category}", Action.BLOCK)
        return actions
