"""Small edits to the policy's YAML files as text: add an entry, remove one, set a group's
category actions. Every other line is left exactly as it was (comments, order, quoting), so a
version's diff shows the change and nothing else.

The places to edit come from PyYAML's composed nodes (each knows where it starts and ends in
the text). Each edit is then checked by parsing the old and the new text: the data must be the
old data with exactly this change. A file laid out so unusually that a line edit would do
something else is refused (`PolicyEditError`: edit it by hand), never rewritten wholesale.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

_BY_HAND = "its layout is unusual here: make this change by hand"


class PolicyEditError(Exception):
    """The change was not made; `problems` says why, in file:line form where possible.
    (`monitor.console.policyedit` re-exports it: the name its callers know.)"""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


def render(value: Any) -> str:
    """One value as a single line of YAML flow style (quoted where YAML needs it)."""
    dumped = yaml.safe_dump(
        value, default_flow_style=True, sort_keys=False, allow_unicode=True, width=10**9
    )
    line = str(dumped).removesuffix("\n").removesuffix("\n...").strip()
    if "\n" in line or "\r" in line:
        raise PolicyEditError("a value would take more than one line: remove its line breaks")
    return line


def add_entry(text: str, item: Any, key: str = "entries") -> str:
    """`text` with `item` appended to its top-level `key:` list (created when missing)."""
    root, _ = _top(text)
    line = render(item)
    newline = "\r\n" if "\r\n" in text else "\n"
    found = _key(root, key) if root is not None else None
    if found is None:
        tail = "" if not text or text.endswith(("\n", "\r")) else newline
        new = f"{text}{tail}{key}:{newline}  - {line}{newline}"
    else:
        name, node = found
        new = _appended(text, name, node, line, newline)
    _check(text, new, lambda data: data.__setitem__(key, [*(data.get(key) or []), item]), key)
    return new


def _appended(text: str, name: yaml.Node, node: yaml.Node, line: str, newline: str) -> str:
    first = text[: name.end_mark.index] + f":{newline}  - {line}" + text[node.end_mark.index :]
    if isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null"):
        return first
    if not isinstance(node, yaml.SequenceNode):
        raise PolicyEditError(f"`{name.value}:` is not a list: {_BY_HAND}")
    if node.flow_style:
        if not node.value:  # `entries: []`
            return first
        close = node.end_mark.index - 1
        if text[close] != "]":
            raise PolicyEditError(f"`{name.value}:` {_BY_HAND}")
        return text[:close] + f", {line}" + text[close:]
    at = _line_end(text, _last_leaf(node))
    indent = " " * node.start_mark.column
    lead = "" if at == 0 or text[at - 1] == "\n" else newline
    return text[:at] + f"{lead}{indent}- {line}{newline}" + text[at:]


def remove_entry(text: str, line: int, key: str = "entries") -> str:
    """`text` without the `key:` list item that starts on `line` (1-based)."""
    root, _ = _top(text)
    found = _key(root, key) if root is not None else None
    if found is None:
        raise PolicyEditError(f"there is no `{key}:` list to remove from")
    name, node = found
    if not isinstance(node, yaml.SequenceNode):
        raise PolicyEditError(f"there is no `{key}:` list to remove from")
    items = node.value
    index = next((i for i, item in enumerate(items) if item.start_mark.line + 1 == line), None)
    if index is None:
        raise PolicyEditError(f"no entry starts on line {line}: the list has changed; reload it")
    if node.flow_style:
        raise PolicyEditError(f"`{key}:` is written on one line: {_BY_HAND}")
    item = items[index]
    start = text.rfind("\n", 0, item.start_mark.index) + 1
    end = _line_end(text, _last_leaf(item))
    if len(items) == 1:  # an empty block list would read as null: write `entries: []`
        new = text[: name.end_mark.index] + ": []" + _eol(text, end)
    else:
        new = text[:start] + text[end:]
    _check(text, new, lambda data: data[key].pop(index), key)
    return new


def set_group_actions(text: str, group: str, actions: dict[str, str]) -> str:
    """`text` with `groups.<group>.actions` set to `actions` (one flow mapping). A group this
    file does not have (one the trust's policy gives the school) is added to `groups:`."""
    root, _ = _top(text)
    groups = _key(root, "groups") if root is not None else None
    value = render(actions)
    found = _key(groups[1], group) if groups is not None else None
    if groups is None or found is None:
        new = _with_group(text, groups, f"{render(group)}: {{actions: {value}}}")
    else:
        name, node = found
        if isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null"):
            tail = text[node.end_mark.index :]
            new = text[: name.end_mark.index] + f": {{actions: {value}}}" + tail
        elif not isinstance(node, yaml.MappingNode):
            raise PolicyEditError(f"groups.{group} is not a mapping: {_BY_HAND}")
        else:
            new = _with_actions(text, node, value)

    def change(data: dict[str, Any]) -> None:
        data["groups"] = data.get("groups") or {}
        entry = data["groups"].get(group) or {}
        entry["actions"] = dict(actions)
        data["groups"][group] = entry

    _check(text, new, change, "groups")
    return new


def _with_group(text: str, groups: tuple[yaml.ScalarNode, yaml.Node] | None, line: str) -> str:
    """`text` with one more `groups:` entry, `line`, after the last (or a new `groups:`)."""
    newline = "\r\n" if "\r\n" in text else "\n"
    if groups is None:
        tail = "" if not text or text.endswith(("\n", "\r")) else newline
        return f"{text}{tail}groups:{newline}  {line}{newline}"
    name, node = groups
    empty = (isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null")) or (
        isinstance(node, yaml.MappingNode) and node.flow_style and not node.value
    )
    if empty:
        return text[: name.end_mark.index] + f":{newline}  {line}" + text[node.end_mark.index :]
    if not isinstance(node, yaml.MappingNode) or node.flow_style:
        raise PolicyEditError(f"`groups:` {_BY_HAND}")
    at = _line_end(text, _last_leaf(node))
    indent = " " * node.value[0][0].start_mark.column
    lead = "" if text[at - 1] == "\n" else newline
    return text[:at] + f"{lead}{indent}{line}{newline}" + text[at:]


def _with_actions(text: str, group: yaml.MappingNode, value: str) -> str:
    found = _key(group, "actions")
    if found is not None:
        name, node = found
        end = node.end_mark.index
        if isinstance(node, yaml.MappingNode) and not node.flow_style:
            end = _last_leaf(node)
        return text[: name.end_mark.index] + f": {value}" + text[end:]
    if group.flow_style:
        close = group.end_mark.index - 1
        if text[close] != "}":
            raise PolicyEditError(f"this group {_BY_HAND}")
        comma = ", " if group.value else ""
        return text[:close] + f"{comma}actions: {value}" + text[close:]
    at = _line_end(text, _last_leaf(group))
    newline = "\r\n" if "\r\n" in text else "\n"
    lead = "" if text[at - 1] == "\n" else newline
    return text[:at] + f"{lead}{' ' * group.start_mark.column}actions: {value}{newline}" + text[at:]


# -- helpers ------------------------------------------------------------------------------------


def _top(text: str) -> tuple[yaml.Node | None, Any]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyEditError(f"the file is not valid YAML ({exc}): fix it by hand first") from None
    if root is not None and not isinstance(root, yaml.MappingNode):
        raise PolicyEditError("the file is not a mapping of keys: fix it by hand first")
    return root, data


def _key(node: yaml.Node, key: str) -> tuple[yaml.ScalarNode, yaml.Node] | None:
    for name, value in node.value if isinstance(node, yaml.MappingNode) else []:
        if isinstance(name, yaml.ScalarNode) and name.value == key:
            return name, value
    return None


def _last_leaf(node: yaml.Node) -> int:
    """Where a node's own text ends: a block collection's end mark lies at the next token,
    past any comments, so take the end of its last scalar or flow collection instead."""
    if isinstance(node, yaml.ScalarNode) or getattr(node, "flow_style", False):
        return int(node.end_mark.index)
    children: list[yaml.Node] = []
    if isinstance(node, yaml.MappingNode):
        children = [part for pair in node.value for part in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    return max((_last_leaf(child) for child in children), default=int(node.end_mark.index))


def _line_end(text: str, index: int) -> int:
    """The index just past the end of the line `index` is on."""
    at = text.find("\n", index)
    return len(text) if at < 0 else at + 1


def _eol(text: str, end: int) -> str:
    """The rest of the text from `end`, starting with a line break."""
    rest = text[end:]
    return rest if rest.startswith(("\n", "\r\n")) else "\n" + rest


def _check(old: str, new: str, change: Any, key: str) -> None:
    """The new text must parse to the old data with exactly `change` made."""
    try:
        expected = copy.deepcopy(yaml.safe_load(old) or {})
        change(expected)
        got = yaml.safe_load(new) or {}
    except (yaml.YAMLError, KeyError, IndexError, TypeError, AttributeError):
        raise PolicyEditError(f"`{key}:` {_BY_HAND}") from None
    if got != expected:
        raise PolicyEditError(f"`{key}:` {_BY_HAND}")
