"""Search-term phrase lists: which listed phrases does a pupil's query contain?

A phrase matches when every one of its words is present in the query as a whole word, in any
order ("alpha beta" matches "beta alpha" and "alpha and beta"; "class" never matches "classic").
Both sides go through `filters.textfold.fold`, so case, accents, Arabic harakat, look-alike digits,
stretched letters and punctuation inside words make no difference.

Separators between a phrase's words are optional: "zorblax front" also matches "zorblax.front",
"zorblax_front", "zorblax+front" and "zorblaxfront" (`filters.textfold.spellings`), never
"zorblaxian frontier". Words are the unit, so the compiled form is a hash of folded word →
phrases that need it: one lookup per query word, whatever the list size. Words in scripts
written without spaces (Chinese, Japanese, Thai, Lao, Khmer, Myanmar) have no word boundaries to
respect; those are found as substrings of the folded query with one Aho-Corasick pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import ahocorasick

from filters.textfold import fold, spellings

_UNSPACED_SCRIPT = re.compile(
    "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uf900-\ufaff\U00020000-\U0003ffff]"
)


@dataclass(frozen=True, slots=True)
class Phrase:
    """One line of a search-term list."""

    text: str  # as written in the list
    category: str
    severity: int  # a filters.decision.Severity value
    rule: str  # stable id, e.g. "search:proscribed:12"
    source: str  # "file:line"


@dataclass(frozen=True, slots=True)
class PhraseHit:
    phrase: Phrase


class PhraseList:
    """A compiled phrase list. Build once per policy load; `find` is safe to call from threads."""

    def __init__(self, phrases: Iterable[Phrase]) -> None:
        self._phrases: list[Phrase] = []
        # Each way of writing a phrase (with or without separators between its words) is an
        # alternative: the distinct words it needs and the phrase it stands for.
        self._needs: list[int] = []
        self._owner: list[int] = []
        self._by_word: dict[str, list[int]] = {}
        self._unspaced = ahocorasick.Automaton()
        unspaced_words = 0
        for phrase in phrases:
            words = fold(phrase.text).split()
            if not words:
                continue  # only punctuation: it could never match, lists validate says so
            index = len(self._phrases)
            self._phrases.append(phrase)
            for spelling in spellings(words):
                alternative = len(self._needs)
                distinct = list(dict.fromkeys(spelling))
                self._needs.append(len(distinct))
                self._owner.append(index)
                for word in distinct:
                    if _UNSPACED_SCRIPT.search(word) and word not in self._unspaced:
                        self._unspaced.add_word(word, word)
                        unspaced_words += 1
                    self._by_word.setdefault(word, []).append(alternative)
        self._has_unspaced = unspaced_words > 0
        if self._has_unspaced:
            self._unspaced.make_automaton()

    def __len__(self) -> int:
        return len(self._phrases)

    def find(self, text: str) -> list[PhraseHit]:
        """Every phrase whose words all appear in `text`, in list order, each once."""
        if not self._phrases or not text:
            return []
        folded = fold(text)
        present = set(folded.split())
        if self._has_unspaced:
            present.update(word for _, word in self._unspaced.iter(folded))
        by_word = self._by_word
        # The listed words of the query, in one C-level pass: most searches have none.
        listed = by_word.keys() & present
        if not listed:
            return []
        needs = self._needs
        found: dict[int, int] = {}
        for word in listed:
            for alternative in by_word[word]:
                found[alternative] = found.get(alternative, 0) + 1
        owner = self._owner
        matched = {owner[a] for a, count in found.items() if count == needs[a]}
        phrases = self._phrases
        return [PhraseHit(phrases[index]) for index in sorted(matched)]
