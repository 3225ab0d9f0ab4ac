"""Bad input becomes safe rows (no database needed)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from monitor.store.rows import LIMITS, event_row, row_from_json, row_to_json, safe_text


def test_64kb_url_is_cut_to_its_column_with_a_marker(make_event: Any) -> None:
    row = event_row(make_event(url="http://bad.test/" + "a" * 65536))
    assert len(row["url"]) == LIMITS["url"]
    assert row["url"].startswith("http://bad.test/aaa")
    assert row["url"].endswith("…[truncated, 65552 chars]")


def test_control_characters_and_nul_become_visible_escapes() -> None:
    assert safe_text("a\x00b\x1bc\x7fd\x85e\tf", 100) == "a\\x00b\\x1bc\\x7fd\\x85e\\x09f"


def test_lone_surrogates_and_invalid_utf8_never_raise() -> None:
    undecodable = b"caf\xe9 \xff".decode("utf-8", "surrogateescape")
    text = safe_text(undecodable, 100)
    assert text == "caf\\udce9 \\udcff"
    text.encode("utf-8")  # valid UTF-8 now
    assert safe_text(b"q=\xff\xfe", 100) == "q=\\xff\\xfe"


def test_odd_types_are_coerced(make_event: Any) -> None:
    row = event_row(make_event(severity="high", when="yesterday", user=12345))  # type: ignore[arg-type]
    assert row["severity"] == 0
    assert row["user_name"] == "12345"
    assert isinstance(row["first_seen"], datetime)
    assert row["first_seen"].tzinfo is not None
    assert event_row(make_event(severity=99))["severity"] == 4


def test_spool_form_round_trips(make_event: Any) -> None:
    row = event_row(make_event(search_terms="q=\x00"))
    assert row_from_json(row_to_json(row), "elsewhere") == row
    spooled_before_schools = row_to_json(row)
    del spooled_before_schools["school"]
    assert row_from_json(spooled_before_schools, "northfield")["school"] == "northfield"


def test_fold_key_is_the_same_for_repeats_and_differs_per_user(make_event: Any) -> None:
    a = event_row(make_event(url="http://www.bad.test/a"))
    b = event_row(make_event(url="http://www.bad.test/b"))
    c = event_row(make_event(user="pupil.b"))
    assert a["fold_key"] == b["fold_key"] != c["fold_key"]
