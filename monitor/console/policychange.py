"""One change IT staff asked for, from the form to the new texts of the files, or refused.

    change = list_change_from(form)            # FieldError: a field that cannot be used
    plan = plan_list_change(state, change)     # PolicyEditError / FieldError: refused, and why
    plan.proposed                              # {path: new text}, for save_change or a preview

Every form field is single-valued (an entry to remove is `remove_<line>=<value>`), so the
same fields can be handed to the impact preview and posted back unchanged. The rules beyond
`lists validate` live here: nothing is taken off a list of an illegal category, nothing is
allowlisted that is a public suffix or that an illegal category lists, and no group's action
for an illegal category can be anything but block. Blocking: call `plan_*` off the event loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filters.decision import Action
from filters.lists import ListEntry, read_list
from filters.policy import Policy, PolicyError
from filters.suffixes import too_broad
from monitor.console.entryform import (
    FieldError,
    note_of,
    page_of,
    reason_of,
    site_of,
    version_of_form,
)
from monitor.console.policystate import EditableList, PolicyState
from monitor.console.policytext import PolicyEditError, add_entry, remove_entry, set_group_actions

MAX_REMOVALS = 500
ACTIONS = tuple(a.value for a in sorted(Action, key=lambda a: -a.strength))  # block first


@dataclass(frozen=True, slots=True)
class Plan:
    proposed: dict[Path, str]
    summary: str


@dataclass(frozen=True, slots=True)
class ListChange:
    rel: str
    base: int | None
    reason: str
    add_kind: str = ""  # "" | "domain" | "url"
    add_value: str = ""
    add_category: str = ""
    add_note: str = ""
    removals: tuple[tuple[int, str], ...] = ()  # (line, the entry's value)


@dataclass(frozen=True, slots=True)
class GroupChange:
    group: str
    base: int | None
    reason: str
    actions: dict[str, str] = field(default_factory=dict)  # category -> action; "" default


def _get(form: Mapping[str, Any], name: str, limit: int = 4096) -> str:
    value = form.get(name, "")
    return str(value)[: limit + 1] if isinstance(value, str) else ""


def list_change_from(form: Mapping[str, Any]) -> ListChange:
    removals: list[tuple[int, str]] = []
    for name in form:
        if not name.startswith("remove_"):
            continue
        line = name.removeprefix("remove_")
        if not line.isdigit() or len(line) > 7:
            raise FieldError("An entry to remove is not named by its line: reload the page.")
        removals.append((int(line), _get(form, name, 2048)))
    if len(removals) > MAX_REMOVALS:
        raise FieldError(f"Remove at most {MAX_REMOVALS} entries in one change.")
    kind = _get(form, "add_kind", 10)
    if kind not in ("", "domain", "url"):
        raise FieldError("Choose whether to add a whole site or one page and below.")
    value = _get(form, "add_value", 4096).strip()
    return ListChange(
        rel=_get(form, "file", 1024),
        base=version_of_form(_get(form, "base", 20)),
        reason=reason_of(_get(form, "reason", 4096)),
        add_kind=(kind or "domain") if value else "",
        add_value=value,
        add_category=_get(form, "add_category", 128).strip(),
        add_note=note_of(_get(form, "add_note", 4096)),
        removals=tuple(sorted(removals, reverse=True)),
    )


def plan_list_change(state: PolicyState, change: ListChange) -> Plan:
    item = state.editable(change.rel)
    if item is None:
        raise FieldError("That list cannot be edited here: choose one from the lists page.")
    if not change.add_value and not change.removals:
        raise FieldError("Nothing to change: give an entry to add or tick entries to remove.")
    try:
        text = item.path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyEditError(f"{item.rel}: cannot read it ({exc}): fix it by hand") from None
    entries = read_list(item.path, "yaml", display=item.rel).entries
    done: list[str] = []
    for line, value in change.removals:  # from the bottom up, so line numbers stay right
        if item.illegal:
            raise PolicyEditError(
                f"{item.rel} lists {item.category}, marked illegal: true: nothing is taken off "
                "it here (a new import of the list it came from replaces it)."
            )
        if not any(e.line == line and e.value == value for e in entries):
            raise PolicyEditError(
                f"{item.rel}:{line} is no longer {value[:80]!r}: the list has changed; reload it."
            )
        text = remove_entry(text, line)
        done.append(f"removed {value[:80]} ({item.rel}:{line})")
    if change.add_value:
        entry, shown = _new_entry(state, item, change, entries)
        text = add_entry(text, entry)
        done.insert(0, f"added {shown} to {item.rel}")
    return Plan({item.path: text}, "; ".join(done))


def _new_entry(
    state: PolicyState, item: EditableList, change: ListChange, entries: list[ListEntry]
) -> tuple[dict[str, str] | str, str]:
    kind = change.add_kind
    value = site_of(change.add_value) if kind == "domain" else page_of(change.add_value)
    same = next((e for e in entries if e.kind == kind and e.value == value), None)
    if same is not None:
        raise FieldError(f"{value} is already on this list ({item.rel}:{same.line}).")
    entry: dict[str, str] = {kind: value}
    if change.add_category and item.use == "block":
        if change.add_category not in state.spec.categories:
            raise FieldError(f"There is no category {change.add_category[:60]!r} in the policy.")
        if change.add_category != item.category:
            entry["category"] = change.add_category
    if change.add_note:
        entry["note"] = change.add_note
    if item.use == "allow":
        _may_allow(state, value if kind == "domain" else value.split("/", 1)[0], value)
    # A site alone is written as the lists' shortest form, `- site.example`.
    return (value if entry == {"domain": value} else entry), value


def _may_allow(state: PolicyState, host: str, value: str) -> None:
    """Refuse an allowlist entry for a public suffix, or for a site an illegal category lists
    (nothing lifts those; an entry would only suggest otherwise)."""
    broad = too_broad(host)
    if broad:
        raise FieldError(f"Not allowlisted: {broad}.")
    try:
        policy = Policy.load(state.policy_path)
    except PolicyError:
        return  # the check of the whole policy below reports what is wrong with it
    decision = policy.decide(f"http://{value}")
    if decision.illegal:
        raise FieldError(
            f"Not allowlisted: {value} is listed as {decision.category} ({decision.source}), "
            "marked illegal: true. Nothing lifts unlawful content, so no entry is added."
        )


def group_change_from(form: Mapping[str, Any]) -> GroupChange:
    actions: dict[str, str] = {}
    for name in form:
        if not name.startswith("action_"):
            continue
        category = name.removeprefix("action_")[:128]
        action = _get(form, name, 10)
        if action not in ("", *ACTIONS):
            raise FieldError(f"Choose one of {', '.join(ACTIONS)} for {category!r}.")
        actions[category] = action
    if len(actions) > 500:
        raise FieldError("Too many categories in one form: reload the page.")
    return GroupChange(
        group=_get(form, "group", 128),
        base=version_of_form(_get(form, "base", 20)),
        reason=reason_of(_get(form, "reason", 4096)),
        actions=actions,
    )


def _trust_actions(state: PolicyState, group: str) -> dict[str, str]:
    """The actions the trust's policy (`extends:`) gives `group`, if any."""
    trust = state.spec.base.groups.get(group) if state.spec.base is not None else None
    return {c: a.value for c, a in trust.actions.items()} if trust is not None else {}


def plan_group_change(state: PolicyState, change: GroupChange) -> Plan:
    spec = state.spec
    group = spec.groups.get(change.group)
    if group is None:
        raise FieldError("There is no such group in the policy.")
    current = {name: action.value for name, action in group.actions.items()}
    wanted: dict[str, str] = {}
    for category, action in change.actions.items():
        known = spec.categories.get(category)
        if known is None:
            raise FieldError(f"There is no category {category[:60]!r} in the policy.")
        if known.illegal and action not in ("", Action.BLOCK.value):
            raise FieldError(
                f"No group setting can lift {category}: it is marked illegal: true (unlawful "
                "content), which is blocked for everyone."
            )
        if action:
            wanted[category] = action
    trust = _trust_actions(state, change.group)
    unset = sorted(c for c in trust if c not in wanted)
    if unset:
        raise FieldError(
            f"{', '.join(unset)} for {change.group} is set by the trust's policy: choose an "
            "action at least as strict, not the category default."
        )
    kept = {c: wanted[c] for c in current if c in wanted}
    actions = kept | {c: a for c, a in wanted.items() if c not in kept}
    if actions == current:
        raise FieldError("Nothing to change: these are the group's actions already.")
    text = state.policy_path.read_text(encoding="utf-8")
    # The school's file states only what differs from the trust's, so a trust that later
    # changes its own setting is not held back by a copy of the old one here.
    local = {c: a for c, a in actions.items() if trust.get(c) != a}
    new = set_group_actions(text, change.group, local)
    words = [
        f"{c}: {current.get(c, 'default')} → {actions.get(c, 'default')}"
        for c in sorted(set(current) | set(actions))
        if current.get(c) != actions.get(c)
    ]
    return Plan({state.policy_path: new}, f"group {change.group}: " + ", ".join(words))


def save_fields(form: Mapping[str, Any]) -> dict[str, str]:
    """The form's fields as the impact preview's form posts them back (without the CSRF
    token, which the preview page adds from the session)."""
    return {name: _get(form, name) for name in form if name != "csrf_token"}
