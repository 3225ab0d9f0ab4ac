"""Weighted phrases over page text: e2guardian's scoring model, done with care for hostile pages.

Every occurrence of a phrase adds its weight to the page's score, up to `max_count_per_phrase`
occurrences so one word repeated down a page cannot decide alone. Negative weights are context
that lowers the score ("history lesson", "curriculum", "counter-extremism"), which is how a
teaching resource about a subject stays below the threshold a propaganda page crosses. A
combination (e2guardian `<a>,<b><weight>`) counts once per page when all its parts are present.

Phrases and page text both go through `filters.textfold.fold`; phrases then match at word
boundaries and, unlike search terms, in their written word order, with or without separators
between the words ("zorblax_front", "zorblaxfront"). One Aho-Corasick pass over the
folded text finds every phrase, so the cost is linear in the page and flat in the list size.

`page_text` turns a response body into the text a pupil sees. It is a linear-time regex stripper,
not a parser: a deeply nested, unterminated or binary "page" costs no more than a tidy one.
"""

from __future__ import annotations

import codecs
import html
import re
from collections.abc import Iterable
from dataclasses import dataclass

import ahocorasick

from filters.textfold import fold, spellings

# --- page text ---------------------------------------------------------------------------------

_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
# script/style and their contents; an unclosed one runs to the end, as in a browser, and the
# `(?:>|\Z)` alternatives keep a page of thousands of unclosed tags linear.
# Each tag pattern opens with a lookahead on the first letters its names can start with: `re`
# has no prefix table for an alternation, so without it every "<p>" and "</div>" is tried
# against each name in turn (several times slower on a page). The lookahead only restates what
# the alternation already requires, so what matches is unchanged.
_RAW_TEXT = re.compile(
    r"<(?=[st])(script|style|template)\b[^>]*(?:>.*?(?:</\1\s*>|\Z)|\Z)", re.S | re.I
)
_TEXT_TAG = re.compile(r"<(?=[iam])(img|area|input|meta)\b([^>]*)(?:>|\Z)", re.I)
# Inline formatting does not separate words on screen: "<b>zor</b>blax" reads "zorblax".
_INLINE_TAG = re.compile(
    r"<(?=/?[abdefimstuw])"
    r"/?(?:b|i|u|s|em|strong|span|font|mark|small|big|sub|sup|abbr|bdi|bdo|wbr|ins|del|tt)\b"
    r"[^>]*(?:>|\Z)",
    re.I,
)
_ANY_TAG = re.compile(r"<[a-zA-Z/!?][^>]*(?:>|\Z)")
_ATTR = re.compile(r"""([a-zA-Z_:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
_META_TEXT = frozenset(
    {"description", "keywords", "og:title", "og:description", "twitter:title",
     "twitter:description"}
)
_CHARSET_PARAM = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.I)
_META_CHARSET = re.compile(
    rb"""<meta\b[^>]{0,512}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.I
)
# WHATWG: these labels mean windows-1252; a UTF-16 label in a <meta> means UTF-8.
_LABEL_ALIASES = {
    "iso-8859-1": "cp1252", "iso8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252",
    "l1": "cp1252", "ascii": "cp1252", "us-ascii": "cp1252", "windows-1252": "cp1252",
    "x-user-defined": "cp1252",
}
# Codecs that are not a page's character set, or that a page must never be allowed to pick.
_REFUSED = frozenset({"utf_7", "idna", "punycode", "undefined", "unicode_escape",
                      "raw_unicode_escape", "mbcs", "oem"})


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _LABEL_ALIASES.get(label, label)
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError, TypeError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name.replace("-", "_") in _REFUSED:
        return None
    return info.name


def _decode(content: bytes, content_type: str, charset: str | None) -> str:
    """BOM, then the header's charset, then <meta charset>, then UTF-8 with replacement."""
    if content.startswith(codecs.BOM_UTF8):
        return content[3:].decode("utf-8", "replace")
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return content.decode("utf-16", "replace")
    header = charset
    if header is None:
        found = _CHARSET_PARAM.search(content_type or "")
        header = found.group(1) if found else None
    candidates = [header]
    meta = _META_CHARSET.search(content[:4096])
    if meta:
        label = meta.group(1).decode("ascii", "replace")
        candidates.append("utf-8" if label.lower().startswith("utf-16") else label)
    for label in candidates:
        name = _codec(label)
        if name is None:
            continue
        try:
            return content.decode(name, "replace")
        except (UnicodeError, LookupError, ValueError, TypeError):
            continue
    return content.decode("utf-8", "replace")


def _attrs(raw: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for match in _ATTR.finditer(raw):
        name = match.group(1).lower()
        if name not in attrs:
            attrs[name] = match.group(2) or match.group(3) or match.group(4) or ""
    return attrs


def _tag_text(match: re.Match[str]) -> str:
    """Alt text of images and the words in a page's description and keywords."""
    tag = match.group(1).lower()
    attrs = _attrs(match.group(2))
    if tag == "meta":
        name = attrs.get("name") or attrs.get("property") or ""
        text = attrs.get("content", "") if name.lower() in _META_TEXT else ""
    elif tag == "input":
        text = attrs.get("alt", "") or attrs.get("placeholder", "")
    else:
        text = attrs.get("alt", "")
    return f" {text} " if text else " "


def _looks_like_html(content_type: str, text: str) -> bool:
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if "html" in kind or kind.endswith("xml") or kind.endswith("+xml"):
        return True
    if kind:
        return False
    return text[:1024].lstrip()[:1] == "<"


def page_text(content: str | bytes, content_type: str, charset: str | None = None) -> str:
    """The text a reader sees: tags, scripts, styles and comments gone; entities decoded; the
    title, meta description/keywords and image alt text kept. Never raises."""
    text = content if isinstance(content, str) else _decode(bytes(content), content_type, charset)
    if not _looks_like_html(content_type, text):
        return text
    text = _COMMENT.sub(" ", text)
    text = _RAW_TEXT.sub(" ", text)
    text = _TEXT_TAG.sub(_tag_text, text)
    text = _INLINE_TAG.sub("", text)
    text = _ANY_TAG.sub(" ", text)
    return html.unescape(text)


# --- scoring -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WeightedPhrase:
    """One line of a weighted list: a phrase, or a combination whose parts must all appear."""

    words: tuple[str, ...]  # one phrase, or several for a combination (e2guardian <a>,<b>)
    weight: int  # positive, or negative for context that lowers the score
    category: str
    rule: str
    source: str  # "file:line"


@dataclass(frozen=True, slots=True)
class PageScore:
    score: int
    # phrase and how many times it counted; biggest contribution first, so the strongest
    # positive phrase leads and lowering (negative) context comes last
    hits: tuple[tuple[WeightedPhrase, int], ...]
    truncated: bool  # only the first `limit` bytes/characters were read

    def by_category(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for phrase, count in self.hits:
            totals[phrase.category] = totals.get(phrase.category, 0) + phrase.weight * count
        return totals


class WeightedPhrases:
    """A compiled weighted list. Build once per policy load; `score` is safe from threads."""

    def __init__(
        self, phrases: Iterable[WeightedPhrase], *, max_count_per_phrase: int = 10
    ) -> None:
        self.max_count_per_phrase = max(1, max_count_per_phrase)
        self._phrases: list[WeightedPhrase] = []
        self._parts: list[tuple[int, ...]] = []  # per phrase: indices of its folded parts
        self._users: list[list[int]] = []  # per part: phrases that use it
        keys: dict[str, int] = {}
        spelled: dict[str, int] = {}  # every way of writing a part -> its key
        self._automaton = ahocorasick.Automaton()
        for phrase in phrases:
            folded = [fold(part) for part in phrase.words]
            if not folded or not all(folded):
                continue  # a part with no letters or digits could never match
            index = len(self._phrases)
            self._phrases.append(phrase)
            parts: list[int] = []
            for part in dict.fromkeys(folded):
                key = keys.get(part)
                if key is None:
                    key = keys[part] = len(keys)
                    self._users.append([])
                    self._add_spellings(part, key, spelled)
                self._users[key].append(index)
                parts.append(key)
            self._parts.append(tuple(parts))
        if keys:
            self._automaton.make_automaton()
        self._empty = not keys

    def _add_spellings(self, part: str, key: int, spelled: dict[str, int]) -> None:
        """A part and its joined spellings ("zorblax front", "zorblaxfront"). Spaces around
        both phrase and text make every match whole words. A spelling another part already
        owns stays that part's (the part as written wins over a joined spelling)."""
        for number, words in enumerate(spellings(part.split())):
            text = f" {' '.join(words)} "
            if text in spelled and (number or spelled[text] == key):
                continue
            spelled[text] = key
            self._automaton.add_word(text, key)

    def __len__(self) -> int:
        return len(self._phrases)

    def score(
        self,
        content: str | bytes,
        content_type: str = "text/html",
        *,
        charset: str | None = None,
        limit: int = 2_000_000,
    ) -> PageScore:
        """Score the first `limit` bytes (or characters) of a page. Never raises."""
        limit = max(0, limit)
        truncated = len(content) > limit
        if self._empty:
            return PageScore(0, (), truncated)
        text = page_text(content[:limit], content_type, charset)
        folded = f" {fold(text)} "
        counts: dict[int, int] = {}
        for _, key in self._automaton.iter(folded):
            counts[key] = counts.get(key, 0) + 1
        return self._tally(counts, truncated)

    def _tally(self, counts: dict[int, int], truncated: bool) -> PageScore:
        touched: set[int] = set()
        for key in counts:
            touched.update(self._users[key])
        hits: list[tuple[WeightedPhrase, int]] = []
        cap = self.max_count_per_phrase
        for index in touched:
            parts = self._parts[index]
            if len(self._phrases[index].words) == 1:
                times = min(counts[parts[0]], cap)
            elif all(part in counts for part in parts):
                times = 1  # a combination counts once per page
            else:
                continue
            hits.append((self._phrases[index], times))
        hits.sort(key=lambda hit: (-hit[0].weight * hit[1], hit[0].rule))
        return PageScore(sum(p.weight * n for p, n in hits), tuple(hits), truncated)
