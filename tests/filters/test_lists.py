"""Reading list files: formats, file:line on every entry and every problem, hostile content."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from filters.lists import guess_format, parse_weighted, read_list


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_domains_with_comments_wildcards_and_lines(tmp_path: Path) -> None:
    listed = read_list(
        write(tmp_path, "x.domains", "# head\n\nBad.Test.\n*.wild.test # why\n.dot.test\n")
    )
    assert [(e.value, e.line) for e in listed.entries] == [
        ("bad.test", 3),
        ("wild.test", 4),
        ("dot.test", 5),
    ]
    assert listed.problems == []


def test_domains_idn_and_ip_entries(tmp_path: Path) -> None:
    listed = read_list(write(tmp_path, "x.domains", "bücher.test\n192.0.2.1\n[2001:db8::1]\n"))
    assert [e.value for e in listed.entries] == ["xn--bcher-kva.test", "192.0.2.1", "2001:db8::1"]


def test_domain_problems_name_the_line(tmp_path: Path) -> None:
    listed = read_list(
        write(tmp_path, "x.domains", "ok.test\nbad..test\nhas/path.test/x\n" + "a" * 5000 + "\n")
    )
    assert [p.line for p in listed.problems] == [2, 3, 4]
    assert str(listed.problems[1]).startswith(str(tmp_path / "x.domains") + ":3: ")
    assert [e.value for e in listed.entries] == ["ok.test"]


def test_hosts_file(tmp_path: Path) -> None:
    text = "127.0.0.1 localhost\n0.0.0.0 a.test b.test # two\n::1 localhost\nnoaddress\n"
    listed = read_list(write(tmp_path, "ads.hosts", text))
    assert [(e.value, e.line) for e in listed.entries] == [("a.test", 2), ("b.test", 2)]
    assert [p.line for p in listed.problems] == [4]


def test_url_prefixes_drop_scheme_and_normalise(tmp_path: Path) -> None:
    listed = read_list(
        write(tmp_path, "urls", "http://Forum.TEST/Threads/12\nforum.test/%74hreads/13\n")
    )
    assert [e.value for e in listed.entries] == ["forum.test/threads/12", "forum.test/threads/13"]


def test_expressions_must_be_re2(tmp_path: Path) -> None:
    listed = read_list(write(tmp_path, "expressions", "ok(a|b)\n(?<=x)y\n(a)\\1\n"))
    assert [e.line for e in listed.entries] == [1]
    assert [p.line for p in listed.problems] == [2, 3]
    assert "RE2" in listed.problems[0].reason


def test_weighted_lines(tmp_path: Path) -> None:
    assert parse_weighted("<zorblax><40>") == (("zorblax",), 40)
    assert parse_weighted("<a b>,<c><-5>") == (("a b", "c"), -5)
    assert parse_weighted("<no weight>") is None
    listed = read_list(write(tmp_path, "x.weighted", "<a><1>\nnonsense\n"))
    assert [p.line for p in listed.problems] == [2]


def test_yaml_list_lines_and_overrides(tmp_path: Path) -> None:
    text = (
        "category: extremism\n"
        "entries:\n"
        "  - plain.test\n"
        "  - {domain: other.test, category: circumvention, severity: low, note: proxy}\n"
        "  - {url: site.test/path}\n"
        "  - {regex: 'x+y'}\n"
        "  - {phrase: glarvian brigade}\n"
        "  - {weighted: a + b, weight: 20}\n"
        "  - {domain: a.test, url: b.test/x}\n"
        "  - [not, a, mapping]\n"
    )
    listed = read_list(write(tmp_path, "l.yaml", text))
    assert [(e.kind, e.value, e.line) for e in listed.entries] == [
        ("domain", "plain.test", 3),
        ("domain", "other.test", 4),
        ("url", "site.test/path", 5),
        ("regex", "x+y", 6),
        ("phrase", "glarvian brigade", 7),
        ("weighted", "a + b", 8),
    ]
    # The file's own category is its default, applied where the policy names none for the list.
    assert listed.category == "extremism" and listed.entries[0].category is None
    assert listed.entries[1].category == "circumvention"
    assert listed.entries[5].words == ("a", "b") and listed.entries[5].weight == 20
    assert [p.line for p in listed.problems] == [9, 10]


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    listed = read_list(write(tmp_path, "l.yaml", "entries:\n  - a.test\n  - {broken\n"))
    assert listed.problems and listed.problems[0].line >= 3


def test_unreadable_and_binary_files(tmp_path: Path) -> None:
    missing = read_list(tmp_path / "absent.domains")
    assert missing.problems[0].line == 0 and "cannot read" in missing.problems[0].reason
    binary = read_list(write(tmp_path, "b.domains", b"\xff\xfe\x00junk\nok.test\n"))
    assert [e.value for e in binary.entries] == ["ok.test"]


def test_guess_format() -> None:
    assert guess_format(Path("ut1/agressif/domains")) == "domains"
    assert guess_format(Path("x/urls")) == "urls"
    assert guess_format(Path("a.hosts")) == "hosts"
    assert guess_format(Path("a.yml")) == "yaml"
    assert guess_format(Path("a.regex")) == "expressions"


@settings(max_examples=100, deadline=None)
@given(
    text=st.text(max_size=500),
    fmt=st.sampled_from(["domains", "hosts", "urls", "expressions", "phrases", "weighted", "yaml"]),
)
def test_any_content_never_raises(tmp_path_factory: object, text: str, fmt: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "list"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        listed = read_list(path, fmt)
        assert all(p.line >= 0 for p in listed.problems)
