"""Which school a part works for, and the trust's schools (issue #16).

Every gateway and watcher is configured with its school: `school_id`, a short id that every
event, mention, unblock request, context-log row and instant alert is stored under, and `school`,
the name shown on the block page and in digests. A trust that runs several schools on one store
lists them all under `trust.schools` (id: name) in each part's configuration, so the console can
name every school and the writer can tell a school it does not know.

A row whose school the configuration does not know is not dropped: the writer stores it under
`UNKNOWN_SCHOOL`, the console shows it to accounts of every school only, and the health page
counts it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from monitor.setting import setting

UNKNOWN_SCHOOL = "unknown"
UNKNOWN_NAME = "Unknown school"
DEFAULT_SCHOOL_ID = "school"
# Short, stable and safe in URLs, file names, metrics labels and a comma-separated column.
SCHOOL_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$")
ALL_SCHOOLS = "*"  # an account's schools: every school of the trust


@dataclass(slots=True)
class TrustSettings:
    name: str = setting(
        "",
        "The trust's name, shown to trust-wide accounts and in the trust-wide digest. Empty: a "
        "single school (no trust).",
    )
    schools: dict[str, str] = setting(  # noqa: RUF009
        {},
        "Every school of the trust that shares this store, as id: name "
        "(e.g. northfield: Northfield Academy). Give each school's parts the same list and their "
        "own school_id. Empty: just this part's own school.",
    )


def id_problem(value: str) -> str | None:
    """Why `value` cannot be a school id, or None."""
    if SCHOOL_ID.match(value) and value != UNKNOWN_SCHOOL:
        return None
    if value == UNKNOWN_SCHOOL:
        return f"{value!r} is reserved for rows whose school the configuration does not know"
    return (
        f"{value!r} is not a school id: use 1 to 32 lowercase letters, digits and hyphens "
        "(e.g. northfield)"
    )


def school_problems(school_id: str, trust: TrustSettings) -> list[str]:
    """Problems with `school_id` and `trust.schools`, each naming its key path."""
    problems = []
    problem = id_problem(school_id)
    if problem:
        problems.append(f"school_id: {problem}")
    for key in trust.schools:
        problem = id_problem(key)
        if problem:
            problems.append(f"trust.schools.{key}: {problem}")
    if trust.schools and school_id not in trust.schools:
        problems.append(
            f"school_id: {school_id!r} is not one of trust.schools "
            f"({', '.join(sorted(trust.schools))}); add it there or fix the id"
        )
    return problems


class Schools:
    """The schools a configuration knows, by id, with their names."""

    def __init__(self, names: Mapping[str, str], own: str = DEFAULT_SCHOOL_ID) -> None:
        self.names = dict(names)
        self.own = own

    @classmethod
    def configured(cls, school_id: str, school: str, trust: TrustSettings) -> Schools:
        names = {key: str(value or key) for key, value in trust.schools.items()}
        names.setdefault(school_id, school)
        return cls(names, school_id)

    def __contains__(self, school_id: object) -> bool:
        return school_id in self.names

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(self.names)

    @property
    def many(self) -> bool:
        """A trust of several schools (the console then shows which school each row is)."""
        return len(self.names) > 1

    def name_of(self, school_id: str | None) -> str:
        if school_id in self.names:
            return self.names[str(school_id)]
        if school_id in (None, "", UNKNOWN_SCHOOL):
            return UNKNOWN_NAME
        return f"{UNKNOWN_NAME} ({school_id})"

    def stored_as(self, school_id: str | None) -> str:
        """What the writer stores for a row that names `school_id` (None: this part's own)."""
        if school_id is None:
            return self.own
        return school_id if school_id in self.names else UNKNOWN_SCHOOL


def parse_account_schools(value: str | None) -> frozenset[str] | None:
    """An account's `schools` column: None for every school (`*`), else the set of ids (maybe
    empty: an account with no school sees nothing)."""
    if value is None:
        return frozenset()
    value = value.strip()
    if value == ALL_SCHOOLS:
        return None
    return frozenset(part.strip() for part in value.split(",") if part.strip())


def format_account_schools(schools: Iterable[str] | None) -> str:
    if schools is None:
        return ALL_SCHOOLS
    return ",".join(sorted(set(schools)))
