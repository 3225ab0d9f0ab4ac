"""The one policy reloader, for the watcher as for the gateway: a refused change is logged,
counted and shown on health with its file:line. It is IT's warning, not a safeguarding event."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from filters.live import LivePolicy
from monitor import metrics
from monitor.policyreload import PolicyReloader

POLICY_DIR = Path(__file__).parents[1] / "data" / "policy"


def test_a_refused_change_is_logged_counted_and_shown_on_health(tmp_path: Path) -> None:
    shutil.copytree(POLICY_DIR, tmp_path / "policy")
    live = LivePolicy.load(tmp_path / "policy" / "policy.yaml")
    status_file = tmp_path / "status.json"
    reloader = PolicyReloader(live, status_file=str(status_file))
    before = metrics.POLICY_RELOAD_FAILURES._value.get()
    with (tmp_path / "policy" / "block.domains").open("a") as handle:
        handle.write("bad domain here\n")
    result = reloader.reload_now()
    assert result.failed and live.current.version == result.version
    assert metrics.POLICY_RELOAD_FAILURES._value.get() == before + 1
    status = reloader.status()
    assert status["reload_failures"] == 1
    assert status["errors"] and "block.domains:8" in status["errors"][0]
    assert json.loads(status_file.read_text())["errors"] == status["errors"]
    # A good change clears the warning.
    (tmp_path / "policy" / "block.domains").write_text("extremist.test\n")
    assert reloader.reload_now().changed and reloader.status()["errors"] == []
