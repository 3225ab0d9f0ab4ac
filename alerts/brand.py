"""Finding the school's name in a title or snippet: `BrandMatcher`.

Matching is by whole words, as a phrase, and forgiving of how people type names:

- case and accents do not matter ("ST AIDAN'S", "St Áidan's");
- apostrophes, straight or curly, are dropped inside words, so "St Aidan's", "St Aidan’s" and
  "St Aidans" are one spelling; a possessive on the last word still matches ("St Aidan's
  Academy's pupils");
- hyphens, dots and other punctuation separate words ("St. Aidan's", "Exampleton-on-Sea").

Whole words only: "St Aidan's Academy" is not found in "St Aidan's Academymoor". Exclusion terms
(a namesake school's town, say) cancel an occurrence when they appear within `exclude_window`
words of it. `near()` returns the text around each occurrence, where the watcher looks for
extremist phrases.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_WORD_RE = re.compile(r"\w+(?:['’‘ʼ`´]\w+)*['’‘ʼ]?")
_APOSTROPHES = str.maketrans("", "", "'’‘ʼ`´")
_Index = dict[str, list[tuple[tuple[str, ...], str]]]  # first word -> (phrase words, term)


@dataclass(frozen=True, slots=True)
class Word:
    text: str  # folded
    bare: str  # folded, without a possessive "s" ("academys" -> "academy")
    start: int  # character offsets in the NFC text
    end: int


@dataclass(frozen=True, slots=True)
class Occurrence:
    term: str  # the brand term as configured
    first: int  # word indexes, inclusive
    last: int


@dataclass(frozen=True, slots=True)
class BrandFinding:
    text: str  # the NFC form of the text the offsets refer to
    words: tuple[Word, ...]
    occurrences: tuple[Occurrence, ...]  # not excluded
    excluded: tuple[Occurrence, ...]

    @property
    def found(self) -> bool:
        return bool(self.occurrences)

    def near(self, words: int) -> list[str]:
        """The text within `words` words either side of each occurrence."""
        out = []
        for occurrence in self.occurrences:
            first = self.words[max(0, occurrence.first - words)]
            last = self.words[min(len(self.words) - 1, occurrence.last + words)]
            out.append(self.text[first.start : last.end])
        return out


def fold_word(word: str) -> str:
    if word.isascii():  # the common case, and ten times faster
        return word.lower().translate(_APOSTROPHES)
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return plain.translate(_APOSTROPHES)


def split_words(text: str) -> tuple[str, tuple[Word, ...]]:
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    words = []
    for match in _WORD_RE.finditer(text):
        raw = match.group()
        folded = fold_word(raw)
        if not folded:
            continue
        possessive = len(raw) > 2 and raw[-2] in "'’‘ʼ" and raw[-1] in "sS"
        possessive = possessive or raw[-1] in "'’‘ʼ"  # "the Academies'"
        bare = folded[:-1] if possessive and raw[-1] in "sS" else folded
        words.append(Word(folded, bare, match.start(), match.end()))
    return text, tuple(words)


def phrase_words(term: str) -> tuple[str, ...]:
    return tuple(word.text for word in split_words(term)[1])


class BrandMatcher:
    """The school's name and variants, and the namesakes to leave out."""

    def __init__(
        self, terms: Iterable[str], exclusions: Iterable[str] = (), exclude_window: int = 8
    ) -> None:
        self.terms = [t for t in (str(t).strip() for t in terms) if phrase_words(t)]
        self.exclusions = [t for t in (str(t).strip() for t in exclusions) if phrase_words(t)]
        self.exclude_window = exclude_window
        self._terms = _index(self.terms)
        self._exclusions = _index(self.exclusions)

    def find(self, text: str) -> BrandFinding:
        normal, words = split_words(text or "")
        found = _scan(words, self._terms)
        if not found:
            return BrandFinding(normal, words, (), ())
        excluding = _scan(words, self._exclusions)
        kept, excluded = [], []
        for occurrence in found:
            if any(_distance(occurrence, ex) <= self.exclude_window for ex in excluding):
                excluded.append(occurrence)
            else:
                kept.append(occurrence)
        return BrandFinding(normal, words, tuple(kept), tuple(excluded))


def _index(terms: Sequence[str]) -> _Index:
    index: _Index = {}
    for term in terms:
        folded = phrase_words(term)
        index.setdefault(folded[0], []).append((folded, term))
    for phrases in index.values():
        phrases.sort(key=lambda p: -len(p[0]))  # longest first
    return index


def _scan(words: Sequence[Word], index: _Index) -> list[Occurrence]:
    found: list[Occurrence] = []
    if not index:
        return found
    for i, word in enumerate(words):
        candidates = index.get(word.text) or index.get(word.bare)
        if not candidates:
            continue
        for phrase, term in candidates:
            if _matches(words, i, phrase):
                found.append(Occurrence(term, i, i + len(phrase) - 1))
                break
    return found


def _matches(words: Sequence[Word], start: int, phrase: tuple[str, ...]) -> bool:
    if start + len(phrase) > len(words):
        return False
    for offset, wanted in enumerate(phrase):
        word = words[start + offset]
        last = offset == len(phrase) - 1
        if word.text != wanted and not (last and word.bare == wanted):
            return False
    return True


def _distance(a: Occurrence, b: Occurrence) -> int:
    if a.last < b.first:
        return b.first - a.last
    if b.last < a.first:
        return a.first - b.last
    return 0
