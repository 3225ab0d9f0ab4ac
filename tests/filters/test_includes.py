"""Lists from the field (issue 13 point 3): e2guardian `.Include<...>` in phrase lists, bounded
and confined to the policy folder, byte-order marks, dnsmasq and adblock host lines, and
`lists import e2guardian`. Real input: small copies of Debian's e2guardian gambling lists
(tests/data/e2guardian/README.md); the rest is fictional."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from filters.includes import MAX_DEPTH, MAX_FILES
from filters.listimport import import_list
from filters.lists import read_list

E2G = Path(__file__).parent.parent / "data" / "e2guardian"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A policy folder holding the copied e2guardian lists."""
    shutil.copytree(E2G / "phraselists", tmp_path / "phraselists")
    return tmp_path


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def problems(listed: object) -> list[str]:
    return [str(p) for p in listed.problems]  # type: ignore[attr-defined]


# -- .Include -------------------------------------------------------------------------------------


def test_weighted_list_of_includes_reads_the_included_files(folder: Path) -> None:
    top = write(
        folder / "weightedphraselist",
        "# top\n.Include<phraselists/gambling/weighted>\n<zorblax front><40>\n",
    )
    listed = read_list(top, "weighted", display="weightedphraselist", root=folder)
    assert problems(listed) == []
    assert len(listed.entries) == 39  # 38 from the copy, one of our own
    first = listed.entries[0]
    assert (first.words, first.weight, first.line) == (("bet", "poker"), 40, 7)
    assert first.file is not None and first.file.endswith("phraselists/gambling/weighted")
    own = listed.entries[-1]
    assert (own.value, own.line, own.file) == ("zorblax front", 3, None)


def test_banned_list_of_includes_gives_phrases(folder: Path) -> None:
    top = write(
        folder / "bannedphraselist",
        ".Include<phraselists/gambling/banned> #BETA#\n<zorblax>,<front>\n< glorp >\n",
    )
    listed = read_list(top, "phrases", root=folder)
    assert problems(listed) == []
    values = [e.value for e in listed.entries]
    assert values[:3] == ["green card lottery", "greencard lottery", "kasino"]
    assert values[-2:] == ["zorblax front", "glorp"]
    assert "<" not in "".join(values) and ".Include" not in "".join(values)


def test_problems_in_an_included_file_name_that_file_and_line(folder: Path) -> None:
    write(folder / "lists" / "zorblax.weighted", "<zorblax><40>\n<zorblax front 30>\n")
    top = write(folder / "page.weighted", ".Include<lists/zorblax.weighted>\n")
    listed = read_list(top, "weighted", root=folder)
    assert len(problems(listed)) == 1
    assert problems(listed)[0].split(": ")[0].endswith("lists/zorblax.weighted:2")
    assert [e.value for e in listed.entries] == ["zorblax"]


def test_the_shipped_absolute_includes_are_outside_the_policy_folder(folder: Path) -> None:
    # Debian's own weightedphraselist names /etc/e2guardian/lists/...: outside this folder.
    top = write(
        folder / "weightedphraselist",
        "\n.Include</etc/e2guardian/lists/phraselists/gambling/weighted>\n",
    )
    listed = read_list(top, "weighted", display="weightedphraselist", root=folder)
    assert len(listed.problems) == 1
    assert str(listed.problems[0]).startswith("weightedphraselist:2: .Include</etc/e2guardian")
    assert "outside the policy folder" in str(listed.problems[0])
    assert listed.entries == []


def test_absolute_include_inside_the_folder_is_allowed(folder: Path) -> None:
    inside = folder / "phraselists" / "gambling" / "banned"
    top = write(folder / "banned.phrases", f".Include<{inside}>\n")
    assert len(read_list(top, "phrases", root=folder).entries) == 10


def test_dot_dot_and_symlinks_out_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "policy"
    write(tmp_path / "secret.weighted", "<glorp><5>\n")
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "link.weighted").symlink_to(tmp_path / "secret.weighted")
    top = write(
        root / "page.weighted",
        ".Include<../secret.weighted>\n.Include<sub/link.weighted>\n.Include<sub/../../secret.weighted>\n",
    )
    listed = read_list(top, "weighted", display="page.weighted", root=root)
    assert [p.line for p in listed.problems] == [1, 2, 3]
    assert all("outside the policy folder" in p.reason for p in listed.problems)
    assert listed.entries == []


def test_missing_empty_and_looping_includes(folder: Path) -> None:
    write(folder / "a.weighted", "<glorp><5>\n.Include<b.weighted>\n")
    write(folder / "b.weighted", ".Include<a.weighted>\n<vex><3>\n")
    top = write(
        folder / "a.weighted", "<glorp><5>\n.Include<b.weighted>\n.Include<>\n.Include<nope>\n"
    )
    listed = read_list(top, "weighted", display="a.weighted", root=folder)
    reasons = problems(listed)
    assert len(reasons) == 3
    assert reasons[0].endswith(
        "b.weighted:1: .Include<a.weighted> is already included in this list (an include loop?)"
    )
    assert reasons[1].startswith("a.weighted:3: .Include<> names no file")
    assert reasons[2].startswith("a.weighted:4: .Include<nope>: no such file")
    assert [e.value for e in listed.entries] == ["glorp", "vex"]


def test_include_depth_is_bounded(folder: Path) -> None:
    for level in range(MAX_DEPTH + 2):
        write(folder / f"l{level}.weighted", f"<w{level}><1>\n.Include<l{level + 1}.weighted>\n")
    write(folder / f"l{MAX_DEPTH + 2}.weighted", "<deepest><1>\n")
    listed = read_list(folder / "l0.weighted", "weighted", root=folder)
    assert len(listed.entries) == MAX_DEPTH + 1
    assert len(listed.problems) == 1
    assert f"l{MAX_DEPTH}.weighted:2" in str(listed.problems[0])
    assert "deep" in listed.problems[0].reason


def test_included_file_count_is_bounded(folder: Path) -> None:
    lines = []
    for n in range(MAX_FILES + 5):
        write(folder / "many" / f"{n}.weighted", f"<w{n}><1>\n")
        lines.append(f".Include<many/{n}.weighted>")
    top = write(folder / "top.weighted", "\n".join(lines) + "\n")
    listed = read_list(top, "weighted", root=folder)
    assert len(listed.entries) == MAX_FILES
    assert [p.line for p in listed.problems] == list(range(MAX_FILES + 1, MAX_FILES + 6))


def test_policy_reports_included_entries_by_their_own_file(folder: Path) -> None:
    from filters.policy import Policy

    write(folder / "phraselists" / "zorblax" / "weighted", "# fictional\n<zorblax front><60>\n")
    write(folder / "page.weighted", ".Include<phraselists/zorblax/weighted>\n")
    write(
        folder / "policy.yaml",
        "categories: {extremist-language: {action: flag}}\n"
        "page_phrases:\n  - {file: page.weighted, category: extremist-language}\n"
        "page_thresholds: {flag: 50, block: 100}\n",
    )
    assert Policy.validate(folder / "policy.yaml") == []
    policy = Policy.load(folder / "policy.yaml")
    decision, _ = policy.score_page("<p>Zorblax Front rally</p>", "text/html", url="http://x.test/")
    assert decision.source is not None
    assert decision.source.endswith("phraselists/zorblax/weighted:2")


# -- byte-order marks and host formats ------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "text"),
    [
        ("domains", "bad.test\n"),
        ("weighted", "<glorp><5>\n"),
        ("phrases", "zorblax front\n"),
        ("urls", "bad.test/x\n"),
    ],
)
def test_a_byte_order_mark_is_ignored(tmp_path: Path, fmt: str, text: str) -> None:
    listed = read_list(write(tmp_path / f"x.{fmt}", b"\xef\xbb\xbf" + text.encode()), fmt)
    assert problems(listed) == []
    assert len(listed.entries) == 1 and not listed.entries[0].value.startswith("\ufeff")


def test_dnsmasq_lines_in_a_domains_list(tmp_path: Path) -> None:
    text = (
        "# dnsmasq\naddress=/bad.test/0.0.0.0\naddress=/a.test/b.test/::\nserver=/c.test/\n"
        "local=/d.test/\naddress=/e.test/\nplain.test\naddress=bad\nserver=//1.2.3.4\n"
    )
    listed = read_list(write(tmp_path / "dns.conf", text), "dnsmasq")
    assert [e.value for e in listed.entries] == [
        "bad.test",
        "a.test",
        "b.test",
        "c.test",
        "d.test",
        "e.test",
        "plain.test",
    ]
    assert [p.line for p in listed.problems] == [8, 9]


def test_adblock_lines_in_a_domains_list(tmp_path: Path) -> None:
    text = (
        "[Adblock Plus 2.0]\n! Title: fictional\n||bad.test^\n||ads.bad.test^$important\n"
        "||x.test^$third-party\n||y.test/path^\n/banner/*\nplain.test\n"
    )
    listed = read_list(write(tmp_path / "filters.txt", text))  # detected in a .txt list
    assert [e.value for e in listed.entries] == ["bad.test", "ads.bad.test", "plain.test"]
    assert [p.line for p in listed.problems] == [5, 6, 7]
    assert "less than a whole site" in listed.problems[0].reason


def test_declared_host_formats_block_in_a_policy(tmp_path: Path) -> None:
    from filters.policy import Policy

    write(tmp_path / "dns.conf", "address=/bad.test/0.0.0.0\n")
    write(tmp_path / "ads.list", "||other.test^\n")
    write(
        tmp_path / "policy.yaml",
        "categories: {extremism: {action: block}}\n"
        "lists:\n  - {file: dns.conf, format: dnsmasq, category: extremism}\n"
        "  - {file: ads.list, format: adblock, category: extremism}\n",
    )
    policy = Policy.load(tmp_path / "policy.yaml")
    assert policy.decide("http://www.bad.test/").action.value == "block"
    assert policy.decide("http://other.test/").action.value == "block"
    assert policy.decide("http://fine.test/").action.value == "allow"


# -- lists import e2guardian ----------------------------------------------------------------------


def test_import_e2guardian_flattens_includes_and_skips_bad_lines(folder: Path) -> None:
    write(
        folder / "phraselists" / "zorblax" / "weighted",
        "<zorblax><40>\n<zorblax 10>\n<a>,<b><-5>\n",
    )
    top = write(
        folder / "weightedphraselist",
        ".Include<phraselists/gambling/weighted>\n.Include<phraselists/zorblax/weighted>\n",
    )
    report = import_list("e2guardian", str(top), str(folder / "out"))
    out = folder / "out" / "weightedphraselist.weighted"
    lines = out.read_text().splitlines()
    assert lines[2] == "# Licence: GPL-2.0"
    assert "< bet >,<poker><40>" not in lines and "<bet>,<poker><40>" in lines
    assert lines[-2:] == ["<zorblax><40>", "<a>,<b><-5>"]
    assert any("zorblax/weighted:2" in line and "skipped" in line for line in report)
    assert read_list(out, "weighted").problems == []


def test_import_e2guardian_banned_list(folder: Path) -> None:
    top = write(folder / "bannedphraselist", ".Include<phraselists/gambling/banned>\n<bad\n")
    report = import_list("e2guardian", str(top), str(folder / "out"))
    out = folder / "out" / "bannedphraselist.phrases"
    assert "green card lottery" in out.read_text().splitlines()
    assert any("bannedphraselist:2" in line for line in report)
