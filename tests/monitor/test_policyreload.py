"""The one policy reloader, for the watcher as for the gateway: a refused change is logged,
counted and shown on health with its file:line. It is IT's warning, not a safeguarding event."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
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


async def test_an_edited_included_list_reloads_the_policy(tmp_path: Path) -> None:
    # Real files and the reloader's own timer: a list reached only through e2guardian's
    # `.Include<...>` is watched like the files the policy names (issue 13).
    folder = tmp_path / "policy"
    shutil.copytree(POLICY_DIR, folder)
    included = folder / "e2g" / "terms.phrases"
    included.parent.mkdir()
    included.write_text("# included by search.phrases\nzorblax front\n", encoding="utf-8")
    weighted = folder / "e2g" / "page.weighted"
    weighted.write_text("<history lesson><-30>\n", encoding="utf-8")
    with (folder / "search.phrases").open("a", encoding="utf-8") as handle:
        handle.write(".Include<e2g/terms.phrases>\n")
    with (folder / "page.weighted").open("a", encoding="utf-8") as handle:
        handle.write(".Include<e2g/page.weighted>\n")
    live = LivePolicy.load(folder / "policy.yaml")
    search = "http://www.google.com/search?q=quorvex+legion"
    page = b"<p>the quorvex legion wants you</p>"
    assert live.current.decide(search).action.value == "allow"
    first = live.current.version

    reloader = PolicyReloader(live)
    reloader.start(0.05)
    try:
        included.write_text("# included by search.phrases\nzorblax front\nquorvex legion\n")
        weighted.write_text("<history lesson><-30>\n<quorvex legion><60>\n")
        stamp = time.time() + 2  # past the file system's time-stamp granularity
        for path in (included, weighted):
            os.utime(path, (stamp, stamp))
        deadline = time.monotonic() + 20
        while live.current.version == first and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        reloader.stop()

    assert live.current.version != first, "editing an included list did not reload the policy"
    decision = live.current.decide(search)
    assert (decision.action.value, decision.category) == ("flag", "proscribed")
    assert decision.source.endswith("e2g/terms.phrases:3")
    scored, score = live.current.score_page(page, "text/html", url="http://quorvex.test/")
    assert score.score == 60 and scored.action.value == "flag"
    assert score.hits[0][0].source.endswith("e2g/page.weighted:2")
    assert reloader.errors == [] and reloader.failures == 0
