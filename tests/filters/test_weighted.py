"""Weighted page scoring and page_text: the e2guardian model, and pages built to hurt a filter."""

from __future__ import annotations

import html
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from filters import weighted as weighted_module
from filters.weighted import PageScore, WeightedPhrase, WeightedPhrases, page_text


def _wp(*words: str, weight: int, category: str = "extremism", n: int = 1) -> WeightedPhrase:
    return WeightedPhrase(words, weight, category, f"page:test:{n}", f"weighted.txt:{n}")


ZORBLAX = _wp("zorblax front", weight=30, n=1)
GLORP = _wp("glorp", weight=10, n=2)
LESSON = _wp("history lesson", weight=-25, category="education", n=3)
CURRICULUM = _wp("curriculum", weight=-10, category="education", n=4)
COMBO = _wp("vexil", "banner", weight=40, n=5)


@pytest.fixture(scope="module")
def weighted() -> WeightedPhrases:
    return WeightedPhrases([ZORBLAX, GLORP, LESSON, CURRICULUM, COMBO], max_count_per_phrase=5)


def _counts(score: PageScore) -> dict[str, int]:
    return {phrase.rule: times for phrase, times in score.hits}


def test_each_occurrence_adds_the_weight(weighted: WeightedPhrases) -> None:
    result = weighted.score("glorp. Glorp! and GLORP", "text/plain")
    assert result.score == 30
    assert _counts(result) == {"page:test:2": 3}


def test_repeats_are_capped_per_phrase(weighted: WeightedPhrases) -> None:
    result = weighted.score("glorp " * 1000, "text/plain")
    assert result.score == 50
    assert _counts(result) == {"page:test:2": 5}


def test_educational_context_lowers_the_score(weighted: WeightedPhrases) -> None:
    page = "<p>A history lesson on the zorblax front, part of the curriculum.</p>"
    result = weighted.score(page)
    assert result.score == 30 - 25 - 10
    assert result.by_category() == {"extremism": 30, "education": -35}
    # the strongest positive phrase leads, lowering context comes last
    assert result.hits[0][0] is ZORBLAX
    assert result.hits[-1][0] is LESSON


def test_combination_counts_once_when_all_parts_present(weighted: WeightedPhrases) -> None:
    assert weighted.score("vexil vexil banner banner vexil", "text/plain").score == 40
    assert weighted.score("banner far away from the vexil", "text/plain").score == 40
    assert weighted.score("vexil only", "text/plain").score == 0
    assert weighted.score("vexilbanner", "text/plain").score == 0


def test_multi_word_phrases_keep_their_order_on_pages(weighted: WeightedPhrases) -> None:
    assert weighted.score("front zorblax", "text/plain").score == 0
    assert weighted.score("zorblax, front", "text/plain").score == 30
    assert weighted.score("zorblax the front", "text/plain").score == 0


@pytest.mark.parametrize(
    "text",
    [
        "Zörblax Front",
        "z0rbl4x fr0nt",
        "zorblaaax front",
        "z.o.r.b.l.a.x front",
        "ＺＯＲＢＬＡＸ front",
    ],
)
def test_folding_tolerances_apply(weighted: WeightedPhrases, text: str) -> None:
    assert weighted.score(text, "text/plain").score == 30


@pytest.mark.parametrize("text", ["zorblaxes fronts", "glorpy", "subglorp", "glorping"])
def test_words_inside_words_never_count(weighted: WeightedPhrases, text: str) -> None:
    assert weighted.score(text, "text/plain").score == 0


def test_other_scripts() -> None:
    arabic = _wp("كتاب احمر", weight=20, n=1)
    cyrillic = _wp("книга огня", weight=15, n=2)
    urdu = _wp("لال کتاب", weight=5, n=3)
    phrases = WeightedPhrases([arabic, cyrillic, urdu])
    page = "<p>كِتَابٌ أَحْمَر</p><p>КНИГА ОГНЯ</p><p>لال كتاب</p>".encode()
    result = phrases.score(page, "text/html; charset=utf-8")
    assert result.score == 40
    assert {p.rule for p, _ in result.hits} == {"page:test:1", "page:test:2", "page:test:3"}


def test_hidden_markup_does_not_count(weighted: WeightedPhrases) -> None:
    page = (
        "<html><head><style>.glorp{}</style><script>var x='glorp glorp';</script></head>"
        "<body><!-- glorp --><p class='glorp' data-x='glorp'>nothing here</p></body></html>"
    )
    assert weighted.score(page).score == 0


def test_visible_extras_count(weighted: WeightedPhrases) -> None:
    page = (
        "<html><head><title>Glorp</title><meta name='description' content='glorp'>"
        '<meta name="keywords" content="glorp"><meta name="robots" content="glorp"></head>'
        "<body><img src=x.png alt='glorp'><p>z<b>orbl</b>ax front</p></body></html>"
    )
    result = weighted.score(page)
    assert _counts(result) == {"page:test:2": 4, "page:test:1": 1}


def test_page_text() -> None:
    page = (
        "<!DOCTYPE html><html><head><title>The  Title</title>"
        "<script>alert('x')</script><style>p{}</style></head>"
        "<body><p>caf&eacute; &amp; <i>t</i>ea</p><br><div>next</div>"
        "<img alt=\"a picture\"><!-- hidden --></body></html>"
    )
    words = page_text(page, "text/html").split()
    assert words == ["The", "Title", "café", "&", "tea", "next", "a", "picture"]


def test_plain_text_is_left_alone() -> None:
    assert page_text("<b>not html</b>", "text/plain") == "<b>not html</b>"
    assert page_text("a < b > c", "text/html").split() == ["a", "<", "b", ">", "c"]


@pytest.mark.parametrize(
    ("content", "content_type", "charset", "expected"),
    [
        ("Zörblax".encode("cp1252"), "text/plain; charset=windows-1252", None, "Zörblax"),
        ("Zörblax".encode("cp1252"), "text/plain; charset=iso-8859-1", None, "Zörblax"),
        ("Zörblax".encode("cp1252"), "text/plain", "latin1", "Zörblax"),
        ("книга".encode("koi8-r"), 'text/plain; charset="KOI8-R"', None, "книга"),
        (b"<meta charset='windows-1251'><p>" + "книга".encode("cp1251"), "text/html", None,
         "книга"),
        (b'<meta http-equiv="Content-Type" content="text/html; charset=koi8-r">'
         + "книга".encode("koi8-r"), "text/html", None, "книга"),
        ("книга".encode(), "text/plain", None, "книга"),  # default UTF-8
        (b"\xef\xbb\xbf" + "книга".encode(), "text/plain; charset=cp1251", None, "книга"),  # BOM
        ("книга".encode("utf-16"), "text/plain", None, "книга"),  # UTF-16 BOM
        ("книга".encode(), "text/plain; charset=nonsense-9", None, "книга"),  # unknown label
        ("книга".encode(), "text/plain; charset=rot13", None, "книга"),  # not a text encoding
        ("книга".encode(), "text/plain; charset=zlib", None, "книга"),
        ("книга".encode(), "text/plain; charset=utf-7", None, "книга"),  # refused
        ("книга".encode(), "text/plain; charset=idna", None, "книга"),
        ("книга".encode(), "text/html", None, "книга"),
    ],
)
def test_charsets(content: bytes, content_type: str, charset: str | None, expected: str) -> None:
    assert expected in page_text(content, content_type, charset)


def test_header_charset_beats_meta() -> None:
    body = b"<meta charset='koi8-r'><p>" + "книга".encode("cp1251")
    assert "книга" in page_text(body, "text/html; charset=windows-1251")


def test_only_the_first_limit_is_read(weighted: WeightedPhrases) -> None:
    page = "x " * 100 + "glorp"
    assert weighted.score(page, "text/plain", limit=50) == PageScore(0, (), True)
    result = weighted.score(page.encode(), "text/plain", limit=10_000)
    assert result.score == 10
    assert result.truncated is False


def test_empty_list_scores_nothing() -> None:
    empty = WeightedPhrases(())
    assert len(empty) == 0
    assert empty.score("glorp") == PageScore(0, (), False)


def test_phrases_without_words_are_dropped() -> None:
    phrases = WeightedPhrases([_wp("...", weight=5), _wp("glorp", "!!", weight=5), GLORP])
    assert len(phrases) == 1


def test_duplicate_part_combination_still_counts_once() -> None:
    phrases = WeightedPhrases([_wp("glorp", "glorp", weight=7)])
    assert phrases.score("glorp glorp glorp", "text/plain").score == 7


def test_same_phrase_in_two_categories_counts_for_both() -> None:
    phrases = WeightedPhrases([_wp("glorp", weight=5, category="a"), _wp("glorp", weight=3,
                                                                            category="b", n=2)])
    result = phrases.score("glorp", "text/plain")
    assert result.score == 8
    assert result.by_category() == {"a": 5, "b": 3}


HOSTILE = [
    "<div>" * 200_000 + "glorp" + "</div>" * 10,  # deeply nested
    "<script>" * 100_000 + "glorp",  # thousands of unclosed scripts
    "<script " * 100_000,  # unclosed tags
    "<!--" * 100_000 + "glorp",  # unclosed comments
    "<img alt='" * 100_000,  # unclosed attributes
    "<" * 500_000,
    "&" * 500_000 + "&#99999999999;&#x110000;&#0;&amp",  # entity junk
    "a." * 500_000,  # one 1 MB word
    "z0" * 500_000,
]


@pytest.mark.parametrize("page", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_pages_are_bounded(weighted: WeightedPhrases, page: str) -> None:
    # not a timing assertion (bench/ holds those): a backtracking regex would take minutes here,
    # so this only guards against a quadratic pattern coming back
    started = time.monotonic()
    result = weighted.score(page)
    assert isinstance(result, PageScore)
    assert time.monotonic() - started < 20


def test_binary_junk() -> None:
    junk = bytes(range(256)) * 4000
    assert isinstance(WeightedPhrases([GLORP]).score(junk, "application/octet-stream"), PageScore)
    assert isinstance(WeightedPhrases([GLORP]).score(junk, "text/html"), PageScore)


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(st.text(max_size=500), st.binary(max_size=500)),
    st.sampled_from(
        ["text/html", "text/plain", "", "application/xhtml+xml", "text/html; charset=x"]
    ),
    st.one_of(st.none(), st.sampled_from(["utf-8", "cp1251", "bogus", "utf-16", "rot13"])),
)
def test_score_never_raises(
    weighted: WeightedPhrases, content: str | bytes, content_type: str, charset: str | None
) -> None:
    result = weighted.score(content, content_type, charset=charset)
    assert isinstance(result.score, int)


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="<>!-/ascriptlyem'\"=& glorp", max_size=400))
def test_markup_soup_never_raises(weighted: WeightedPhrases, page: str) -> None:
    weighted.score(page)
    page_text(page, "text/html")


# --- page_text is the same text with the fast tag patterns -----------------------------------

# The tag patterns as they were before each gained a first-letter lookahead (a speed-up only).
_REFERENCE_RAW_TEXT = re.compile(
    r"<(script|style|template)\b[^>]*(?:>.*?(?:</\1\s*>|\Z)|\Z)", re.S | re.I
)
_REFERENCE_TEXT_TAG = re.compile(r"<(img|area|input|meta)\b([^>]*)(?:>|\Z)", re.I)
_REFERENCE_INLINE_TAG = re.compile(
    r"</?(?:b|i|u|s|em|strong|span|font|mark|small|big|sub|sup|abbr|bdi|bdo|wbr|ins|del|tt)\b"
    r"[^>]*(?:>|\Z)",
    re.I,
)


def _reference_page_text(text: str) -> str:
    text = weighted_module._COMMENT.sub(" ", text)
    text = _REFERENCE_RAW_TEXT.sub(" ", text)
    text = _REFERENCE_TEXT_TAG.sub(weighted_module._tag_text, text)
    text = _REFERENCE_INLINE_TAG.sub("", text)
    text = weighted_module._ANY_TAG.sub(" ", text)
    return html.unescape(text)


# Tag names of every kind the patterns know, in odd cases, plus letters that case-fold onto
# ASCII ones under re.I (long s, Kelvin sign, dotless and dotted i).
_MARKUP = st.sampled_from(
    ["<", ">", "</", "/", "<!--", "-->", " ", "=", "'", '"', "&amp;", "glorp", "zorblax",
     "b", "I", "u", "S", "em", "STRONG", "span", "Font", "mark", "small", "big", "sub", "sup",
     "abbr", "bdi", "bdo", "wbr", "ins", "del", "tt", "script", "Style", "template", "img",
     "AREA", "input", "meta", "alt=", "content=", "name=description", "p", "div", "a", "title",
     "\u017f", "\u212a", "\u0131", "\u0130", "\u017fpan", "\u0131mg", "x"]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_MARKUP, max_size=60).map("".join))
def test_page_text_matches_the_reference_patterns(page: str) -> None:
    assert page_text(page, "text/html") == _reference_page_text(page)


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet="<>/!-abdefimstuwlpgnrcyhoxASIK\u017f\u212a\u0131\u0130 '\"=", max_size=300)
)
def test_page_text_matches_the_reference_on_soup(page: str) -> None:
    assert page_text(page, "text/html") == _reference_page_text(page)


@pytest.mark.parametrize(
    "text",
    [
        "join zorblax_front today",
        "join zorblax.front today",
        "join zorblaxfront today",
        "join ZorblaxFront today",
        "join z\u043erbl\u0430\u0445 front today",  # Cyrillic look-alikes
        "join zorblax\u200b front today",
    ],
)
def test_page_phrases_with_or_without_separators(text: str) -> None:
    phrases = WeightedPhrases([_wp("zorblax front", weight=40)])
    assert phrases.score(text, "text/plain").score == 40


@pytest.mark.parametrize("text", ["zorblaxian frontier", "front zorblax", "zorblaxfrontier"])
def test_page_phrases_stay_whole_words_in_order(text: str) -> None:
    phrases = WeightedPhrases([_wp("zorblax front", weight=40)])
    assert phrases.score(text, "text/plain").score == 0
