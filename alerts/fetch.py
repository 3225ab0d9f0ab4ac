"""Fetching one feed safely: `FeedFetcher.fetch(url, etag, last_modified) -> FetchResult`.

What a hostile or broken feed server cannot do here:

- keep us waiting: connect and per-read timeouts from aiohttp, and a total deadline over the
  whole fetch, redirects included;
- fill memory: the body is read in chunks and decompressed here (not by aiohttp), each step
  bounded by `max_body_bytes`, so a gzip bomb stops at the cap instead of expanding;
- lead us elsewhere: redirects are followed by hand (at most `max_redirects`), each hop must be
  http(s), IP literals are checked by the `AddressGuard` and names by the `GuardedResolver` at
  connect time;
- overload anyone: at most `max_concurrent` fetches at once and `max_per_host` per host; the
  wait for a slot is not counted against the fetch's deadline.

Conditional GET (ETag / Last-Modified) is sent when the feed gave validators before. Nothing here
raises for a feed's fault: every outcome is a `FetchResult` with a message a person can act on.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from urllib.parse import urljoin, urlsplit

import aiohttp

from alerts.addresses import (
    AddressGuard,
    GuardedResolver,
    RefusedAddress,
    literal_address,
    refusal_in,
)

REDIRECTS = (301, 302, 303, 307, 308)
CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class FetchResult:
    """How one fetch went. `outcome` is "ok", "not-modified" or "error"."""

    outcome: str
    url: str  # the URL finally answered (after redirects)
    status: int | None = None
    body: bytes = b""
    content_type: str = ""
    etag: str | None = None
    last_modified: str | None = None
    retry_after: float | None = None  # seconds the server asked us to wait (429/503)
    error: str | None = None
    refused: bool = False  # an address the guard refused: nothing was fetched there
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class FetchLimits:
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    total_timeout: float = 60.0
    max_body_bytes: int = 5_000_000
    max_redirects: int = 5
    max_concurrent: int = 20
    max_per_host: int = 2
    user_agent: str = "prevent-monitor brand-alert watcher"


class BodyTooLarge(Exception):
    pass


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP-date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class _Decoder:
    """Content-Encoding undone step by step, never producing more than `limit` bytes."""

    def __init__(self, encoding: str, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.parts: list[bytes] = []
        encoding = encoding.strip().lower()
        if encoding in ("", "identity"):
            self._z: zlib._Decompress | None = None
        elif encoding in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._z = zlib.decompressobj()
        else:
            raise ValueError(f"the server used a Content-Encoding we did not ask for: {encoding!r}")

    def feed(self, chunk: bytes) -> None:
        if self._z is None:
            self._add(chunk)
            return
        data = chunk
        while data:
            out = self._z.decompress(data, self.limit - self.size + 1)
            self._add(out)
            data = self._z.unconsumed_tail
            if self._z.eof:
                break

    def finish(self) -> bytes:
        if self._z is not None:
            self._add(self._z.flush(self.limit - self.size + 1))
        return b"".join(self.parts)

    def _add(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise BodyTooLarge
        if data:
            self.parts.append(data)


class FeedFetcher:
    """One aiohttp session for all feeds, with the guard and the limits above."""

    def __init__(self, limits: FetchLimits, guard: AddressGuard) -> None:
        self.limits = limits
        self.guard = guard
        self._session: aiohttp.ClientSession | None = None
        self._overall = asyncio.Semaphore(limits.max_concurrent)
        self._per_host: dict[str, asyncio.Semaphore] = {}

    async def __aenter__(self) -> FeedFetcher:
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(self.guard),
            limit=self.limits.max_concurrent,
            limit_per_host=self.limits.max_per_host,
            ttl_dns_cache=60,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=None,  # our own deadline covers the redirects too
                connect=self.limits.connect_timeout,
                sock_connect=self.limits.connect_timeout,
                sock_read=self.limits.read_timeout,
            ),
            auto_decompress=False,  # we decompress, with a cap
            trust_env=False,  # no proxy from the environment: the feed goes where we check
            cookie_jar=aiohttp.DummyCookieJar(),
            headers={"User-Agent": self.limits.user_agent},
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _host_slot(self, url: str) -> asyncio.Semaphore:
        host = (urlsplit(url).hostname or "").lower()
        slot = self._per_host.get(host)
        if slot is None:
            slot = self._per_host[host] = asyncio.Semaphore(self.limits.max_per_host)
        return slot

    async def fetch(
        self, url: str, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        """Fetch `url` within every limit; never raises for anything the server does."""
        async with self._overall, self._host_slot(url):
            started = time.monotonic()
            try:
                async with asyncio.timeout(self.limits.total_timeout):
                    result = await self._follow(url, etag, last_modified)
            except TimeoutError:
                result = FetchResult(
                    "error", url, error=f"timed out: no complete answer within "
                    f"{self.limits.total_timeout:g} s (the server is slow or stalled)"
                )
            except Exception as exc:  # a bug or an aiohttp surprise must not stop the watcher
                result = FetchResult("error", url, error=f"fetch failed: {exc!r}"[:500])
            return _timed(result, time.monotonic() - started)

    async def _follow(self, url: str, etag: str | None, last_modified: str | None) -> FetchResult:
        assert self._session is not None, "use `async with FeedFetcher(...)`"
        current = url
        for _hop in range(self.limits.max_redirects + 1):
            problem = self._check_target(current)
            if problem is not None:
                return problem
            headers = {"Accept-Encoding": "gzip, deflate", "Accept": _ACCEPT}
            if etag:
                headers["If-None-Match"] = etag
            if last_modified:
                headers["If-Modified-Since"] = last_modified
            try:
                async with self._session.get(
                    current, headers=headers, allow_redirects=False
                ) as response:
                    if response.status in REDIRECTS:
                        location = response.headers.get("Location")
                        if not location:
                            return FetchResult(
                                "error", current, response.status,
                                error=f"HTTP {response.status} redirect without a Location",
                            )
                        current = urljoin(current, location)
                        continue
                    return await self._answer(current, response)
            except aiohttp.ClientConnectorError as exc:
                refused = refusal_in(exc)
                if refused is not None:
                    return FetchResult("error", current, error=str(refused), refused=True)
                return FetchResult("error", current, error=f"cannot connect: {exc.strerror or exc}")
            except RefusedAddress as exc:
                return FetchResult("error", current, error=str(exc), refused=True)
            except aiohttp.ServerTimeoutError:
                return FetchResult(
                    "error", current,
                    error=f"timed out: the server sent nothing for {self.limits.read_timeout:g} s "
                    "(stalled mid-answer)",
                )
            except aiohttp.ClientPayloadError:
                return FetchResult("error", current, error="the connection broke mid-body")
            except aiohttp.ClientResponseError as exc:
                return FetchResult(
                    "error", current, exc.status, error=f"bad HTTP answer: {exc.message}"
                )
            except aiohttp.InvalidURL:
                return FetchResult("error", current, error=f"not a usable URL: {current[:200]!r}")
            except aiohttp.ClientError as exc:
                return FetchResult("error", current, error=f"fetch failed: {exc}"[:500])
        return FetchResult(
            "error", current, error=f"more than {self.limits.max_redirects} redirects"
        )

    def _check_target(self, url: str) -> FetchResult | None:
        try:
            parts = urlsplit(url)
            host = parts.hostname
        except ValueError:
            return FetchResult("error", url, error=f"not a usable URL: {url[:200]!r}")
        if parts.scheme not in ("http", "https"):
            return FetchResult(
                "error", url, refused=True,
                error=f"refused to follow a {parts.scheme or 'schemeless'}: URL "
                "(only http and https)",
            )
        if not host:
            return FetchResult("error", url, error=f"no host in {url[:200]!r}")
        literal = literal_address(host)
        if literal is not None:
            why = self.guard.refusal(literal)
            if why:
                return FetchResult(
                    "error", url, refused=True, error=f"refused to connect to {host}: {why}"
                )
        return None

    async def _answer(self, url: str, response: aiohttp.ClientResponse) -> FetchResult:
        status = response.status
        etag = response.headers.get("ETag")
        modified = response.headers.get("Last-Modified")
        if status == 304:
            return FetchResult("not-modified", url, status, etag=etag, last_modified=modified)
        if status in (429, 503):
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            said = f"; asked to retry after {wait:g} s" if wait is not None else ""
            return FetchResult(
                "error", url, status, retry_after=wait,
                error=f"HTTP {status} {response.reason or ''}".rstrip() + said,
            )
        if status != 200:
            return FetchResult(
                "error", url, status, error=f"HTTP {status} {response.reason or ''}".rstrip()
            )
        try:
            encoding = response.headers.get("Content-Encoding", "")
            decoder = _Decoder(encoding, self.limits.max_body_bytes)
        except ValueError as exc:
            return FetchResult("error", url, status, error=str(exc))
        try:
            async for chunk in response.content.iter_chunked(CHUNK):
                decoder.feed(chunk)
            body = decoder.finish()
        except BodyTooLarge:
            response.close()  # drop the connection: the rest is never read
            return FetchResult(
                "error", url, status,
                error=f"the feed is larger than {self.limits.max_body_bytes:,} bytes once "
                "decompressed (max_body_bytes); refused",
            )
        except zlib.error as exc:
            return FetchResult("error", url, status, error=f"the compressed body is damaged: {exc}")
        return FetchResult(
            "ok", url, status, body=body,
            content_type=response.headers.get("Content-Type", ""),
            etag=etag, last_modified=modified,
        )


_ACCEPT = (
    "application/atom+xml, application/rss+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
)


def _timed(result: FetchResult, seconds: float) -> FetchResult:
    return FetchResult(
        result.outcome, result.url, result.status, result.body, result.content_type,
        result.etag, result.last_modified, result.retry_after, result.error, result.refused,
        seconds,
    )
