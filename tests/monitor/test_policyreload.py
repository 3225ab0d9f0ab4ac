"""The one policy reloader, for the watcher: a refused change is recorded as for the gateway."""

from __future__ import annotations

import shutil
from pathlib import Path

from filters.live import LivePolicy
from monitor import metrics
from monitor.events import FlaggedEvent, Source
from monitor.policyreload import RELOAD_RULE, PolicyReloader

POLICY_DIR = Path(__file__).parents[1] / "data" / "policy"


def test_a_refused_change_is_logged_counted_and_recorded_for_the_watcher(tmp_path: Path) -> None:
    shutil.copytree(POLICY_DIR, tmp_path / "policy")
    live = LivePolicy.load(tmp_path / "policy" / "policy.yaml")
    events: list[FlaggedEvent] = []
    reloader = PolicyReloader(live, events.append, source=Source.BRAND_WATCH)
    before = metrics.POLICY_RELOAD_FAILURES._value.get()
    with (tmp_path / "policy" / "block.domains").open("a") as handle:
        handle.write("bad domain here\n")
    result = reloader.reload_now()
    assert result.failed and live.current.version == result.version
    [event] = events
    assert (event.source, event.kind, event.rule) == ("brand-watch", "policy", RELOAD_RULE)
    assert metrics.POLICY_RELOAD_FAILURES._value.get() == before + 1
    assert reloader.status()["errors"] and "block.domains:8" in reloader.status()["errors"][0]
