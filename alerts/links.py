"""Where an alert entry points: redirect links unwrapped, a canonical URL, and a dedupe key.

Google Alerts wraps every link in `https://www.google.com/url?...&url=<real>` and Bing News in
`https://www.bing.com/news/apiclick.aspx?...&url=<real>&tid=<changes every fetch>`. Those two are
unwrapped, *only* when the link really is on Google's or Bing's host (an attacker's
`evil.example/url?url=https://school.example` stays what it is). Google News article links
(`news.google.com/rss/articles/<token>`) cannot be decoded: they are kept, with the publisher's
site from the entry's `<source url>`, and the publisher is what gets classified.

The canonical URL drops the fragment, default ports and tracking parameters and lowercases the
host (`filters.urls.normalise_url` does the host and escapes); the dedupe key further ignores
the scheme and a leading `www.`, so the same article found by two alerts is one mention.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from urllib.parse import unquote_plus

from filters.unwrap import embedded_targets
from filters.urls import NormalisedURL, normalise_url

_GOOGLE_HOST_RE = re.compile(r"(?:www\.)?google(?:\.[a-z]{2,3}){1,2}")
_BING_HOSTS = frozenset({"bing.com", "www.bing.com", "cn.bing.com"})
# Query parameters that only say who sent the reader: never part of what the article is.
_TRACKING_EXACT = frozenset(
    {
        "fbclid", "gclid", "dclid", "msclkid", "yclid", "mc_cid", "mc_eid", "_ga", "igshid",
        "ocid", "cmpid", "cmp", "ito", "ns_mchannel", "ns_source", "ns_campaign", "ref_src",
        "ref", "at_medium", "at_campaign", "guccounter", "oc", "ved",
        "usg", "smid", "s_cid", "sr_share",
    }
)  # fmt: skip
_TRACKING_PREFIXES = ("utm_", "pk_", "hsa_", "__s", "_hs")


@dataclass(frozen=True, slots=True)
class ArticleLink:
    """The article an entry points at (never fetched)."""

    url: str  # canonical, for display and classification
    key: str  # dedupe key across feeds (sha256 hex of the scheme-less canonical form)
    host: str
    publisher_url: str | None = None  # Google News: the publisher's site (classified too)


def unwrap_link(raw: str) -> str:
    """The target of a Google or Bing redirect link; any other link unchanged."""
    parsed = normalise_url(raw)
    if parsed.host_kind != "domain":
        return raw
    google = _GOOGLE_HOST_RE.fullmatch(parsed.host) and parsed.path == "/url"
    bing = parsed.host in _BING_HOSTS and parsed.path == "/news/apiclick.aspx"
    if not (google or bing):
        return raw
    for target in embedded_targets(parsed):
        return target
    return raw


def article_link(raw: str | None, publisher: str | None = None) -> ArticleLink | str:
    """The article for an entry's link, or a reason (str) why the entry has no usable link."""
    if not raw:
        return "the entry has no link"
    target = unwrap_link(raw.strip())
    parsed = normalise_url(target)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        scheme = parsed.scheme or target.split(":", 1)[0][:20]
        return f"the entry links to a {scheme!r} URL, not a web page"
    if parsed.host_kind in ("malformed", "empty"):
        return "the entry's link has no usable host"
    canonical = _without_tracking(parsed)
    publisher_url = None
    if publisher:
        publisher_parsed = normalise_url(publisher.strip())
        if publisher_parsed.scheme in ("http", "https") and publisher_parsed.host_kind == "domain":
            publisher_url = publisher_parsed.url()
    return ArticleLink(
        url=canonical.url(),
        key=mention_key(canonical),
        host=canonical.host,
        publisher_url=publisher_url,
    )


def mention_key(url: NormalisedURL) -> str:
    host = url.host.removeprefix("www.")
    port = f":{url.port}" if url.port is not None else ""
    path = url.path.rstrip("/") or "/"
    text = f"{host}{port}{path}?{url.query}"
    return hashlib.sha256(text.encode("utf-8", "backslashreplace")).hexdigest()


def _without_tracking(url: NormalisedURL) -> NormalisedURL:
    if not url.query:
        return url
    kept = [pair for pair in url.query.split("&") if pair and not _tracking(pair)]
    return NormalisedURL(
        url.raw, url.scheme, url.host, url.host_kind, url.port, url.path, "&".join(kept),
        url.anomalies,
    )


def _tracking(pair: str) -> bool:
    name = unquote_plus(pair.partition("=")[0]).lower()
    return name in _TRACKING_EXACT or name.startswith(_TRACKING_PREFIXES)
