"""Which responses have their text scored, and their body, decompressed within a bound.

HTML and other text responses up to `limit` bytes (2 MB by default, counted after
decompression) are held back until complete and scored with the policy's weighted phrases.
Everything else (images, video, downloads, text bigger than the bound when the server says so in
Content-Length) streams through untouched, so the gateway never holds a large body in memory.

A body whose size is not announced (chunked) is held: it may be small, and a block needs the
whole page. Only the first `limit` bytes after decompression are ever scored, and decompression
stops there, so a compression bomb costs `limit` bytes of memory, not its inflated size.
"""

from __future__ import annotations

import zlib

from mitmproxy import http
from mitmproxy.net import encoding as mitmproxy_codecs

from monitor.gateway.headers import header

# The codecs mitmproxy itself imported for its own decoding (brotli; zstd from `compression` or
# `backports`, by Python version). Taking the very modules it chose means the gateway can never
# need a codec that mitmproxy did not install. Its `decode()` has no output bound, so the bounded
# decompression below is ours; tests decode every encoding through these modules.
_brotli = mitmproxy_codecs.brotli
_zstd = mitmproxy_codecs.zstd

DEFAULT_LIMIT = 2_000_000
STREAM_ABOVE = 256 * 1024  # unscored bodies bigger than this (or of unknown size) stream

SCANNED_TYPES = frozenset(
    {
        "text/html",
        "text/plain",
        "text/xml",
        "application/xhtml+xml",
        "application/xml",
        "application/rss+xml",
        "application/atom+xml",
        "application/json",
    }
)
_NO_BODY = frozenset({204, 205, 304})
_ENCODINGS = frozenset({"", "identity", "gzip", "x-gzip", "deflate", "br", "zstd"})


def media_type(response: http.Response) -> tuple[str, str | None]:
    """The media type (lower case, no parameters) and the charset, if named."""
    raw = header(response, b"content-type")
    media, _, params = raw.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip("\"'") or None
    return media.strip().lower(), charset


def should_scan(flow: http.HTTPFlow, limit: int) -> bool:
    """Decide at response headers: hold this body back for scoring, or let it stream."""
    return scan_type(flow, limit) is not None


def scan_type(flow: http.HTTPFlow, limit: int) -> tuple[str, str | None] | None:
    """`should_scan`, answered with the body's media type and charset (kept for the scoring, so
    the header is read once), or None when the body is not scored."""
    response = flow.response
    if response is None or flow.request.method == "HEAD":
        return None
    if response.status_code < 200 or response.status_code in _NO_BODY:
        return None
    kind = media_type(response)
    if kind[0] not in SCANNED_TYPES:
        return None
    if header(response, b"content-encoding").strip().lower() not in _ENCODINGS:
        return None
    length = header(response, b"content-length")
    # Compressed bodies inflate: a compressed length over the bound is certainly over it.
    if length.isdigit() and int(length) > limit:
        return None
    return kind


def worth_streaming(response: http.Response, limit: int) -> bool:
    """For a body that is not scored: stream it if it is big (over `STREAM_ABOVE` or the
    scoring bound) or of unknown size. Small ones are cheaper buffered (one write, not many)."""
    length = header(response, b"content-length")
    return not length.isdigit() or int(length) > min(STREAM_ABOVE, limit)


def page_bytes(response: http.Response, limit: int) -> bytes:
    """At most `limit` bytes of the decompressed body; b"" if it cannot be decoded."""
    raw = response.raw_content or b""
    encoding = header(response, b"content-encoding").strip().lower()
    try:
        if encoding in ("", "identity"):
            return raw[:limit]
        if encoding in ("gzip", "x-gzip"):
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, limit)
        if encoding == "deflate":
            try:
                return zlib.decompressobj().decompress(raw, limit)
            except zlib.error:  # raw deflate without the zlib header, as some servers send
                return zlib.decompressobj(-zlib.MAX_WBITS).decompress(raw, limit)
        if encoding == "br":
            return _brotli.Decompressor().process(raw, output_buffer_limit=limit)[:limit]
        if encoding == "zstd":
            return _zstd.ZstdDecompressor().decompress(raw, max_length=limit)
    except (zlib.error, _brotli.error, _zstd.ZstdError):
        return b""
    return b""
