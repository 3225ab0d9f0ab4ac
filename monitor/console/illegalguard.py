"""Nothing the console writes may lift an illegal category (`illegal: true`, unlawful content):
not by taking the flag off a category, not by taking entries off a list of one, and not by a
group action other than block for one. A rollback to an old version could do any of these
(the old files may predate an import of the CTIRU list, say), so every change is compared,
before it is written, with the policy in force: `lifted(now, after)` says what it would lift.
"""

from __future__ import annotations

from pathlib import Path

from filters.lists import read_list
from filters.policyfile import PolicySpec, read_policy

SHOWN = 5


def lifted(policy_now: Path, policy_after: Path) -> list[str]:
    """Why the policy at `policy_after` (a checked copy) lifts something illegal that the
    policy at `policy_now` does not, one line each; empty when it lifts nothing."""
    now, after = read_policy(policy_now), read_policy(policy_after)
    illegal = {name for name, category in now.categories.items() if category.illegal}
    found = [
        f"{now.path.name}: categories.{name}: would no longer be marked illegal: true; nothing "
        "may lift unlawful content"
        for name in sorted(illegal)
        if not (after.categories.get(name) and after.categories[name].illegal)
    ]
    found += _group_actions(now, after, illegal)
    found += _entries_taken_off(now, after, illegal)
    return found


def _group_actions(now: PolicySpec, after: PolicySpec, illegal: set[str]) -> list[str]:
    found = []
    for name, group in sorted(after.groups.items()):
        for category, action in sorted(group.actions.items()):
            before = now.groups.get(name)
            same = before is not None and before.actions.get(category) == action
            if category in illegal and action.value != "block" and not same:
                found.append(
                    f"{after.path.name}: groups.{name}.actions.{category}: {action.value} would "
                    f"lift {category}, marked illegal: true"
                )
    return found


def _entries_taken_off(now: PolicySpec, after: PolicySpec, illegal: set[str]) -> list[str]:
    base_now, base_after = now.path.parent.resolve(), after.path.parent.resolve()
    found = []
    for spec in now.lists:
        if spec.category not in illegal:
            continue
        before = _entries(spec.path, spec.format, base_now)
        try:
            counterpart = base_after / spec.path.resolve().relative_to(base_now)
        except ValueError:  # a list outside the policy folder: the console never writes it
            continue
        named = _named(after, counterpart)
        still = _entries(counterpart, spec.format, base_after) if named else set()
        gone = sorted(before - still)
        if gone:
            shown = ", ".join(value for _, value in gone[:SHOWN])
            more = f" and {len(gone) - SHOWN} more" if len(gone) > SHOWN else ""
            found.append(
                f"{spec.display}: would take {len(gone)} entries off this list of "
                f"{spec.category}, marked illegal: true ({shown}{more})"
            )
    return found


def _named(spec: PolicySpec, path: Path) -> bool:
    """Whether `spec` still names `path` as a list of a category marked illegal."""
    for item in spec.lists:
        category = spec.categories.get(item.category or "")
        if item.path.resolve() == path.resolve() and category is not None and category.illegal:
            return True
    return False


def _entries(path: Path, fmt: str | None, root: Path) -> set[tuple[str, str]]:
    listed = read_list(path, fmt, root=root)
    return {(entry.kind, entry.value) for entry in listed.entries}
