"""Every spelling of an address that browsers accept comes out as one canonical form (issue 2
point 1), and no string at all makes the normaliser raise (issue 2, "Bad input")."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from filters.hosts import _normalise_host, normalise_host, parent_domains
from filters.urls import NormalisedURL, normalise_url, split_url


def host_of(url: str) -> str:
    return normalise_url(url).host


# -- case, trailing dots, userinfo, ports --------------------------------------------------------


def test_case_is_folded_in_scheme_and_host_but_kept_in_path() -> None:
    u = normalise_url("HTTP://WWW.Bad.TEST/Some/Path?Q=Word")
    assert (u.scheme, u.host, u.path, u.query) == ("http", "www.bad.test", "/Some/Path", "Q=Word")
    assert u.match_key == "www.bad.test/some/path?q=word"


@pytest.mark.parametrize("url", ["http://bad.test./", "http://bad.test../x", "bad.test.:443"])
def test_trailing_dots_are_dropped(url: str) -> None:
    assert host_of(url) == "bad.test"


def test_userinfo_is_not_the_host() -> None:
    u = normalise_url("http://good.test@bad.test/")
    assert u.host == "bad.test"
    assert "userinfo" in u.anomalies
    u = normalise_url("http://good.example:pw@x@bad.test:8080/")
    assert (u.host, u.port) == ("bad.test", 8080)


def test_backslash_before_at_ends_the_authority_as_browsers_do() -> None:
    u = normalise_url("http://bad.test\\@good.example/")
    assert u.host == "bad.test"
    assert "backslash" in u.anomalies


@pytest.mark.parametrize(
    ("url", "port"),
    [
        ("http://bad.test:80/", None),
        ("https://bad.test:443/", None),
        ("http://bad.test:443/", 443),
        ("http://bad.test:0080/", None),
        ("http://bad.test:8080/", 8080),
        ("http://bad.test:/", None),
    ],
)
def test_default_ports_are_dropped(url: str, port: int | None) -> None:
    assert normalise_url(url).port == port


@pytest.mark.parametrize("url", ["http://bad.test:99999/", "http://bad.test:8o/", "bad.test:-1"])
def test_a_bad_port_is_an_anomaly_not_an_exception(url: str) -> None:
    u = normalise_url(url)
    assert (u.host, u.port) == ("bad.test", None)
    assert "bad-port" in u.anomalies


# -- inputs without a scheme -----------------------------------------------------------------------


def test_connect_authority() -> None:
    u = normalise_url("bad.test:443")
    assert (u.scheme, u.host, u.port, u.path) == ("", "bad.test", 443, "/")
    assert u.url() == "https://bad.test/"


def test_squidguard_host_and_path() -> None:
    u = normalise_url("bad.test/some/path")
    assert (u.scheme, u.host, u.path) == ("", "bad.test", "/some/path")
    assert u.match_key == "bad.test/some/path"


def test_scheme_relative() -> None:
    u = normalise_url("//bad.test/x")
    assert (u.scheme, u.host, u.path) == ("", "bad.test", "/x")


def test_localhost_with_port_is_not_a_scheme() -> None:
    u = normalise_url("localhost:8080/x")
    assert (u.scheme, u.host, u.port, u.path) == ("", "localhost", 8080, "/x")


@pytest.mark.parametrize("url", ["http:bad.test/x", "http:/bad.test/x", "http:///bad.test/x"])
def test_special_schemes_ignore_missing_or_extra_slashes(url: str) -> None:
    u = normalise_url(url)
    assert (u.host, u.path) == ("bad.test", "/x")


def test_opaque_urls_keep_their_scheme_and_have_no_host() -> None:
    u = normalise_url("mailto:someone@bad.test")
    assert (u.scheme, u.host, u.host_kind) == ("mailto", "", "empty")
    assert u.url() == "mailto:someone@bad.test"


# -- percent-encoding ------------------------------------------------------------------------------


def test_percent_encoded_host() -> None:
    u = normalise_url("http://%62%41d.test/")
    assert u.host == "bad.test"
    assert "percent-encoded-host" in u.anomalies


def test_double_encoded_host() -> None:
    u = normalise_url("http://%2562ad.test/")
    assert u.host == "bad.test"
    assert "double-encoded" in u.anomalies


def test_percent_encoding_in_path_is_decoded_whatever_the_hex_case() -> None:
    plain = normalise_url("http://bad.test/bad/page")
    for spelling in ("http://bad.test/%62ad/page", "http://bad.test/%62%61%64/p%61ge"):
        assert normalise_url(spelling).path == plain.path
    assert normalise_url("http://bad.test/a%2fb").path == normalise_url("http://bad.test/a%2Fb").path


def test_double_encoding_in_path() -> None:
    u = normalise_url("http://bad.test/%2562ad")
    assert u.path == "/bad"
    assert "double-encoded" in u.anomalies
    assert normalise_url("http://bad.test/%252562ad").path == "/bad"


def test_query_encodings_agree_but_structure_is_kept() -> None:
    a = normalise_url("http://bad.test/s?q=extreme%20words&x=%2b")
    b = normalise_url("http://bad.test/s?q=%65xtreme%2520words&x=%2B")
    assert a.query == b.query == "q=extreme%20words&x=%2B"
    assert a.match_key == b.match_key
    # An encoded & or = is data, not a separator: decoding it would split one parameter in two.
    assert normalise_url("http://bad.test/?a=1%26b%3D2").query == "a=1%26b%3D2"
    assert normalise_url("http://bad.test/?a=1%2526b").query == "a=1%26b"


def test_utf8_in_path_is_one_form_whether_encoded_or_not() -> None:
    assert normalise_url("http://bad.test/caf%C3%A9").path == "/café"
    assert normalise_url("http://bad.test/café").path == "/café"
    # Bytes that are not UTF-8 stay encoded, with uppercase hex.
    assert normalise_url("http://bad.test/%ff%Fe").path == "/%FF%FE"


def test_characters_that_would_change_the_meaning_stay_encoded() -> None:
    u = normalise_url("http://bad.test/a%3Fb%23c%20d%25")
    assert u.path == "/a%3Fb%23c%20d%25"
    assert normalise_url(u.url()).path == u.path


# -- path ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("http://bad.test/a/../b", "/b"),
        ("http://bad.test/a/./b", "/a/b"),
        ("http://bad.test/../../b", "/b"),
        ("http://bad.test/a/b/..", "/a/"),
        ("http://bad.test/a/%2e%2E/b", "/b"),
        ("http://bad.test/a/.%2e/b", "/b"),
    ],
)
def test_dot_segments_are_resolved(url: str, path: str) -> None:
    u = normalise_url(url)
    assert u.path == path
    assert "dot-segments" in u.anomalies


def test_double_slashes_collapse() -> None:
    assert normalise_url("http://bad.test//a///b//").path == "/a/b/"


def test_dot_files_are_not_dot_segments() -> None:
    u = normalise_url("http://bad.test/.well-known/x..y")
    assert u.path == "/.well-known/x..y"
    assert "dot-segments" not in u.anomalies


def test_fragment_is_dropped() -> None:
    u = normalise_url("http://bad.test/page?q=1#section?x=2")
    assert (u.path, u.query) == ("/page", "q=1")


def test_backslashes_are_slashes() -> None:
    u = normalise_url("http:\\\\bad.test\\a\\b")
    assert (u.host, u.path) == ("bad.test", "/a/b")


def test_tabs_and_newlines_are_stripped_as_whatwg_does() -> None:
    u = normalise_url(" \thttp://ba\td.te\nst/pa\r\nth \n")
    assert (u.host, u.path) == ("bad.test", "/path")
    assert "control-chars" in u.anomalies


def test_other_control_characters_make_the_host_malformed() -> None:
    u = normalise_url("http://bad\x00.test/")
    assert u.host_kind == "malformed"
    assert "control-chars" in u.anomalies
    assert normalise_url("http://bad.test/a\x00b").path == "/a%00b"


# -- IDN -------------------------------------------------------------------------------------------


def test_unicode_and_punycode_give_the_same_host() -> None:
    assert host_of("http://bücher.test/") == "xn--bcher-kva.test"
    assert host_of("http://xn--bcher-kva.test/") == "xn--bcher-kva.test"
    assert host_of("http://BÜCHER.test/") == "xn--bcher-kva.test"
    assert host_of("http://XN--BCHER-KVA.TEST/") == "xn--bcher-kva.test"
    assert "idn" in normalise_url("http://bücher.test/").anomalies


def test_percent_encoded_utf8_host() -> None:
    assert host_of("http://b%C3%BCcher.test/") == "xn--bcher-kva.test"


@pytest.mark.parametrize("dot", ["\u3002", "\uff0e", "\uff61"])
def test_fullwidth_and_ideographic_dots_separate_labels(dot: str) -> None:
    assert host_of(f"http://www{dot}bad{dot}test/") == "www.bad.test"


def test_fullwidth_letters_map_to_ascii() -> None:
    u = normalise_url("http://ｂａｄ．ｔｅｓｔ/")
    assert u.host == "bad.test"
    assert u.host_kind == "domain"


def test_underscore_beside_unicode_falls_back_to_idna2003() -> None:
    host, kind, anomalies = normalise_host("my_site.bücher.test")
    assert (host, kind) == ("my_site.xn--bcher-kva.test", "domain")
    assert "idn-nonstandard" in anomalies


def test_invalid_punycode_is_malformed_not_an_exception() -> None:
    u = normalise_url("http://xn--zz.test/")
    assert (u.host, u.host_kind) == ("xn--zz.test", "malformed")
    assert "malformed-host" in u.anomalies


# -- IPv4 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://3232235777/", "192.168.1.1"),
        ("http://0xC0A80101/", "192.168.1.1"),
        ("http://0xC0.0xA8.1.1/", "192.168.1.1"),
        ("http://0300.0250.1.1/", "192.168.1.1"),
        ("http://0300.0250.0401/", "192.168.1.1"),
        ("http://127.1/", "127.0.0.1"),
        ("http://10.1.2/", "10.1.0.2"),
        ("http://0x7f.1/", "127.0.0.1"),
        ("http://192.168.001.001/", "192.168.1.1"),
        ("http://１２７.０.０.１/", "127.0.0.1"),
        ("http://192.168.1.1./", "192.168.1.1"),
    ],
)
def test_obfuscated_ipv4_becomes_a_dotted_quad(url: str, host: str) -> None:
    u = normalise_url(url)
    assert (u.host, u.host_kind) == (host, "ipv4")
    assert "obfuscated-ip" in u.anomalies
    assert "ip-literal" in u.anomalies


def test_plain_dotted_quad_is_an_ip_literal_but_not_obfuscated() -> None:
    u = normalise_url("http://192.168.1.1/")
    assert (u.host, u.host_kind) == ("192.168.1.1", "ipv4")
    assert u.anomalies == ("ip-literal",)


@pytest.mark.parametrize(
    "host", ["256.1.1.1", "1.2.3.4.5", "4294967296", "09.1.1.1", "bad.123", "0xgg.1.1.1", "9" * 500]
)
def test_invalid_ipv4_is_malformed(host: str) -> None:
    assert normalise_host(host)[1] == "malformed"


# -- IPv6 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "host", "kind"),
    [
        ("http://[::1]/", "::1", "ipv6"),
        ("http://[2001:DB8:0:0:0:0:0:1]:8080/", "2001:db8::1", "ipv6"),
        ("http://[fe80::1%25eth0]/", "fe80::1", "ipv6"),
        ("http://[::ffff:192.168.1.1]/", "192.168.1.1", "ipv4"),
        ("http://[::ffff:c0a8:0101]/", "192.168.1.1", "ipv4"),
        ("http://[::ffff:0102:0304]/", "1.2.3.4", "ipv4"),
    ],
)
def test_ipv6(url: str, host: str, kind: str) -> None:
    u = normalise_url(url)
    assert (u.host, u.host_kind) == (host, kind)
    assert "ip-literal" in u.anomalies


def test_ipv6_zone_and_mapping_are_recorded() -> None:
    assert "ipv6-zone" in normalise_url("http://[fe80::1%25eth0]/").anomalies
    assert "ipv4-mapped" in normalise_url("http://[::ffff:1.2.3.4]/").anomalies


def test_ipv6_url_keeps_brackets_and_port() -> None:
    assert normalise_url("http://[2001:db8::1]:8080/x").url() == "http://[2001:db8::1]:8080/x"


def test_bare_ipv6_host() -> None:
    assert normalise_host("2001:DB8::1") == ("2001:db8::1", "ipv6", ("ip-literal",))


@pytest.mark.parametrize("url", ["http://[::1/", "http://[::1]x/", "http://[bad.test]/", "http://[:::]/"])
def test_broken_ipv6_is_malformed(url: str) -> None:
    assert normalise_url(url).host_kind == "malformed"


# -- malformed hosts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "bad..test",
        ".bad.test",
        "bad test",
        "bad!.test",
        "a" * 64 + ".test",
        ".".join(["a" * 63] * 4) + ".test",
        "bad.test%zz",
        "%ff.test",
        "...",
        "bad.test:1:2",
    ],
)
def test_malformed_hosts_keep_their_raw_form(host: str) -> None:
    got, kind, anomalies = normalise_host(host)
    assert kind == "malformed"
    assert got == host.lower()
    assert "malformed-host" in anomalies


def test_longest_legal_domain_is_a_domain() -> None:
    host = ".".join(["a" * 63] * 3 + ["b" * 61])  # 253 characters
    assert normalise_host(host) == (host, "domain", ())
    assert normalise_host(host + "b")[1] == "malformed"


def test_empty_host() -> None:
    assert normalise_host("") == ("", "empty", ())
    assert normalise_url("http:///").host_kind == "empty"
    assert normalise_url("").host_kind == "empty"


# -- url() and match_key ---------------------------------------------------------------------------


def test_url_is_canonical() -> None:
    u = normalise_url("HTTPS://Good.Example@BÜCHER.test.:443/a/./b/../c%2564?Q=1#frag")
    assert u.url() == "https://xn--bcher-kva.test/a/cd?Q=1"
    assert u.match_key == "xn--bcher-kva.test/a/cd?q=1"


def test_match_key_has_no_query_mark_without_a_query() -> None:
    assert normalise_url("http://bad.test/x?").match_key == "bad.test/x"


def test_raw_is_kept() -> None:
    assert normalise_url(" http://bad.test ").raw == " http://bad.test "


def test_split_url_keeps_the_path_as_written() -> None:
    parts = split_url("https://web.archive.org/web/2020/http://bad.test/x?y=1#z")
    assert parts.authority == "web.archive.org"
    assert parts.path == "/web/2020/http://bad.test/x"
    assert parts.query == "y=1"


# -- parent_domains --------------------------------------------------------------------------------


def test_parent_domains_are_label_aligned() -> None:
    assert list(parent_domains("a.b.c.test")) == ["a.b.c.test", "b.c.test", "c.test", "test"]
    assert "bad.test" not in parent_domains("notbad.test")


def test_parent_domains_of_ips_and_nothing() -> None:
    assert list(parent_domains("1.2.3.4")) == ["1.2.3.4"]
    assert list(parent_domains("2001:db8::1")) == ["2001:db8::1"]
    assert list(parent_domains("")) == []


# -- bad input: properties -------------------------------------------------------------------------

_URL_ALPHABET = st.sampled_from(
    [*"abcxyz019-_.:/?#@[]%\\ \t\n\x00", "%2e", "%25", "%41", "xn--", "\u3002", "ü", "\ud800"]
)
_URLISH = st.lists(_URL_ALPHABET, max_size=40).map("".join)


@settings(max_examples=400)
@given(st.one_of(st.text(), _URLISH, _URLISH.map(lambda s: "http://" + s)))
def test_any_text_gives_a_normalised_url(text: str) -> None:
    u = normalise_url(text)
    assert isinstance(u, NormalisedURL)
    assert isinstance(u.host, str)
    assert u.path.startswith("/")
    assert "internal-error" not in u.anomalies  # the catch-all never had to step in
    assert isinstance(u.match_key, str)
    assert isinstance(u.url(), str)


@settings(max_examples=300)
@given(st.one_of(st.text(), _URLISH))
def test_any_text_gives_a_host(text: str) -> None:
    # The inner function, so that the catch-all in normalise_host cannot hide a fault.
    host, kind, _ = _normalise_host(text)
    assert normalise_host(text)[:2] == (host, kind)
    assert isinstance(host, str)
    assert kind in ("domain", "ipv4", "ipv6", "malformed", "empty")
    if kind == "domain":
        assert host == host.lower() and host.isascii() and not host.endswith(".")
        assert list(parent_domains(host))[-1] == host.rpartition(".")[2]


def test_huge_and_hostile_strings() -> None:
    for text in (
        "http://" + "a." * 200_000 + "test/",
        "http://bad.test/" + "%25" * 50_000 + "41",
        "http://bad.test/?" + "a=%2525&" * 20_000,
        "http://" + "9" * 5000 + "/",
        "\ud800" * 1000,
        "http://[" + ":" * 10_000 + "]/",
        "http://bad.test/" + "../" * 50_000,
    ):
        u = normalise_url(text)
        assert "internal-error" not in u.anomalies


_LABEL = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
_UNICODE_LABEL = st.sampled_from(
    ["bücher", "ｂａｄ", "пример", "例え", "مثال", "BAD", "xn--bcher-kva"]
)
_SEGMENT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8)


@st.composite
def well_formed_urls(draw: st.DrawFn) -> str:
    labels = draw(st.lists(st.one_of(_LABEL, _UNICODE_LABEL), min_size=1, max_size=4))
    host = ".".join([*labels, "test"]) + draw(st.sampled_from(["", "."]))
    host = draw(st.sampled_from([host, "192.168.1.1", "[2001:db8::1]", "3232235777", "127.1"]))
    scheme = draw(st.sampled_from(["http://", "https://", "HTTP://", "", "//"]))
    port = draw(st.sampled_from(["", ":80", ":443", ":8080"]))
    path = "/" + "/".join(draw(st.lists(_SEGMENT, max_size=4)))
    query = draw(st.sampled_from(["", "?", "?q=a+b&x=%2B", "?u=http%3A%2F%2Fbad.test%2F"]))
    return scheme + host + port + path + query


@settings(max_examples=400)
@given(well_formed_urls())
def test_normalising_the_canonical_url_again_changes_nothing(text: str) -> None:
    first = normalise_url(text)
    again = normalise_url(first.url())
    assert again.url() == first.url()
    assert (again.host, again.host_kind, again.path, again.query) == (
        first.host,
        first.host_kind,
        first.path,
        first.query,
    )
    assert again.match_key == first.match_key


# The fast path for already-canonical URLs must agree with the careful path exactly.
from hypothesis import given as _given  # noqa: E402
from hypothesis import settings as _settings  # noqa: E402
from hypothesis import strategies as _st  # noqa: E402

from filters import urls as _urls  # noqa: E402

_PLAIN_CHARS = "abcxyz019-._~!$&'()*+,;=:@/?%ABC"


@_settings(max_examples=500, deadline=None)
@_given(
    scheme=_st.sampled_from(["http", "https"]),
    host=_st.from_regex(r"[a-z0-9-]{1,12}(\.[a-z0-9-]{1,12}){1,3}", fullmatch=True),
    tail=_st.text(alphabet=_PLAIN_CHARS, max_size=40),
)
def test_plain_fast_path_agrees_with_full_parse(scheme: str, host: str, tail: str) -> None:
    raw = f"{scheme}://{host}/{tail}"
    fast = _urls._plain_url(raw)
    if fast is None:
        return
    assert fast == _urls._normalise_url(raw)


@settings(max_examples=600, deadline=None)
@given(st.one_of(well_formed_urls(), _URLISH.map(lambda s: "http://" + s), _URLISH))
def test_canonical_url_is_the_normalised_url(text: str) -> None:
    assert _urls.canonical_url(text) == normalise_url(text).url()


@settings(max_examples=800, deadline=None)
@given(
    scheme=st.sampled_from(["http", "https"]),
    host=st.one_of(
        st.from_regex(r"[a-z0-9_-]{1,12}(\.[a-z0-9_-]{1,12}){0,3}", fullmatch=True),
        st.sampled_from(["localhost", "a_b.test", "x" * 64 + ".test", "www.fine.example"]),
    ),
    rest=st.one_of(
        st.just(""),
        st.text(alphabet=_PLAIN_CHARS + "#\\ \t", max_size=40).map(lambda s: "/" + s),
        st.sampled_from(["/?", "/a?", "/a/./b", "/a//b", "/.", "/a?b?", "/%41?x"]),
    ),
)
def test_canonical_url_of_a_known_host_is_the_canonical_url(
    scheme: str, host: str, rest: str
) -> None:
    """The helper's per-line canonical URL, read past a host `answerable_host` accepted, is
    `canonical_url` of the whole line."""
    from filters.hostanswers import answerable_host

    raw = f"{scheme}://{host}{rest}"
    if answerable_host(raw) != host:
        return
    assert _urls.canonical_url_of(raw, host) == _urls.canonical_url(raw)
