"""`check --stdin` in process: answers from the policy's kept per-host answers are the answers a
full `decide()` gives, in both formats; batched reading answers each line as it would alone."""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from filters.policy import Policy
from monitor.commands import answerlines
from monitor.commands.check import Checker

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "tests" / "data" / "policy"
HOSTS = [
    "extremist.test", "www.extremist.test", "chatter.test", "watched.test", "fine.example",
    "www.fine.example", "archive-study.test", "study-resource.test", "doh-resolver.test",
    "mixed.test", "forum.test", "vpn-like.test", "xn--bcher-kva.test", "www.google.com",
]
TAILS = ["", "/", "/a/b", "/a?id=1", "/search?q=zorblax+front", "/r?u=http://extremist.test/",
         "/x?y=%41", "/a/../b", "/#frag?http://extremist.test/", "/lesson", "/bad"]
WHO = [("-", "10.0.0.1"), ("teacher1", "10.0.0.1"), ("-", "10.13.0.5"), ("pupil1", "192.0.2.9")]


def _policy(folder: Path, *, expressions: bool) -> Path:
    shutil.copytree(POLICY, folder, dirs_exist_ok=True)
    if not expressions:  # any expression makes every path matter: no host-only answers
        text = (folder / "policy.yaml").read_text()
        text = text.replace("  - {file: block.expressions, category: extremism}\n", "")
        (folder / "policy.yaml").write_text(text)
    return folder / "policy.yaml"


def _args(fmt: str, group: str | None = None, user: str | None = None) -> argparse.Namespace:
    return argparse.Namespace(
        user=user, client=None, group=group, format=fmt,
        block_url="http://127.0.0.1:8081/blocked",
    )


def _lines() -> Iterator[tuple[str, str, str]]:
    for host in HOSTS:
        for tail in TAILS:
            for user, client in WHO:
                for scheme in ("http://", "https://"):
                    yield f"{scheme}{host}{tail}", user, client


@pytest.mark.parametrize("expressions", [False, True])
@pytest.mark.parametrize("fmt", ["squid", "json"])
@pytest.mark.parametrize(
    ("group", "when"),
    [(None, None), ("year13", "2026-11-24T10:00:00+00:00"), ("staff", None), ("nobody", None)],
)
def test_kept_answers_are_full_answers(
    tmp_path: Path, expressions: bool, fmt: str, group: str | None, when: str | None
) -> None:
    path = _policy(tmp_path, expressions=expressions)
    moment = datetime.fromisoformat(when) if when else None
    fast = Checker(Policy.load(path), _args(fmt, group), moment)
    full = Checker(Policy.load(path), _args(fmt, group), moment)
    for _ in range(2):  # the second round is answered from what the first kept
        for url, user, client in _lines():
            line = f"{url} {client}/- {user} GET"
            who = {"user": None if user == "-" else user, "client": client}
            full.policy._answers.clear()
            assert fast.answer_line(line) == full.decided(url, **who), line
            assert fast.answer_line("7 " + line) == "7 " + full.decided(url, **who)
    if not expressions:
        assert len(fast.policy._answers) >= 5  # kept answers really were used


@pytest.mark.parametrize("fmt", ["squid", "json"])
@pytest.mark.parametrize("group", [None, "staff", "year13"])
def test_hosts_answered_from_the_line_alone_are_the_full_answers(
    tmp_path: Path, group: str | None, fmt: str
) -> None:
    """Hosts whose answer no user, address or time can change are answered from the line's
    text alone; every later line of them, for every user and address, is what `decide()` says."""
    path = _policy(tmp_path, expressions=False)
    fast = Checker(Policy.load(path), _args(fmt, group), None)
    full = Checker(Policy.load(path), _args(fmt, group), None)
    for url, user, client in _lines():
        fast.answer_line(f"{url} {client}/- {user} GET")
    # The policy's groups go by user and network: with no fixed group, a kept answer may
    # belong to one group only, so only hosts no rule touches are answered from the line,
    # and only in the Squid format (a JSON answer names the group).
    if group is not None or fmt == "squid":
        assert "fine.example" in fast._ready
    if group is None:
        assert all(not full.policy.categorise(f"http://{h}/") for h in fast._ready)
        assert fmt == "squid" or not fast._ready
    if fmt == "squid" and group is not None:
        # A blocked host too: its redirect is kept up to the URL, which each line puts in.
        assert fast._ready["doh-resolver.test"] == (
            "OK status=302 url=http://127.0.0.1:8081/blocked?category=circumvention"
            "&rule=domain%3Adoh-resolver.test&url=",
        )
        assert "extremist.test" not in fast._ready  # an exemption or a schedule may change it
    for url, user, client in _lines():
        who = {"user": None if user == "-" else user, "client": client}
        full.policy._answers.clear()
        line = f"{url} {client}/- {user} GET"
        assert fast.answer_line(line) == full.decided(url, **who), line


def test_a_host_kept_for_one_group_is_answered_for_each_group(tmp_path: Path) -> None:
    """A host nothing time-bound touches is kept per group: lines from the pupils' and the staff
    network alternate, and each gets its own group's answer (block, then allow), not the answer
    kept for the group that asked first."""
    (tmp_path / "games.domains").write_text("games.example\n")
    (tmp_path / "policy.yaml").write_text(
        "school: Fictional Example Academy\n"
        "categories:\n  games: {severity: low, action: block}\n"
        "lists:\n  - {file: games.domains, category: games}\n"
        "groups:\n  pupils: {}\n"
        "  staff: {networks: [10.1.0.0/16], actions: {games: allow}}\n"
        "default_group: pupils\n"
    )
    fast = Checker(Policy.load(tmp_path / "policy.yaml"), _args("squid"), None)
    full = Checker(Policy.load(tmp_path / "policy.yaml"), _args("squid"), None)
    answers = []
    for round_no in range(3):
        for client in ("10.0.0.7", "10.1.0.5"):
            url = f"https://games.example/round{round_no}"
            answers.append(fast.answer_line(f"{url} {client}/- - GET"))
            assert answers[-1] == full.decided(url, user=None, client=client)
    assert answers[0].startswith("OK status=302") and answers[1] == "ERR"
    assert fast._heads  # kept per (host, group), as the second round was answered from it


def test_a_json_template_with_a_mark_in_another_field_falls_back(tmp_path: Path) -> None:
    checker = Checker(Policy.load(_policy(tmp_path, expressions=False)), _args("json"), None)
    kept = checker.policy.decide("http://fine.example/")
    odd = kept._replace(reason=answerlines.URL_MARK)  # the mark's quoted string twice
    assert answerlines.cut(odd) is None
    for path in ("x", "y", "z"):  # the first line before any template, then without one
        url = f"http://fine.example/{path}"
        assert checker._kept_json(odd, url, "fine.example", "pupils") == checker._json(
            odd.for_url(url), url
        )
    assert checker._templates[("fine.example", "pupils")][1] is answerlines.NO_TEMPLATE


def _stream(checker: Checker, data: bytes, chunks: list[int]) -> str:
    """`Checker.stream` over a pipe fed in the given chunk sizes (Squid handing over lines in
    pieces)."""
    read, write = os.pipe()
    out = io.StringIO()

    def feed() -> None:
        at = 0
        for size in [*chunks, len(data)]:
            os.write(write, data[at : at + size])
            at += size
        os.close(write)

    writer = threading.Thread(target=feed)
    writer.start()
    with os.fdopen(read, "rb") as source:
        checker.stream(source, out)
    writer.join()
    return out.getvalue()


@settings(max_examples=60, deadline=None)
@given(
    lines=st.lists(
        st.one_of(
            st.sampled_from([b"http://extremist.test/a 10.0.0.1/- - GET", b"3 http://fine.example/",
                             b"", b"\r", b"12 http://chatter.test/x 10.13.0.5/- bob GET\r"]),
            st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")),
            st.binary(max_size=20).map(lambda b: b"http://fine.example/" + b.replace(b"\n", b"")),
        ),
        min_size=1, max_size=12,
    ),
    chunks=st.lists(st.integers(min_value=1, max_value=30), max_size=6),
    fmt=st.sampled_from(["squid", "json"]),
)
def test_batched_reading_answers_each_line_as_alone(
    lines: list[bytes], chunks: list[int], fmt: str, warm_policy: Policy
) -> None:
    checker = Checker(warm_policy, _args(fmt), datetime(2026, 11, 24, 10, tzinfo=UTC))
    data = b"\n".join(lines) + b"\n"
    expected = "".join(checker.answer_line(answerlines.line_text(line)) + "\n" for line in lines)
    assert _stream(checker, data, chunks) == expected


@pytest.fixture(scope="module")
def warm_policy(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    return Policy.load(_policy(tmp_path_factory.mktemp("stream"), expressions=False))


def test_quote_is_urllib_quote() -> None:
    every_ascii = "".join(chr(code) for code in range(128))
    for text in (
        every_ascii, "https://fine.example/a b?c=d&e=%2F#f", "bücher/ü?x=ß", "",
        "https://www.fine.example/a/b-c_d.e~f?id=1&x=y:z", "domain:extremist.test", "a+b",
    ):
        assert answerlines.quote_part(text) == quote(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("aZ09_.~/:?=&-+% #é\x00"), max_size=30) | st.text())
def test_quote_is_urllib_quote_for_any_text(text: str) -> None:
    assert answerlines.quote_part(text) == quote(text)


@settings(max_examples=300, deadline=None)
@given(
    data=st.dictionaries(
        st.sampled_from(["url", "reason", "rule", "source", "host"]),
        st.one_of(st.none(), st.booleans(), st.text(), st.lists(st.text(), max_size=3)),
    )
)
def test_an_answer_is_written_as_the_standard_encoder_writes_it(data: dict[str, object]) -> None:
    """orjson writes the answer lines: byte for byte the standard library's compact, unescaped
    encoding, or, for text with a lone surrogate (which orjson refuses), the escaped one."""
    line = answerlines.encode(data)
    unescaped = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    if answerlines.unwritable(unescaped):
        assert line == json.dumps(data, separators=(",", ":")) and line.isascii()
    else:
        assert line == unescaped


def test_a_url_of_undecodable_bytes_from_the_command_line_is_answered(tmp_path: Path) -> None:
    checker = Checker(Policy.load(_policy(tmp_path, expressions=False)), _args("json"), None)
    url = "http://fine.example/\udcff"  # how sys.argv carries a byte that is not UTF-8
    for _ in range(2):  # the second time the host is known
        line = checker.answer(url)
        assert '"url":"http://fine.example/\\udcff"' in line
        line.encode()  # it can be written out
