"""Redirectors, proxies and archives give up the URL they carry (issue 2 point 2), and hostile
input never makes the unwrapper raise or work without bound."""

from __future__ import annotations

import base64
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from filters import unwrap
from filters.unwrap import MAX_TARGETS, _targets, embedded_targets
from filters.urls import normalise_url

FIXTURE = Path("/work/shared/fixtures/feeds/google-alerts-slack-2019.xml")


def targets(url: str) -> tuple[str, ...]:
    return embedded_targets(normalise_url(url))


# -- search engines --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://www.google.com/url?q=https://bad.test/page&sa=U",
        "https://www.google.co.uk/url?sa=t&url=https%3A%2F%2Fbad.test%2Fpage&usg=AOvVaw",
        "https://google.com.au/url?q=https%253A%252F%252Fbad.test%252Fpage",
        "http://www.google.de/url?q=https://bad.test/page",
    ],
)
def test_google_redirect(url: str) -> None:
    assert targets(url) == ("https://bad.test/page",)


def test_google_redirect_keeps_the_targets_own_query() -> None:
    url = "https://www.google.com/url?q=https%3A%2F%2Fbad.test%2Fs%3Fa%3D1%26b%3D2&sa=t"
    assert targets(url) == ("https://bad.test/s?a=1&b=2",)


def test_google_alerts_fixture_links() -> None:
    if not FIXTURE.exists():
        pytest.skip("shared fixtures not present")
    text = FIXTURE.read_text().replace("&amp;", "&")
    links = [part.split('"')[0] for part in text.split('href="')[1:] if "google.com/url" in part]
    assert len(links) >= 10
    for link in links:
        (target,) = targets(link)
        assert target.startswith("http") and "google.com" not in target


def test_google_images() -> None:
    url = (
        "https://www.google.com/imgres?imgurl=https%3A%2F%2Fbad.test%2Fimg.jpg"
        "&imgrefurl=https%3A%2F%2Fbad.test%2Fpage&tbnid=x&docid=y&w=10&h=10"
    )
    assert targets(url) == ("https://bad.test/img.jpg", "https://bad.test/page")


@pytest.mark.parametrize(
    ("url", "target"),
    [
        (
            "https://webcache.googleusercontent.com/search?q=cache:https://bad.test/page",
            "https://bad.test/page",
        ),
        (
            "https://webcache.googleusercontent.com/search?q=cache:AbCdEfGh1234:bad.test/page+words",
            "bad.test/page",
        ),
    ],
)
def test_google_cache(url: str, target: str) -> None:
    assert targets(url)[0] == target


def test_google_search_is_not_a_redirect() -> None:
    assert targets("https://www.google.com/search?q=bad+words") == ()


def test_bing_click_link_with_base64_target() -> None:
    encoded = base64.urlsafe_b64encode(b"https://bad.test/page?x=1").decode().rstrip("=")
    url = f"https://www.bing.com/ck/a?!&&p=0123abcd&ptn=3&u=a1{encoded}&ntb=1"
    assert targets(url) == ("https://bad.test/page?x=1",)


def test_bing_click_link_with_garbage_is_ignored() -> None:
    assert targets("https://www.bing.com/ck/a?u=a1!!!notbase64&ntb=1") == ()
    assert targets("https://www.bing.com/ck/a?u=a1" + base64.b64encode(b"\xff\xfe").decode()) == ()


def test_bing_news_lowercase_escapes() -> None:
    url = (
        "https://www.bing.com/news/apiclick.aspx?ref=FexRss&aid=&tid=9f8e7d"
        "&url=http%3a%2f%2fbad.test%2fstory%3fid%3d7&c=123&mkt=en-gb"
    )
    assert targets(url) == ("http://bad.test/story?id=7",)


def test_duckduckgo() -> None:
    url = "https://duckduckgo.com/l/?uddg=https%3A%2F%2Fbad.test%2Fpage&rut=abc123"
    assert targets(url) == ("https://bad.test/page",)


def test_yahoo() -> None:
    url = (
        "https://r.search.yahoo.com/_ylt=AwrE1x;_ylu=Y29sbwNi/RV=2/RE=1700000000/RO=10"
        "/RU=https%3a%2f%2fbad.test%2fsome%2fpage/RK=2/RS=AbCdEf-"
    )
    assert targets(url) == ("https://bad.test/some/page",)


def test_facebook() -> None:
    url = "https://l.facebook.com/l.php?u=https%3A%2F%2Fbad.test%2F%3Ffbclid%3Dx&h=AT0abc"
    assert targets(url) == ("https://bad.test/?fbclid=x",)


# -- translate proxies -----------------------------------------------------------------------------


def test_google_translate() -> None:
    url = "https://translate.google.co.uk/translate?sl=auto&tl=en&u=https://bad.test/page"
    assert targets(url) == ("https://bad.test/page",)


def test_translate_goog_proxy_host() -> None:
    url = "https://www-bad-test.translate.goog/some/path?id=3&_x_tr_sl=auto&_x_tr_tl=en&_x_tr_hl=en"
    assert targets(url) == ("https://www.bad.test/some/path?id=3",)


def test_translate_goog_double_hyphen_is_a_hyphen() -> None:
    assert targets("https://my--site-bad-test.translate.goog/") == ("https://my-site.bad.test/",)


def test_translate_goog_target_is_itself_normalisable() -> None:
    (target,) = targets("https://WWW-BAD-TEST.translate.goog/x")
    assert normalise_url(target).host == "www.bad.test"


# -- archives --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("https://web.archive.org/web/20200101000000/https://bad.test/x", "https://bad.test/x"),
        ("https://web.archive.org/web/2020id_/http://bad.test/x", "http://bad.test/x"),
        ("https://web.archive.org/web/*/https://bad.test/x", "https://bad.test/x"),
        ("https://web.archive.org/web/20200101000000/http:/bad.test/x", "http://bad.test/x"),
        ("https://web.archive.org/web/2020/https://bad.test/s?q=1", "https://bad.test/s?q=1"),
        ("https://web.archive.org/web/2020/bad.test/x", "bad.test/x"),
        ("https://web.archive.org/web/2020/https%3A%2F%2Fbad.test%2Fx", "https://bad.test/x"),
    ],
)
def test_wayback(url: str, target: str) -> None:
    assert targets(url) == (target,)


def test_wayback_home_page_has_no_target() -> None:
    assert targets("https://web.archive.org/") == ()


@pytest.mark.parametrize(
    "url",
    [
        "https://archive.ph/newest/https://bad.test/x",
        "https://archive.is/20200101000000/https://bad.test/x",
        "https://archive.today/o/AbCd1/https://bad.test/x",
        "https://archive.ph/oldest/https://bad.test/x",
        "https://archive.ph/https://bad.test/x",
    ],
)
def test_archive_today(url: str) -> None:
    assert targets(url) == ("https://bad.test/x",)


def test_archive_today_short_id_has_no_target() -> None:
    assert targets("https://archive.ph/AbCd1") == ()


# -- the generic rule and bounds -------------------------------------------------------------------


def test_any_parameter_holding_an_absolute_url() -> None:
    url = "https://good.example/go?next=https%3A%2F%2Fbad.test%2Fx&ref=home"
    assert targets(url) == ("https://bad.test/x",)
    assert targets("https://good.example/go?next=/local/page") == ()
    assert targets("https://good.example/go?next=javascript:alert(1)") == ()


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("https://good.example/go?u=//bad.test/x", "https://bad.test/x"),
        ("http://good.example/go?u=%2F%2Fbad.test%2Fx", "http://bad.test/x"),
        ("https://good.example/go?u=%2f%2fbad.test%2fx", "https://bad.test/x"),
        ("https://good.example/go?u=%252F%252Fbad.test%252Fx", "https://bad.test/x"),
        ("https://good.example/go?next=///bad.test/", "https://bad.test/"),
        ("https://good.example/go?next=%5C%5Cbad.test/", "https://bad.test/"),
        ("https://good.example/go?next=/%5Cbad.test/", "https://bad.test/"),
        ("https://www.google.com/url?q=//bad.test/page", "https://bad.test/page"),
        ("https://www.google.com/url?q=%2F%2Fbad.test%2Fpage", "https://bad.test/page"),
    ],
)
def test_scheme_relative_targets_take_the_pages_scheme(url: str, target: str) -> None:
    assert targets(url) == (target,)


def test_paths_and_bare_slashes_are_not_targets() -> None:
    assert targets("https://good.example/go?next=/local//page") == ()
    assert targets("https://good.example/go?u=//") == ()
    assert targets("https://good.example/go?u=%2F%2F%2F") == ()


def test_plain_urls_carry_nothing() -> None:
    assert targets("https://good.example/a/b?c=d") == ()
    assert targets("bad.test:443") == ()


def test_targets_are_deduplicated_outermost_first() -> None:
    url = "https://www.google.com/url?q=https://bad.test/a&url=https://bad.test/a&x=https://bad.test/b"
    assert targets(url) == ("https://bad.test/a", "https://bad.test/b")


def test_target_count_is_bounded() -> None:
    query = "&".join(f"p{i}=https://bad{i}.test/" for i in range(1000))
    assert len(targets(f"https://good.example/?{query}")) == MAX_TARGETS


def test_huge_values_are_skipped() -> None:
    huge = "https://bad.test/" + "a" * 100_000
    assert targets(f"https://good.example/?u={quote(huge)}") == ()


# -- bad input: properties -------------------------------------------------------------------------

_PIECES = st.sampled_from(
    [
        "https://www.google.com/url?q=",
        "https://www.bing.com/ck/a?u=a1",
        "https://r.search.yahoo.com/RU=",
        "https://web.archive.org/web/2020/",
        "https://archive.ph/newest/",
        "https://x-y--z.translate.goog/",
        "https://webcache.googleusercontent.com/search?q=cache:",
        "%",
        "%3A%2F%2F",
        "http://",
        "&",
        "=",
        "/",
        "\ud800",
        "\x00",
        "aGVsbG8",
        "bad.test",
    ]
)


@settings(max_examples=400)
@given(st.one_of(st.text(), st.lists(st.one_of(_PIECES, st.text(max_size=5))).map("".join)))
def test_embedded_targets_never_raise(text: str) -> None:
    # The inner function, so that the catch-all in embedded_targets cannot hide a fault.
    found = _targets(normalise_url(text))
    assert isinstance(found, tuple)
    assert len(found) <= MAX_TARGETS
    assert all(isinstance(t, str) and t for t in found)


# -- the label check in front of the site rules ---------------------------------------------------

_RULE_HOSTS = [
    "www-bad-test.translate.goog", "google.com", "www.google.co.uk", "images.google.de",
    "news.google.com.au", "translate.google.com", "translate.googleusercontent.com",
    "webcache.googleusercontent.com", "bing.com", "www.bing.com", "duckduckgo.com",
    "html.duckduckgo.com", "uk.search.yahoo.com", "l.facebook.com", "lm.facebook.com",
    "l.messenger.com", "l.instagram.com", "web.archive.org", "wayback.archive.org",
    "archive.ph", "www.archive.today", "archive.md",
]  # fmt: skip
_LABELS = ["www", "google", "goog", "translate", "com", "co", "uk", "archive", "org", "web", "ph",
           "bing", "search", "yahoo", "l", "facebook", "x", "googleusercontent", "webcache"]


@pytest.mark.parametrize("host", _RULE_HOSTS)
def test_every_site_rule_is_behind_a_known_label(host: str) -> None:
    assert unwrap.carries_targets(host)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(_LABELS), min_size=1, max_size=5))
def test_the_label_check_only_skips_hosts_no_rule_knows(labels: list[str]) -> None:
    host = ".".join(labels)
    quick = unwrap._site_rule(host)
    full_check = unwrap.CARRIER_LABELS
    try:
        unwrap.CARRIER_LABELS = frozenset(labels)  # every label known: the rules decide alone
        assert unwrap._site_rule(host) == quick
    finally:
        unwrap.CARRIER_LABELS = full_check
