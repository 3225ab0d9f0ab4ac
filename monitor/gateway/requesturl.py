"""The URL a request is decided on: mitmproxy's `Request.pretty_url`, with the Host parse kept.

`pretty_url` parses and validates the Host header (an IDNA round trip per label) on every call,
and safe search asked again through `pretty_host`: together about two thirds of the gateway's
request-headers hook. A network asks for the same few hundred hosts over and over, so the parsed
origin (`scheme://host[:port]`) and host are remembered per (scheme, Host header). The result is
exactly `pretty_url` / `pretty_host` (the tests hold it to that); only the path is read afresh.

The memory is bounded: at `MAX_ORIGINS` distinct Host headers it starts again, so a client
sending a new Host on every request costs a parse each, as before, and never memory.
"""

from __future__ import annotations

from typing import NamedTuple

from mitmproxy import http
from mitmproxy.net.http import url

from monitor.gateway.headers import host_header as read_host_header

MAX_ORIGINS = 16_384  # ~3 MB at most; a school's day of browsing rarely needs more


class Origin(NamedTuple):
    prefix: str  # "scheme://host" or "scheme://host:port", as pretty_url writes it
    host: str  # as pretty_host gives it


class RequestURLs:
    """`pretty_url` and `pretty_host` of requests, the Host header's parse remembered."""

    def __init__(self, capacity: int = MAX_ORIGINS) -> None:
        self.capacity = capacity
        self._origins: dict[tuple[str, str], Origin] = {}

    def of(self, request: http.Request) -> tuple[str, str]:
        """(`request.pretty_url`, `request.pretty_host`)."""
        host_header = read_host_header(request)
        if request.first_line_format == "authority" or not host_header:
            return request.pretty_url, request.pretty_host  # CONNECT, or no Host: no parse
        scheme = request.scheme
        key = (scheme, host_header)
        origin = self._origins.get(key)
        if origin is None:
            origin = self._parse(scheme, host_header)
            if len(self._origins) >= self.capacity:
                self._origins.clear()
            self._origins[key] = origin
        path = request.path
        return origin.prefix + (path if path != "*" else ""), origin.host

    @staticmethod
    def _parse(scheme: str, host_header: str) -> Origin:
        # The same steps as mitmproxy's Request.pretty_url and pretty_host.
        host, port = url.parse_authority(host_header, check=False)
        port = port or url.default_port(scheme) or 443
        return Origin(f"{scheme}://{url.hostport(scheme, host, port)}", host)
