"""One text folding, applied to phrase lists and to what pupils type or read, so that they meet.

`fold()` turns "Zörbläx F.R.O.N.T", "z0rblaaax front" and "𝐳𝐨𝐫𝐛𝐥𝐚𝐱 front" into the same
"zorblax front". The steps, in order:

1. NFKC (full-width, ligatures, mathematical letters and circled digits become plain ones), then
   casefold (ß → ss, final sigma → sigma).
   Look-alike letters from other scripts are folded to the Latin ones they imitate
   (`filters.confusables`, UTS #39): "zоrblах" with Cyrillic о and х is "zorblax"; a real
   Cyrillic, Greek, Arabic or Urdu word is left as written.
2. Invisible characters (zero-width space/joiners, soft hyphen, bidi overrides, word joiner,
   Hangul fillers, braille blank, tag characters) are deleted: they are the cheapest way to break
   a word without changing how it looks.
3. Combining marks that decorate a letter are stripped: Latin/Greek/Cyrillic accents, Hebrew
   points, Arabic harakat, hamza above/below and the tatweel (kashida) used to stretch words. The
   vowel signs of Brahmic scripts (Devanagari, Bengali, Tamil...) are *kept*: there they are the
   spelling, not decoration, and dropping them would merge unrelated words.
4. Arabic-script letter variants that Arabic and Urdu/Persian keyboards type differently are
   unified (ك/ک → ک, ي/ى/ی → ی, ة/ۀ/ہ/ھ → ه), so one list serves both.
5. Punctuation between two word characters is dropped ("b.a.d", "b-a-d", "b_a_d", "don't"),
   except clause separators (, ; : / \\ ( ) [ ] { } < > " | ? ! and double or angle quotes),
   which split words.
6. In a word that has at least one letter, look-alike digits and symbols become letters:
   0→o 1→i 3→e 4→a 5→s 7→t 8→b @→a $→s ("h4te", "$ecret", "b@d"). Words made only of digits
   ("1984", "2024") are left alone, so numbers never turn into words.
7. Runs of the same letter collapse to one ("baaad" → "bad"). This also folds honest double
   letters ("good" → "god"), on both sides, so a list phrase still meets its own spelling; the cost
   is that "god" and "good" become one word. Digits are never collapsed.
8. Everything that is not a word character becomes a single space; no leading/trailing space.

Letters, digits and kept marks of every script are word characters. Scripts written without spaces
(Chinese, Japanese, Thai...) fold fine but have no word boundaries: `filters.phrases` matches their
phrase words as substrings instead.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from filters.confusables import unconfuse_words

# Blocks whose combining marks are spelling (abugida vowel signs, viramas, nuktas): kept.
_SPELLING_MARK_BLOCKS: tuple[tuple[int, int], ...] = (
    (0x0900, 0x0DFF),  # Devanagari, Bengali, Gurmukhi, Gujarati, Oriya, Tamil, Telugu, Kannada,
    # Malayalam, Sinhala
    (0x0E00, 0x0FFF),  # Thai, Lao, Tibetan
    (0x1000, 0x109F),  # Myanmar
    (0x1700, 0x17FF),  # Philippine scripts, Khmer
    (0x1900, 0x1AAF),  # Limbu, Tai Le, New Tai Lue, Khmer symbols, Buginese, Tai Tham
    (0x1B00, 0x1CFF),  # Balinese, Sundanese, Batak, Lepcha, Ol Chiki, Vedic extensions
    (0xA800, 0xABFF),  # Syloti Nagri ... Meetei Mayek
    (0x11000, 0x11FFF),  # historic Brahmic scripts
    (0x0780, 0x07BF),  # Thaana (Dhivehi) vowel signs are spelling too
    (0x3099, 0x309A),  # Japanese dakuten: NFC puts them back on the kana
)

_FORMAT_CHARS = (
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\u2800\u3164\ufe00-\ufe0f\ufeff\uffa0"
    "\U0001bca0-\U0001bca3\U000e0000-\U000e007f"
)

# Arabic/Urdu/Persian letter variants → one form (step 4); tatweel removed.
_ARABIC_VARIANTS = str.maketrans(
    {
        "\u0643": "\u06a9",  # ك Arabic kaf → ک keheh
        "\u064a": "\u06cc",  # ي Arabic yeh → ی Farsi yeh
        "\u0649": "\u06cc",  # ى alef maksura → ی
        "\u06d2": "\u06cc",  # ے Urdu yeh barree → ی
        "\u0629": "\u0647",  # ة teh marbuta → ه
        "\u06c0": "\u0647",  # ۀ heh with yeh above → ه
        "\u06c1": "\u0647",  # ہ Urdu heh goal → ه
        "\u06be": "\u0647",  # ھ heh doachashmee → ه
        "\u06d5": "\u0647",  # ە Kurdish ae → ه
        "\u0640": None,  # ـ tatweel
    }
)

_SUBSTITUTIONS = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s"}
)

# Typographic single quotes are apostrophes ("don’t"), so they join like "'" does.
_SEPARATORS = ",;:/\\\\()\\[\\]{}<>\"|?!\u00ab\u00bb\u201c\u201d\u201e\u2039\u203a"


def _ranges_to_class(ranges: Iterable[tuple[int, int]]) -> str:
    return "".join(
        re.escape(chr(lo)) if lo == hi else f"{re.escape(chr(lo))}-{re.escape(chr(hi))}"
        for lo, hi in ranges
    )


def _merge(points: list[int]) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    for cp in points:
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    return ranges


def _mark_classes() -> tuple[str, str]:
    """(marks to strip, marks that are word characters), as regex class bodies.

    Built from the Unicode database at import (~40 ms) rather than a hand list, so a new Python's
    Unicode version is picked up without edits."""
    strip: list[int] = []
    keep: list[int] = []
    for cp in range(0x30000):
        category = unicodedata.category(chr(cp))
        if category[0] != "M":
            continue
        spelling = any(lo <= cp <= hi for lo, hi in _SPELLING_MARK_BLOCKS)
        if spelling or category == "Mc":
            keep.append(cp)
        else:
            strip.append(cp)
    strip.extend(range(0xE0100, 0xE01F0))  # variation selectors supplement
    return _ranges_to_class(_merge(strip)), _ranges_to_class(_merge(keep))


_STRIP_MARKS, _WORD_MARKS = _mark_classes()
_STRIP = re.compile(f"[{_STRIP_MARKS}{_FORMAT_CHARS}]+")
_WORD = f"\\w{_WORD_MARKS}"  # "_" never survives to the steps that use this (see fold)
_JOINERS = re.compile(f"(?<=[{_WORD}@$])[^{_WORD}\\s@${_SEPARATORS}]+(?=[{_WORD}@$])")
# A token that holds a digit, @ or $, matched only from its start so a long word costs O(len).
_MIXED = re.compile(f"(?<![{_WORD}@$])[{_WORD}@$]*[0-9@$][{_WORD}@$]*")
_HAS_LETTER = re.compile(r"[^\W\d_]")
_RUNS = re.compile(r"([^\W\d_])\1+")
_NON_WORD = re.compile(f"[^{_WORD}]+")
_ASCII_JOINERS = re.compile(r"(?<=[0-9a-z@$])[^0-9a-z\s@$,;:/\\()\[\]{}<>\"|?!]+(?=[0-9a-z@$])")
_ASCII_NON_WORD = re.compile(r"[^0-9a-z]+")


def _substitute(match: re.Match[str]) -> str:
    token = match.group()
    if _HAS_LETTER.search(token) is None:
        return token
    return token.translate(_SUBSTITUTIONS)


def _fold_chunk(chunk: str) -> str:
    """Fold one whitespace-free chunk; every step of `fold` stays inside such a chunk."""
    if chunk.isascii():
        folded = chunk.lower()
        if folded.isalpha():
            return _RUNS.sub(r"\1", folded)  # the common case: a plain word
        folded = _ASCII_JOINERS.sub("", folded.replace("_", "-"))
        folded = _MIXED.sub(_substitute, folded)
        folded = _RUNS.sub(r"\1", folded)
        return _ASCII_NON_WORD.sub(" ", folded).strip()
    folded = unicodedata.normalize("NFKC", chunk).casefold()
    folded = unicodedata.normalize("NFD", folded)
    folded = _STRIP.sub("", folded)
    folded = unicodedata.normalize("NFC", folded).translate(_ARABIC_VARIANTS)
    folded = _JOINERS.sub("", folded.replace("_", "-"))
    folded = _MIXED.sub(_substitute, folded)
    # After the joiners, so "z.о.r" is judged as one word, and after digits became letters, so
    # a word is judged as it will stand ("0ÆФ" is "oæф" first): folding twice gives the same.
    folded = unconfuse_words(folded)
    # A look-alike may be a digit ("Ʒ" is "3"): it becomes a letter as a typed one would, or
    # folding twice would not give the same ("0Ʒ" is "o3", then "oe").
    folded = _MIXED.sub(_substitute, folded)
    folded = _RUNS.sub(r"\1", folded)
    # Composed again: removing a character can bring marks or jamo together that compose.
    return unicodedata.normalize("NFC", _NON_WORD.sub(" ", folded)).strip()


class _FoldCache(dict[str, str]):
    """Folded chunks remembered across calls: pages and queries share most of their vocabulary.

    A miss folds the chunk in `__missing__`, so `fold` looks every chunk up in one C-level pass
    whether or not all of them are known. Only short chunks are kept, and the whole cache is
    dropped when full, so a page of random junk costs a little time and never memory (at most
    ~50k short strings). Plain dict get/set is safe across threads."""

    __slots__ = ()

    def __missing__(self, chunk: str) -> str:
        value = _fold_chunk(chunk)
        if len(chunk) <= _CACHE_CHUNK:
            if len(self) >= _CACHE_ENTRIES:
                self.clear()
            self[chunk] = value
        return value


_CACHE = _FoldCache()
_CACHE_ENTRIES = 50_000
_CACHE_CHUNK = 40


def fold(text: str) -> str:
    """Fold `text` for matching (see the module docstring for the exact steps).

    Works chunk by chunk between whitespace and remembers each distinct chunk, which is several
    times faster on a page than whole-text regex passes."""
    if not text:
        return ""
    # Look every chunk up (a miss is folded on the spot), drop the empty ones, join.
    return " ".join(filter(None, map(_CACHE.__getitem__, text.split())))


def fold_words(text: str) -> list[str]:
    """`fold(text)` split into words."""
    return fold(text).split()


MAX_JOINED_WORDS = 5  # a longer phrase only gets its all-joined spelling as well


def spellings(words: list[str]) -> list[tuple[str, ...]]:
    """The ways a pupil can write folded phrase `words` with or without separators between
    them, in their written order: "zorblax front" is ("zorblax", "front") and ("zorblaxfront",)
    (what "zorblax.front", "zorblax_front", "zorblax+front" and "zorblaxfront" fold to). A
    joined word is folded again, so a run across the join collapses as it does in the text."""
    if len(words) < 2:
        return [tuple(words)]
    if len(words) > MAX_JOINED_WORDS:
        return [tuple(words), (fold("".join(words)),)]
    out: dict[tuple[str, ...], None] = {}
    for mask in range(1 << (len(words) - 1)):  # bit i set: join word i to word i+1
        tokens: list[str] = []
        current = words[0]
        for index, word in enumerate(words[1:]):
            if mask >> index & 1:
                current += word
            else:
                tokens.append(current)
                current = word
        tokens.append(current)
        out[tuple(fold(token) if len(token) > 0 else token for token in tokens)] = None
    return list(out)
