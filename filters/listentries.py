"""What reading a list gives: its entries, each with its line, and its problems (file:line)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

EntryKind = Literal["domain", "url", "regex", "phrase", "weighted"]


@dataclass(frozen=True, slots=True)
class ListProblem:
    """One bad line, in words an IT technician can act on."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One usable line of a list. `extra` holds per-entry overrides from YAML lists."""

    kind: EntryKind
    value: str
    line: int
    category: str | None = None
    severity: str | None = None
    weight: int = 0
    words: tuple[str, ...] = ()
    note: str | None = None
    file: str | None = None  # an included file's name; None for the list file itself


@dataclass(slots=True)
class ListFile:
    """The entries and problems of one file, in file order."""

    path: Path
    display: str
    format: str
    entries: list[ListEntry] = field(default_factory=list)
    problems: list[ListProblem] = field(default_factory=list)
    on_domain: Callable[[str, int], None] | None = None
    # every file read through an e2guardian `.Include<...>` line, so a hot reload watches them
    included: list[Path] = field(default_factory=list)
    # A YAML list's top-level `category:` and its line: the category of its entries that name
    # none, where the policy's own `category:` for the list does not say (filters.entrychecks).
    category: str | None = None
    category_line: int = 0

    def problem(self, line: int, reason: str) -> None:
        self.problems.append(ListProblem(self.display, line, reason))


EXCERPT_CHARS = 40


def excerpt(text: str) -> str:
    """A short, printable quote of an offending line for a problem message. Problems reach the
    gateway's status file, logs and the console's dashboard: a list line (or a file that was
    never a list at all) must not spill there whole."""
    shown = "".join(c if c.isprintable() else "?" for c in text.strip()[: EXCERPT_CHARS + 1])
    if len(shown) > EXCERPT_CHARS:
        shown = shown[:EXCERPT_CHARS] + "…"
    return repr(shown)
