"""What a list's entries may not say, beyond reading cleanly: checked when the policy loads and
by `lists validate`, so both refuse the same files.

- an allowlist entry that would lift the filter for a public suffix (`filters.suffixes`);
- a study exemption for such a site;
- an entry's own `category:` that the policy does not declare, or its YAML file's top-level
  one where that is used (the policy names no category for the list): a typo there would not
  fail safe. The entry would block under a category no group's `actions:` names, at the
  default severity, and it could be lifted by the allowlist even when the category it was
  meant for is `illegal`;
- an entry's `severity:` that is not a severity (it would be ignored).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from filters.decision import Severity
from filters.lists import ListEntry, ListFile, ListProblem
from filters.policyspec import ListSpec, StudyExemption
from filters.suffixes import too_broad


def entry_problems(
    spec: ListSpec, listed: ListFile, categories: Collection[str]
) -> list[ListProblem]:
    """Every entry of one list that the policy must refuse (see the module docstring)."""
    if spec.use == "allow":
        return _broad_entries(spec, listed.entries)
    problems = []
    if listed.category and not spec.category and listed.category not in categories:
        # The file's own default is used only where the policy names no category for the list.
        problems.append(_unknown(listed.display, listed.category_line, listed.category, categories))
    for entry in listed.entries:
        file = entry.file or spec.display
        if entry.category and entry.category not in categories:
            problems.append(_unknown(file, entry.line, entry.category, categories))
        if entry.severity:
            try:
                Severity.parse(entry.severity)
            except ValueError as exc:
                problems.append(ListProblem(file, entry.line, str(exc)))
    return problems


def _unknown(file: str, line: int, category: str, categories: Collection[str]) -> ListProblem:
    declared = ", ".join(sorted(categories))
    return ListProblem(file, line, (
        f"unknown category {category!r}: use one of the policy's categories ({declared}), "
        "or declare it under categories: in the policy file"
    ))  # fmt: skip


def broad_exemptions(exemptions: Sequence[StudyExemption]) -> list[ListProblem]:
    problems = []
    for exemption in exemptions:
        for site in exemption.sites:
            why = too_broad(site)
            if why:
                where, _, line = exemption.source.rpartition(":")
                file, number = (where, int(line)) if line.isdigit() else (exemption.source, 0)
                problems.append(ListProblem(file, number, f"exemption {exemption.id}: {why}"))
    return problems


def _broad_entries(spec: ListSpec, entries: Sequence[ListEntry]) -> list[ListProblem]:
    problems = []
    for entry in entries:
        if entry.kind not in ("domain", "url"):
            continue
        why = too_broad(entry.value.split("/", 1)[0])
        if why:
            problems.append(ListProblem(entry.file or spec.display, entry.line, why))
    return problems
