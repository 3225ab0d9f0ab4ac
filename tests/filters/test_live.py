"""Hot reload: a good change swaps the policy whole; a bad change keeps the old one."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from filters.live import LivePolicy

DATA = Path(__file__).parent.parent / "data" / "policy"


def touch_later(path: Path, text: str) -> None:
    path.write_text(text)
    stamp = time.time() + 2  # mtime granularity: make the change visible
    os.utime(path, (stamp, stamp))


def test_reload_good_and_bad_changes(tmp_path: Path) -> None:
    folder = tmp_path / "policy"
    shutil.copytree(DATA, folder)
    live = LivePolicy.load(folder / "policy.yaml")
    first = live.current
    assert not live.files_changed()
    assert live.reload().changed is False

    touch_later(folder / "watch.domains", "watched.test\nnewly-watched.test\n")
    assert live.files_changed()
    result = live.reload()
    assert result.changed and not result.failed and live.current is not first
    assert live.current.decide("http://newly-watched.test/").action.value == "flag"

    good = live.current
    touch_later(folder / "block.domains", "ok.test\nbad..test\n")
    result = live.reload()
    assert result.failed and not result.changed
    assert live.current is good  # the previous good policy stays in force
    assert any("block.domains:2" in str(p) for p in result.problems)
    assert live.reload().changed is False  # reported once, not on every poll


def test_exemptions_file_appearing_later_is_picked_up(tmp_path: Path) -> None:
    folder = tmp_path / "policy"
    shutil.copytree(DATA, folder)
    (folder / "exemptions.yaml").unlink()
    live = LivePolicy.load(folder / "policy.yaml")
    assert live.current.decide("http://watched.test/").action.value == "flag"
    shutil.copy(DATA / "exemptions.yaml", folder / "exemptions.yaml")
    assert live.files_changed()
    assert live.reload().changed
    assert live.current.decide("http://watched.test/").action.value == "study"


def test_damaged_list_cache_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from filters import listcache
    from filters.policy import Policy

    cache = tmp_path / "cache"
    monkeypatch.setenv("PREVENT_MONITOR_CACHE_DIR", str(cache))
    folder = tmp_path / "policy"
    shutil.copytree(DATA, folder)
    first = Policy.load(folder / "policy.yaml")  # writes the cache
    files = list(cache.iterdir())
    assert files, "the domain lists were cached"
    for damage in (b"\xff" * 5, b"\x10\x00\x00\x00\x00\x00\x00\x00junk", b""):
        for cached in files:
            cached.write_bytes(damage)
        again = Policy.load(folder / "policy.yaml")
        assert again.decide("http://extremist.test/").blocks
        assert again.stats.domains == first.stats.domains
    assert listcache.CHUNK > 0


def test_a_list_included_two_deep_is_watched_and_hashed(tmp_path: Path) -> None:
    # search.phrases includes e2g/top.phrases, which includes deeper/terms.phrases: only that
    # last file changes, and the policy notices, reloads and takes a new version.
    folder = tmp_path / "policy"
    shutil.copytree(DATA, folder)
    deeper = folder / "e2g" / "deeper" / "terms.phrases"
    deeper.parent.mkdir(parents=True)
    deeper.write_text("zorblax front\n")
    (folder / "e2g" / "top.phrases").write_text(".Include<deeper/terms.phrases>\n")
    with (folder / "search.phrases").open("a") as handle:
        handle.write(".Include<e2g/top.phrases>\n")
    live = LivePolicy.load(folder / "policy.yaml")
    first = live.current.version
    search = "http://www.bing.com/search?q=quorvex+legion"
    assert live.current.decide(search).action.value == "allow"
    assert not live.files_changed()

    touch_later(deeper, "zorblax front\nquorvex legion\n")
    assert live.files_changed()
    result = live.reload()
    assert result.changed and not result.failed and result.version != first
    decision = live.current.decide(search)
    assert decision.action.value == "flag" and decision.source.endswith("deeper/terms.phrases:2")
    assert not live.files_changed()

    deeper.unlink()  # a file that disappears is a change too: refused, the old policy stays
    assert live.files_changed()
    refused = live.reload()
    assert refused.failed and any(".Include<deeper/terms.phrases>" in str(p)
                                  for p in refused.problems)
    assert live.current.decide(search).action.value == "flag"
