"""Alert feeds in the shapes of the real providers (see tests/data/feeds/README.md and
../shared/fixtures/README.md), with fictional schools and reserved names only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import quote
from xml.sax.saxutils import escape

DATA = Path(__file__).parent.parent / "data"
GOOGLE_ALERTS_FIXTURE = DATA / "feeds" / "google-alerts-slack-2019.xml"
POLICY = DATA / "alerts" / "policy" / "policy.yaml"

SCHOOL = "St Aidan's Academy"
NAMESAKE_TOWN = "Darlingford"


@dataclass(frozen=True)
class Item:
    title: str
    url: str  # the article
    snippet: str = ""
    id: str | None = None
    published: datetime | None = None
    publisher: str = "https://news.example"
    publisher_name: str = "Exampleton News"


def recent(hours: float = 1) -> datetime:
    return datetime.now(UTC) - timedelta(hours=hours)


def google_alerts(items: list[Item], alert: str = SCHOOL) -> bytes:
    """Atom like Google Alerts: links wrapped in google.com/url, HTML titles, `&nbsp;...`."""
    entries = []
    for n, item in enumerate(items):
        when = (item.published or recent()).strftime("%Y-%m-%dT%H:%M:%SZ")
        link = (
            "https://www.google.com/url?rct=j&sa=t&url="
            + item.url
            + "&ct=ga&cd=CAIyHGU4ZTJk&usg=AFQjCNHUcRGtHY1y"
        )
        entry_id = item.id if item.id is not None else f"tag:google.com,2013:googlealerts/feed:{n}"
        id_xml = f"<id>{escape(entry_id)}</id>" if entry_id else ""
        entries.append(
            f"<entry>{id_xml}"
            f'<title type="html">{escape(_bold(item.title))}</title>'
            f'<link href="{escape(link)}"></link>'
            f"<published>{when}</published><updated>{when}</updated>"
            f'<content type="html">{escape(_bold(item.snippet))}&amp;nbsp;...</content>'
            "<author><name></name></author></entry>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?> <feed xmlns="http://www.w3.org/2005/Atom" '
        'xmlns:idx="urn:atom-extension:indexing"> <id>tag:google.com,2005:reader/user/1/state/'
        f"com.google/alerts/2</id> <title>Google Alert - {escape(alert)}</title> "
        '<link href="https://www.google.com/alerts/feeds/1/2" rel="self"></link> '
        f"<updated>{recent(0).strftime('%Y-%m-%dT%H:%M:%SZ')}</updated> "
        + "".join(entries)
        + "</feed>"
    ).encode()


def bing_news(items: list[Item], tid: str = "0a1b2c3d", query: str = SCHOOL) -> bytes:
    """RSS 2.0 like Bing News: no guid, apiclick links with lowercase escapes and a tid that
    changes between fetches, News:Source."""
    out = []
    for item in items:
        link = (
            "https://www.bing.com/news/apiclick.aspx?ref=FexRss&aid=&tid="
            + tid
            + "&url="
            + quote(item.url, safe="").lower().replace("%2f", "%2f")
            + "&c=1234567890&mkt=en-gb"
        )
        when = format_datetime(item.published or recent())
        out.append(
            f"<item><title>{escape(item.title)}</title><link>{escape(link)}</link>"
            f"<description>{escape(item.snippet)}</description><pubDate>{when}</pubDate>"
            f"<News:Source>{escape(item.publisher_name)}</News:Source></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8" ?><rss version="2.0" '
        'xmlns:News="https://www.bing.com/news/search?q=x&amp;format=rss"><channel>'
        f"<title>{escape(query)} - BingNews</title><link>https://www.bing.com/news</link>"
        "<description>Search results</description>" + "".join(out) + "</channel></rss>"
    ).encode()


def google_news(items: list[Item], query: str = SCHOOL) -> bytes:
    """RSS like Google News: opaque article tokens, `Headline - Publisher`, <source url>."""
    out = []
    for n, item in enumerate(items):
        token = item.id or f"CBMiQ2h0dHBzOi8vbmV3cy5leGFtcGxlL3N0b3J5LTAwMdIBAA{n:04d}"
        when = format_datetime(item.published or recent())
        out.append(
            f"<item><title>{escape(item.title)} - {escape(item.publisher_name)}</title>"
            f"<link>https://news.google.com/rss/articles/{token}?oc=5</link>"
            f'<guid isPermaLink="false">{token}</guid><pubDate>{when}</pubDate>'
            f"<description>{escape(item.snippet)}</description>"
            f'<source url="{escape(item.publisher)}">{escape(item.publisher_name)}</source></item>'
        )
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><rss '
        'xmlns:media="http://search.yahoo.com/mrss/" version="2.0"><channel>'
        f'<generator>NFE/5.0</generator><title>"{escape(query)}" - Google News</title>'
        "<link>https://news.google.com/search?q=x</link><language>en-GB</language>"
        + "".join(out)
        + "</channel></rss>"
    ).encode()


def talkwalker(items: list[Item], query: str = SCHOOL) -> bytes:
    """Plain RSS 2.0 (Talkwalker Alerts)."""
    out = []
    for n, item in enumerate(items):
        when = format_datetime(item.published or recent())
        guid = item.id or f"tw-{n}"
        out.append(
            f"<item><title>{escape(item.title)}</title><link>{escape(item.url)}</link>"
            f"<guid>{escape(guid)}</guid><pubDate>{when}</pubDate>"
            f"<description>{escape(item.snippet)}</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>Talkwalker Alerts for {escape(query)}</title>"
        "<link>https://alerts.talkwalker.com</link><description>alerts</description>"
        + "".join(out)
        + "</channel></rss>"
    ).encode()


def _bold(text: str) -> str:
    return text.replace(SCHOOL, f"<b>{SCHOOL}</b>")
