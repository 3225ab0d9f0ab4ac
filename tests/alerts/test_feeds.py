"""Feed titles and snippets become plain text (issue 13 point 2): tags, entities and the bodies
of script and style elements go, however the feed wraps them. The inputs follow the shapes of
feedparser's sanitizer tests (a script inside a title, CDATA, entity-escaped and double-escaped
markup, style bodies), with reserved names only."""

from __future__ import annotations

import pytest

from alerts.feeds import plain_text, read_feed


def _rss(title: str, description: str = "Plain words") -> bytes:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Alerts</title><link>https://news.example/</link>
<item><title>{title}</title><link>https://news.example/a</link>
<description>{description}</description><guid>a1</guid></item>
</channel></rss>""".encode()


def _atom(title: str, kind: str = "html", summary: str = "Plain words") -> bytes:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Alerts</title><id>tag:news.example,1</id>
<updated>2026-11-24T10:00:00Z</updated>
<entry><id>tag:news.example,2</id><title type="{kind}">{title}</title>
<link href="https://news.example/a"/><updated>2026-11-24T10:00:00Z</updated>
<summary type="{kind}">{summary}</summary></entry></feed>""".encode()


def _entry(body: bytes) -> tuple[str, str]:
    document = read_feed(body, "application/xml")
    assert document.ok, document.error
    return document.entries[0].title, document.entries[0].snippet


@pytest.mark.parametrize(
    "title",
    [
        "<![CDATA[<script>alert(1)</script>St Aidan's Academy wins]]>",
        "<![CDATA[<SCRIPT type='text/javascript'>var a = '</p>';</SCRIPT>"
        "St Aidan's Academy wins]]>",
        "&lt;script&gt;alert(1)&lt;/script&gt;St Aidan's Academy wins",
        "&amp;lt;script&amp;gt;alert(1)&amp;lt;/script&amp;gt;St Aidan's Academy wins",
        "<![CDATA[<style>b { color: red }</style>St Aidan's <b>Academy</b> wins]]>",
        "&lt;style type=&quot;text/css&quot;&gt;.x{}&lt;/style&gt;St Aidan's Academy wins",
        "<![CDATA[<script/>St Aidan's Academy<script src='https://bad.test/x.js'></script> wins]]>",
        "<![CDATA[<iframe src='https://bad.test/'>fallback</iframe>St Aidan's Academy wins]]>",
    ],
)
def test_rss_titles_lose_script_and_style_bodies(title: str) -> None:
    assert _entry(_rss(title))[0] == "St Aidan's Academy wins"


@pytest.mark.parametrize(
    "summary",
    [
        "&lt;p&gt;Open day&lt;/p&gt;&lt;script&gt;document.write('x')&lt;/script&gt;"
        "&lt;p&gt;at noon&lt;/p&gt;",
        "<![CDATA[<p>Open day</p><style>p{}</style><script>alert(1)</script><p>at noon</p>]]>",
    ],
)
def test_rss_snippets_lose_script_and_style_bodies(summary: str) -> None:
    assert _entry(_rss("t", summary))[1] == "Open day at noon"


def test_atom_html_and_xhtml_titles() -> None:
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;Open &lt;b&gt;day&lt;/b&gt;"
    assert _entry(_atom(escaped, "html", escaped)) == ("Open day", "Open day")
    xhtml = (
        '<div xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script>'
        "<style>div{}</style>Open <b>day</b></div>"
    )
    assert _entry(_atom(xhtml, "xhtml", xhtml)) == ("Open day", "Open day")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("<script>alert(1)</script>Hello", "Hello"),
        ("<STYLE>p { x: y }</STYLE>Hello", "Hello"),
        ("<script>if (a < b && c > d) { x = '<p>' }</script>Hello", "Hello"),
        ("Maths: 3 < 5 and 7 > 2", "Maths: 3 < 5 and 7 > 2"),
        ("a &lt; b", "a < b"),
        ("Tom &amp; Jerry", "Tom & Jerry"),
        ("caf&eacute;&nbsp;open", "café open"),
        ("<template><p>hidden</p></template>shown", "shown"),
        ("<!-- <script>x</script> -->shown", "shown"),
        ("&amp;amp;lt;b&amp;amp;gt;deep", "deep"),
    ],
)
def test_plain_text(value: str, text: str) -> None:
    assert plain_text(value) == text


def test_an_unclosed_script_hides_the_rest_as_a_browser_would() -> None:
    assert plain_text("Open day<script>alert(1) and more") == "Open day"
