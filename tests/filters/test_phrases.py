"""PhraseList: whole words, any order, every tolerance of fold(), other scripts, no false hits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from filters.decision import Severity
from filters.phrases import Phrase, PhraseList


def _phrase(text: str, n: int = 1, category: str = "extremism") -> Phrase:
    return Phrase(text, category, int(Severity.HIGH), f"search:test:{n}", f"test.txt:{n}")


def _texts(phrases: PhraseList, query: str) -> list[str]:
    return [hit.phrase.text for hit in phrases.find(query)]


@pytest.fixture(scope="module")
def listed() -> PhraseList:
    return PhraseList(
        [
            _phrase("zorblax front", 1),
            _phrase("glorp", 2),
            _phrase("class", 3),
            _phrase("Vexil Brotherhood", 4),
            _phrase("книга огня", 5),  # "book of fire"
            _phrase("كتاب احمر", 6),  # "red book"
            _phrase("لال کتاب", 7),  # Urdu "red book"
            _phrase("नीली किताब", 8),  # Hindi "blue book"
            _phrase("!!!", 9),  # folds to nothing: never matches
            _phrase("赤い本", 10),  # Japanese "red book", no spaces
        ]
    )


@pytest.mark.parametrize(
    "query",
    [
        "zorblax front",
        "ZORBLAX FRONT",
        "Zörbläx Frönt",
        "front zorblax",  # word order free
        "zorblax and the front",  # other words in between
        "how to join the front of zorblax?",
        "z0rbl4x fr0nt",  # digits for letters
        "zorblaaaax frooont",  # stretched letters
        "z.o.r.b.l.a.x f-r-o-n-t",  # punctuation between letters
        "z_o_r_b_l_a_x front",
        "zor\u200bblax front",  # zero-width space inside
        "ＺＯＲＢＬＡＸ front",  # full-width
        "zorblax,front",  # comma splits words
        "what is zorblax? the front!",
        # separators as pupils type them, or none
        "zorblax.front",
        "zorblax_front",
        "zorblax-front",
        "zorblax+front",
        "zorblaxfront",
        "ZorblaxFront",
        "#zorblaxfront",
        "z0rblaxfr0nt",
        "zorblax\u2060front",  # word joiner
        "zorblax\u00adfront",  # soft hyphen
        "zor\U000e0020blax front",  # a tag character
        # look-alike letters from other scripts (UTS #39 confusables)
        "z\u043erbl\u0430\u0445 front",  # Cyrillic о, а, х
        "\u0396\u039fRBL\u0391\u03a7 FRONT",  # Greek capitals
        "zorblax fr\u043ent",
    ],
)
def test_tolerances_match(listed: PhraseList, query: str) -> None:
    assert "zorblax front" in _texts(listed, query)


@pytest.mark.parametrize(
    "query",
    [
        "zorblax",  # one word of two
        "zorblaxes frontier",  # words inside longer words
        "zorblaxian frontier",
        "zorblaxfrontier",  # joined, but a longer word
        "frontzorblax",  # joined spellings keep the written order
        "front",
        "",
    ],
)
def test_incomplete_or_partial_words_do_not_match(listed: PhraseList, query: str) -> None:
    assert "zorblax front" not in _texts(listed, query)


@pytest.mark.parametrize("query", ["classic cars", "subclass", "classes", "classroom"])
def test_substring_within_a_word_never_matches(listed: PhraseList, query: str) -> None:
    assert _texts(listed, query) == []


def test_single_words_match_whole(listed: PhraseList) -> None:
    assert _texts(listed, "the class of 2024") == ["class"]
    assert _texts(listed, "GLORP") == ["glorp"]
    assert _texts(listed, "gl0rp") == ["glorp"]


def test_several_phrases_in_list_order(listed: PhraseList) -> None:
    assert _texts(listed, "glorp vexil brotherhood zorblax front") == [
        "zorblax front",
        "glorp",
        "Vexil Brotherhood",
    ]


def test_cyrillic(listed: PhraseList) -> None:
    assert _texts(listed, "огня КНИГА") == ["книга огня"]
    assert _texts(listed, "книгаогня") == ["книга огня"]  # written without a space
    assert _texts(listed, "к.н.и.г.а огня") == ["книга огня"]
    assert _texts(listed, "огнякнига") == []
    assert _texts(listed, "книга") == []


def test_three_word_phrase_any_joins() -> None:
    listed = PhraseList([Phrase("alpha beta gamma", "c", 2, "r", "f:1")])
    for query in ("alphabeta gamma", "alpha betagamma", "alphabetagamma", "gamma alphabeta"):
        assert len(listed.find(query)) == 1, query
    assert listed.find("alphagamma beta") == []


def test_arabic_with_harakat_tatweel_and_urdu_letters(listed: PhraseList) -> None:
    assert _texts(listed, "كِتَابٌ أَحْمَر") == ["كتاب احمر"]
    assert _texts(listed, "احمر كتـــاب") == ["كتاب احمر"]
    # typed with an Urdu keyboard: keheh ک for kaf ك
    assert _texts(listed, "کتاب احمر") == ["كتاب احمر"]
    assert _texts(listed, "كتابي احمر") == []  # a longer word is another word


def test_urdu(listed: PhraseList) -> None:
    assert _texts(listed, "کتاب لال ہے") == ["لال کتاب"]
    assert _texts(listed, "كتاب لال") == ["لال کتاب"]  # Arabic kaf meets Urdu keheh


def test_devanagari(listed: PhraseList) -> None:
    assert _texts(listed, "किताब नीली") == ["नीली किताब"]
    assert _texts(listed, "नीला किताब") == []  # a different vowel sign is a different word


def test_unspaced_script_matches_as_substring(listed: PhraseList) -> None:
    assert _texts(listed, "赤い本を買う") == ["赤い本"]
    assert _texts(listed, "青い本") == []


def test_punctuation_only_phrase_is_dropped(listed: PhraseList) -> None:
    assert len(listed) == 9
    assert _texts(listed, "!!!") == []


def test_empty_list() -> None:
    empty = PhraseList(())
    assert len(empty) == 0
    assert empty.find("zorblax front") == []


def test_duplicate_words_in_a_phrase() -> None:
    phrases = PhraseList([_phrase("glorp glorp")])
    assert _texts(phrases, "glorp") == ["glorp glorp"]


def test_hits_carry_the_phrase_and_its_source() -> None:
    phrase = _phrase("zorblax front", 12)
    (hit,) = PhraseList([phrase]).find("front zorblax")
    assert hit.phrase is phrase
    assert hit.phrase.rule == "search:test:12"
    assert hit.phrase.source == "test.txt:12"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_find_never_raises(listed: PhraseList, query: str) -> None:
    hits = listed.find(query)
    assert all(isinstance(hit.phrase, Phrase) for hit in hits)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=20), max_size=20), st.text(max_size=100))
def test_any_phrase_list_compiles_and_finds(texts: list[str], query: str) -> None:
    phrases = PhraseList(_phrase(text, n) for n, text in enumerate(texts))
    phrases.find(query)
    for n, text in enumerate(texts):
        # every phrase that could match at all matches its own text
        hits = [hit.phrase.rule for hit in phrases.find(text)]
        assert f"search:test:{n}" in hits or not any(ch.isalnum() for ch in text)
