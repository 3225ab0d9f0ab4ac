"""Look-alike letters (Unicode confusables, UTS #39) folded to the Latin letters they imitate.

"zоrblах" with a Cyrillic о and х, "ехtremist.test" with a Cyrillic е, "ΖΟRΒLΑΧ" in Greek
capitals: each looks like plain Latin to a reader and to a filter it is a different word. The
mapping is UTS #39's confusables data (`confusables.txt`, as shipped offline by the
`confusable-homoglyphs` package), narrowed on purpose:

- only *sources* from scripts that imitate Latin (Latin extensions, Greek, Cyrillic, Armenian,
  Cherokee, Coptic) and only where the prototype is plain ASCII letters or digits. Arabic, Hebrew,
  Brahmic and CJK letters are never mapped: UTS #39 maps Arabic alef to "l", which would mangle
  every Arabic and Urdu phrase;
- applied to a word only when the word *mixes* Latin letters with look-alikes ("zоrblах"), or when
  every one of its letters is a look-alike (a whole-script spoof such as Cyrillic "сор" for "cop").
  A real Cyrillic or Greek word has letters with no Latin twin ("книга", "ελληνικά") and is left as
  written, so Cyrillic and Greek phrase lists keep matching their own spelling.

The rule looks at one word alone, so a list and the text it is matched against fold the same way.
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import lru_cache
from importlib import resources

import confusable_homoglyphs

# Scripts whose letters are used to imitate Latin ones (Unicode character-name prefixes).
_IMITATING = ("LATIN", "GREEK", "CYRILLIC", "ARMENIAN", "CHEROKEE", "COPTIC")


def _prototype(entries: list[dict[str, str]]) -> str | None:
    """The ASCII prototype a source maps to. The package files each line of confusables.txt
    both ways; prototypes never map further, so a *source* has exactly one entry, its target."""
    if len(entries) != 1:
        return None
    target = entries[0].get("c", "").casefold()
    return target if target and target.isascii() and target.isalnum() else None


@lru_cache(maxsize=1)
def skeleton_table() -> dict[int, str]:
    """Code point → its ASCII prototype, for the look-alikes described above (casefolded)."""
    data = resources.files(confusable_homoglyphs).joinpath("confusables.json").read_text("utf-8")
    table: dict[int, str] = {}
    for source, entries in json.loads(data).items():
        if len(source) != 1 or source.isascii():
            continue
        if not unicodedata.name(source, "").startswith(_IMITATING):
            continue
        target = _prototype(entries)
        if target is None:
            continue
        # Applied after NFKC and casefold: file the lowercase form too (a capital's own
        # lowercase may have no line of its own).
        for form in {source, source.casefold()}:
            if len(form) == 1 and not form.isascii():
                table[ord(form)] = target
    # Dotless i and long s are letters of their own in Turkish and old print, not disguises,
    # but a pupil typing "ıslam" or "ſtate" means the plain letter.
    table[ord("ı")] = "i"
    table[ord("ſ")] = "s"
    return table


_TABLE = skeleton_table()
_LETTER_RUN = re.compile(r"[^\W_]+")
_ANY_LOOKALIKE = re.compile("[" + "".join(re.escape(chr(cp)) for cp in sorted(_TABLE)) + "]")


def _unconfuse_match(match: re.Match[str]) -> str:
    return unconfuse(match.group())


def unconfuse_words(text: str) -> str:
    """`unconfuse` on every run of letters and digits: the unit is the word, so the same word
    folds the same way in a list and in any text around it."""
    if _ANY_LOOKALIKE.search(text) is None:  # the common case, Cyrillic and Arabic text too
        return text
    return _LETTER_RUN.sub(_unconfuse_match, text)


def unconfuse(word: str) -> str:
    """`word` with its look-alike letters replaced, when it is a disguise (see the module
    docstring); otherwise unchanged. Expects NFKC-normalised, casefolded text."""
    table = _TABLE
    lookalikes = 0
    letters = 0
    latin = False
    for char in word:
        if char in "0123456789":
            continue
        if ord(char) in table:
            lookalikes += 1
        elif char.isalpha():
            letters += 1
            latin = latin or char.isascii() or unicodedata.name(char, "").startswith("LATIN")
    if not lookalikes:
        return word
    if latin or letters == 0:
        return word.translate(table)
    return word


@lru_cache(maxsize=8192)
def lookalike_of(host: str) -> str | None:
    """The plain-Latin host an IDN host imitates (`xn--xtremist-2of.test`, "еxtremist.test" with
    a Cyrillic е, gives "extremist.test"), or None when it imitates nothing: its UTS #39 skeleton,
    folded word by word as phrases are, so real Cyrillic or Greek names are left alone."""
    shown = unicode_host(host)
    if shown is None:
        return None
    folded = unconfuse_words(unicodedata.normalize("NFKC", shown).casefold())
    if folded == shown or not folded.isascii():
        return None
    return folded


def unicode_host(host: str) -> str | None:
    """An IDN host as a reader sees it (`xn--xtremist-b8g.test` is "еxtremist.test")."""
    try:
        return ".".join(
            label.encode("ascii").decode("idna") if label.startswith("xn--") else label
            for label in host.split(".")
        )
    except UnicodeError:
        return None
