"""Safe search, enforced per policy group (`groups.<name>.safe_search`, on by default).

What each engine honours:

- Google: `safe=active` on searches (the country domains too: google.co.uk, google.com.au).
- Bing: `adlt=strict` on searches.
- DuckDuckGo: `kp=1` (strict).
- YouTube: the `YouTube-Restrict: Strict` request header (restricted mode), on the site and the
  API hosts its player calls.

All of it needs TLS interception: these sites are HTTPS-only. The DNS-level alternative
(forcesafesearch.google.com, strict.bing.com, restrict.youtube.com CNAMEs) is for the school's
resolver and is described in the deploy guide.
"""

from __future__ import annotations

import re

from mitmproxy import http

_GOOGLE = re.compile(r"(?:^|\.)google\.(?:(?:com?|org|net)\.)?[a-z]{2,3}$")
_GOOGLE_SEARCH = re.compile(r"/(?:search|webhp|images|imghp)?/?$")
_BING = re.compile(r"(?:^|\.)bing\.com$")
_BING_SEARCH = re.compile(r"/(?:(?:images|videos|news|shop)/)?search/?$")
_DUCKDUCKGO = re.compile(r"(?:^|\.)duckduckgo\.com$")
YOUTUBE_HOSTS = frozenset(
    {
        "youtube.com",
        "www.youtube.com",
        "m.youtube.com",
        "music.youtube.com",
        "youtubei.googleapis.com",
        "youtube.googleapis.com",
        "www.youtube-nocookie.com",
    }
)


def enforce(request: http.Request, pretty_host: str | None = None) -> str | None:
    """Make this request a safe one if it goes to a search engine; the engine's name if so.
    `pretty_host` is `request.pretty_host`, when the caller has it already."""
    if pretty_host is None:
        pretty_host = request.pretty_host
    host = pretty_host.lower().rstrip(".")
    if host in YOUTUBE_HOSTS:
        request.headers["YouTube-Restrict"] = "Strict"
        return "youtube"
    if _GOOGLE.search(host):
        if _GOOGLE_SEARCH.match(request.path.split("?", 1)[0]):
            _set_query(request, "safe", "active")
            return "google"
        return None
    if _BING.search(host):
        if _BING_SEARCH.match(request.path.split("?", 1)[0]):
            _set_query(request, "adlt", "strict")
            return "bing"
        return None
    if _DUCKDUCKGO.search(host):
        _set_query(request, "kp", "1")
        return "duckduckgo"
    return None


def _set_query(request: http.Request, name: str, value: str) -> None:
    if request.query.get(name) == value and len(request.query.get_all(name)) == 1:
        return  # already safe: leave the URL byte for byte as it was
    request.query[name] = value
