"""Brand matching and link handling, on their own."""

from __future__ import annotations

from alerts.brand import BrandMatcher
from alerts.links import ArticleLink, article_link, unwrap_link

BRAND = BrandMatcher(["St Aidan's Academy", "St Aidans Exampleton"], ["Darlingford"], 8)


def found(text: str) -> bool:
    return BRAND.find(text).found


def test_whole_phrase_case_accent_apostrophe_hyphen() -> None:
    assert found("Pupils at ST AIDAN'S ACADEMY won")
    assert found("St Aidan’s Academy")  # curly apostrophe
    assert found("St Aidans Academy")  # none at all
    assert found("St. Áidan's Academy")  # dot and accent
    assert found("St-Aidans-Exampleton choir")  # hyphens
    assert found("St Aidan's Academy's head teacher")  # possessive on the last word
    assert not found("St Aidan's Academymoor")  # whole words only
    assert not found("St Aidan Academy")
    assert not found("Aidan's Academy")


def test_exclusions_near_the_name_only() -> None:
    assert not found("St Aidan's Academy in Darlingford closes")
    text = (
        "St Aidan's Academy, Exampleton, wins again. Elsewhere, a school with a similar "
        "name and an entirely different story happened far away in Darlingford."
    )
    assert found(text)  # the namesake's town is far from this occurrence


def test_near_windows() -> None:
    finding = BRAND.find("one two three St Aidan's Academy four five six seven")
    assert finding.near(2) == ["two three St Aidan's Academy four five"]


def test_unwrap_only_from_google_and_bing() -> None:
    assert unwrap_link("https://www.google.com/url?rct=j&url=https://news.example/a&ct=ga") == (
        "https://news.example/a"
    )
    assert (
        unwrap_link(
            "https://www.bing.com/news/apiclick.aspx?ref=FexRss&tid=1&url=http%3a%2f%2fpub.example%2fs&c=1"
        )
        == "http://pub.example/s"
    )
    hostile = "https://evil.example/url?url=https://school.example/"
    assert unwrap_link(hostile) == hostile
    assert unwrap_link("https://google.com.evil.example/url?url=https://a.example/").startswith(
        "https://google.com.evil.example"
    )


def test_canonical_url_and_key() -> None:
    a = article_link("https://WWW.News.Example:443/story/?utm_source=rss&id=4&fbclid=x#comments")
    b = article_link("http://news.example/story?id=4")
    assert isinstance(a, ArticleLink) and isinstance(b, ArticleLink)
    assert a.url == "https://www.news.example/story/?id=4"
    assert a.key == b.key
    assert (
        article_link("javascript:alert(1)")
        == "the entry links to a 'javascript' URL, not a web page"
    )
    assert article_link(None) == "the entry has no link"
