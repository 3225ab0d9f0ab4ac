"""The gateway's pure parts: device map, forwarded addresses, safe search, page bodies, pages."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mitmproxy.http import Headers
from mitmproxy.net import encoding
from mitmproxy.test import tflow, tutils

from filters.decision import Action, Decision
from monitor.gateway import pagescan, safesearch
from monitor.gateway.blockpage import BlockPage, review_link
from monitor.gateway.headers import header, host_header
from monitor.gateway.identity import DeviceMap, DeviceMapError, forwarded_client, parse_networks
from monitor.gateway.requesturl import RequestURLs

# --- device map ----------------------------------------------------------------------------


def test_yaml_device_map_most_specific_entry_wins(tmp_path: Path) -> None:
    file = tmp_path / "devices.yaml"
    file.write_text(
        "devices:\n"
        "  - {network: 10.13.0.0/16, device: y13-trolley, group: year13}\n"
        "  - {address: 10.13.0.7, device: y13-teacher-pc, user: teacher1}\n"
        "  - {network: 'fd00::/64', device: v6-lab}\n"
    )
    devices = DeviceMap.load(file)
    assert devices.lookup("10.13.0.7").device == "y13-teacher-pc"  # type: ignore[union-attr]
    assert devices.lookup("10.13.200.1").group == "year13"  # type: ignore[union-attr]
    assert devices.lookup("::ffff:10.13.0.7").user == "teacher1"  # type: ignore[union-attr]
    assert devices.lookup("fd00::5").device == "v6-lab"  # type: ignore[union-attr]
    assert devices.lookup("192.168.0.1") is None
    assert devices.lookup("not an address") is None


def test_yaml_device_map_problems_name_the_line(tmp_path: Path) -> None:
    file = tmp_path / "devices.yaml"
    file.write_text(
        "devices:\n"
        "  - {address: 10.0.0.1, device: ok}\n"
        "  - {address: 10.0.0.999, device: typo}\n"
        "  - {device: nowhere}\n"
        "  - {address: 10.0.0.2, colour: blue}\n"
    )
    with pytest.raises(DeviceMapError) as caught:
        DeviceMap.load(file)
    text = str(caught.value)
    assert f"{file}:3" in text and "10.0.0.999" in text
    assert f"{file}:4" in text and f"{file}:5" in text and "colour" in text


def test_csv_device_map(tmp_path: Path) -> None:
    file = tmp_path / "devices.csv"
    file.write_text("# exported from the MIS\naddress,device,user,group\n10.0.0.1,pc1,,staff\n")
    assert DeviceMap.load(file).lookup("10.0.0.1").group == "staff"  # type: ignore[union-attr]
    file.write_text("address,device\n10.0.0.1,pc1\nbad,pc2\n")
    with pytest.raises(DeviceMapError, match=r"devices\.csv:3"):
        DeviceMap.load(file)


def test_forwarded_for_is_believed_only_from_trusted_peers() -> None:
    trusted, problems = parse_networks(["192.168.1.1", "10.255.0.0/16"])
    assert problems == []
    chain = "10.0.5.5, 10.255.0.3"
    assert forwarded_client("192.168.1.1", chain, trusted) == "10.0.5.5"
    assert forwarded_client("192.168.1.9", chain, trusted) == "192.168.1.9"
    assert forwarded_client("192.168.1.1", "garbage", trusted) == "192.168.1.1"
    assert forwarded_client("192.168.1.1", None, trusted) == "192.168.1.1"
    assert parse_networks(["nope"])[1]


# --- safe search ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "engine", "param"),
    [
        ("https://www.google.co.uk/search?q=cats", "google", ("safe", "active")),
        ("https://www.google.com/search?q=cats&safe=off", "google", ("safe", "active")),
        ("https://www.bing.com/images/search?q=cats", "bing", ("adlt", "strict")),
        ("https://duckduckgo.com/?q=cats", "duckduckgo", ("kp", "1")),
    ],
)
def test_safe_search_parameters(url: str, engine: str, param: tuple[str, str]) -> None:
    request = tutils.treq()
    request.url = url
    assert safesearch.enforce(request) == engine
    assert request.query.get_all(param[0]) == [param[1]]


def test_youtube_restricted_mode_and_other_sites() -> None:
    request = tutils.treq()
    request.url = "https://www.youtube.com/watch?v=abc"
    assert safesearch.enforce(request) == "youtube"
    assert request.headers["YouTube-Restrict"] == "Strict"
    for url in ("https://maps.google.com/maps?q=x", "https://allowed.test/search?q=x"):
        other = tutils.treq()
        other.url = url
        assert safesearch.enforce(other) is None
        assert other.url == url


# --- page bodies ---------------------------------------------------------------------------


# Bodies are compressed with mitmproxy's own encoder, so these tests need no codec that mitmproxy
# does not install either.
@pytest.mark.parametrize("name", ["", "gzip", "deflate", "br", "zstd"])
def test_page_bytes_decode_within_the_bound(name: str) -> None:
    body = b"<p>" + b"a" * 5000 + b"</p>"
    response = tutils.tresp(content=b"")
    response.headers["Content-Encoding"] = name
    response.raw_content = encoding.encode(body, name) if name else body
    assert pagescan.page_bytes(response, 1000) == body[:1000]
    assert pagescan.page_bytes(response, 10_000) == body


def test_raw_deflate_without_its_header_decodes() -> None:
    body = b"<p>" + b"b" * 3000 + b"</p>"
    squeeze = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    response = tutils.tresp(content=b"")
    response.headers["Content-Encoding"] = "deflate"
    response.raw_content = squeeze.compress(body) + squeeze.flush()
    assert pagescan.page_bytes(response, 10_000) == body


@pytest.mark.parametrize("name", ["gzip", "deflate", "br", "zstd"])
def test_compression_bomb_costs_only_the_bound(name: str) -> None:
    bomb = encoding.encode(b"\0" * 50_000_000, name)
    response = tutils.tresp(content=b"")
    response.headers["Content-Encoding"] = name
    response.raw_content = bomb
    assert len(pagescan.page_bytes(response, 2_000_000)) == 2_000_000


def test_garbled_body_gives_nothing() -> None:
    response = tutils.tresp(content=b"")
    response.headers["Content-Encoding"] = "gzip"
    response.raw_content = b"not gzip at all"
    assert pagescan.page_bytes(response, 1000) == b""


def test_which_responses_are_scanned() -> None:
    flow = tflow.tflow(resp=True)
    assert flow.response is not None
    flow.response.headers["Content-Type"] = "text/html; charset=UTF-8"
    assert pagescan.should_scan(flow, 1000)
    assert pagescan.media_type(flow.response) == ("text/html", "UTF-8")
    flow.response.headers["Content-Length"] = "5000"
    assert not pagescan.should_scan(flow, 1000)
    flow.response.headers["Content-Length"] = "10"
    flow.response.status_code = 304
    assert not pagescan.should_scan(flow, 1000)
    flow.response.status_code = 200
    flow.request.method = "HEAD"
    assert not pagescan.should_scan(flow, 1000)


# --- block page ----------------------------------------------------------------------------


_HEADER_NAMES = st.sampled_from(
    [b"Content-Type", b"content-type", b"CONTENT-LENGTH", b"Content-Encoding", b"X-Other"]
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(_HEADER_NAMES, st.binary(max_size=12)), max_size=6),
    st.sampled_from([b"content-type", b"content-length", b"content-encoding", b"x-absent"]),
)
def test_a_header_read_in_one_pass_is_mitmproxys_own(
    fields: list[tuple[bytes, bytes]], name: bytes
) -> None:
    """Repeated fields, any case, bytes that are not UTF-8: `header` gives what mitmproxy's
    `headers.get` gives, and `host_header` what its `host_header` gives, HTTP/1 and 2."""
    response = tutils.tresp()
    response.headers = Headers(fields)
    assert header(response, name) == response.headers.get(name.decode(), "")
    request = tutils.treq()
    request.headers = Headers([(b"Host" if k == b"X-Other" else k, v) for k, v in fields])
    for version in ("HTTP/1.1", "HTTP/2.0"):
        request.http_version = version
        assert host_header(request) == (request.host_header or "")


def test_block_page_escapes_and_links_to_review() -> None:
    decision = Decision(
        action=Action.BLOCK,
        url='http://bad.test/"><script>alert(1)</script>',
        host="bad.test",
        category="extremism",
        reason="bad.test is listed as <extremist> material",
    )
    page = BlockPage("St <Example>'s", "https://console.test/request-review")
    html = page.render_block(
        decision, reference="abc123", when=datetime(2026, 11, 23, 12, tzinfo=UTC), category=None
    )
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "St &lt;Example&gt;" in html and "&lt;extremist&gt;" in html
    assert "abc123" in html and "Monday 23 November 2026, 12:00:00 GMT" in html
    assert "https://console.test/request-review?url=http%3A%2F%2Fbad.test" in html
    assert review_link("", "http://x.test/", "r") == ""
    assert review_link("https://c.test/r?lang=en", "http://x.test/", "r").startswith(
        "https://c.test/r?lang=en&url="
    )


# --- the URL a request is decided on -------------------------------------------------------

_HOSTS = st.sampled_from(
    ["allowed.test", "WWW.Blocked.Test", "blocked.test.", "xn--bcher-kva.example",
     "bücher.example", "10.0.0.1", "[::1]", "::1", "a_b.test", "bad host", "evil.test@x.test",
     "x.test/y", "", "café.test", "-x-.test", "*.test"]
)
_PORTS = st.sampled_from(["", ":80", ":443", ":8080", ":0", ":99999", ":x", ":"])
# one for every example, so a parse remembered for one request is tried on the others
_SHARED_URLS = RequestURLs(capacity=8)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["http", "https"]),
    st.one_of(st.tuples(_HOSTS, _PORTS).map("".join), st.text(max_size=30)),
    st.sampled_from(["/", "/a/b?q=1", "*", "/%41?x=%zz", ""]),
    st.booleans(),
)
def test_request_urls_are_mitmproxys_pretty_url_and_host(
    scheme: str, host_header: str, path: str, http2: bool
) -> None:
    urls = _SHARED_URLS
    request = tutils.treq(scheme=scheme.encode(), host="origin.test", port=8443)
    request.http_version = "HTTP/2.0" if http2 else "HTTP/1.1"
    request.path = path
    if http2:
        request.authority = host_header
    else:
        request.headers["Host"] = host_header
    expected = (request.pretty_url, request.pretty_host)
    assert urls.of(request) == expected
    assert urls.of(request) == expected  # from the remembered parse


def test_request_urls_forget_when_full() -> None:
    urls = RequestURLs(capacity=2)
    for n in range(5):
        request = tutils.treq(host="origin.test")
        request.headers["Host"] = f"site{n}.test"
        assert urls.of(request)[1] == f"site{n}.test"
    assert len(urls._origins) <= 2


def test_connect_requests_use_the_authority() -> None:
    request = tutils.treq(method=b"CONNECT", authority=b"bank.test:443", path=b"")
    assert request.first_line_format == "authority"
    assert RequestURLs().of(request) == (request.pretty_url, request.pretty_host)


def test_safe_search_takes_the_host_it_was_given() -> None:
    request = tutils.treq(host="origin.test", path=b"/search?q=x")
    request.headers["Host"] = "www.google.co.uk"
    assert safesearch.enforce(request, "www.google.co.uk") == "google"
    assert request.query["safe"] == "active"
