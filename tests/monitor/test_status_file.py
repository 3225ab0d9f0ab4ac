"""What a part's status file says for the console's health page: a heartbeat (`written`,
rewritten every few seconds), the last refused policy change kept after a good one, a clean
stop, and the event writer's queue, spool and write rate (a real writer on SQLite)."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from datetime import datetime
from pathlib import Path

import pytest

from filters.live import LivePolicy
from monitor import metrics, policyreload
from monitor.events import FlaggedEvent
from monitor.policyreload import PolicyReloader
from monitor.store.migrate import upgrade
from monitor.store.writer import EventWriter

POLICY_DIR = Path(__file__).parents[1] / "data" / "policy"


def _read(path: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads(path.read_text())
    return data


def test_the_last_refused_change_stays_after_a_good_one(tmp_path: Path) -> None:
    shutil.copytree(POLICY_DIR, tmp_path / "policy")
    live = LivePolicy.load(tmp_path / "policy" / "policy.yaml")
    status_file = tmp_path / "status.json"
    reloader = PolicyReloader(live, status_file=str(status_file))
    kept = live.current.version
    with (tmp_path / "policy" / "block.domains").open("a") as handle:
        handle.write("bad domain here\n")
    assert reloader.reload_now().failed
    refused = _read(status_file)["last_refused"]
    assert isinstance(refused, dict) and refused["kept_version"] == kept
    assert "block.domains:8" in refused["problems"][0]
    (tmp_path / "policy" / "block.domains").write_text("extremist.test\n")
    assert reloader.reload_now().changed
    status = _read(status_file)
    assert status["errors"] == [] and status["last_refused"] == refused
    assert status["policy_version"] != kept


async def test_the_status_file_is_rewritten_while_running_and_says_when_it_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(policyreload, "STATUS_EVERY", 0.05)
    live = LivePolicy.load(POLICY_DIR / "policy.yaml")
    status_file = tmp_path / "part" / "status.json"
    reloader = PolicyReloader(live, status_file=str(status_file), status_extra=lambda: {"x": 1})
    reloader.start(0)
    try:
        deadline = time.monotonic() + 10
        while not status_file.exists() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        first = _read(status_file)["written"]
        while _read(status_file)["written"] == first and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        status = _read(status_file)
        assert status["written"] != first, "the status file was not rewritten"
        assert status["stopped"] is None and status["x"] == 1
    finally:
        reloader.stop()
    reloader.stopped()
    stopped = _read(status_file)["stopped"]
    assert isinstance(stopped, str) and datetime.fromisoformat(stopped).tzinfo is not None
    assert not list(status_file.parent.glob(".status*")), "a temporary file was left behind"


def test_the_writer_report_gives_the_spool_and_the_write_rate(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    upgrade(url)
    writer = EventWriter(url, spool_dir=str(tmp_path / "spool"))
    writer.start()
    clock = [100.0]
    report = metrics.WriterReport(clock=lambda: clock[0])
    try:
        first = report(writer.stats)
        assert first["write_rate"] is None and first["database_up"] is True
        for n in range(6):
            writer.submit(
                FlaggedEvent(
                    source="gateway", kind="url", action="block", category="extremism",
                    severity=3, rule="domain:bad.test", url=f"http://bad{n % 3}.test/",
                    host=f"bad{n % 3}.test", user="pupil.a",
                )
            )  # fmt: skip
        assert writer.flush(10)
        clock[0] += 2.0
        second = report(writer.stats)
        assert second["written"] == 3 and second["folded"] == 3  # three sites, each twice
        assert second["write_rate"] == 3.0  # six stored in two seconds
        assert second["queue_depth"] == 0 and second["spool_records"] == 0
        assert second["dropped"] == 0 and second["rejected"] == 0
    finally:
        writer.close(10)


def test_the_console_reads_the_status_file_where_the_gateway_writes_it(tmp_path: Path) -> None:
    # A relative `gateway.status_file` is the config file's neighbour for the gateway; the
    # console used to look in <data_dir> (or relative to its working directory) instead.
    from monitor.commands.console import console_settings
    from monitor.commands.proxy import proxy_options
    from monitor.config import load_config

    config_file = tmp_path / "etc" / "prevent-monitor.yaml"
    config_file.parent.mkdir()
    config_file.write_text(
        f"data_dir: {tmp_path / 'data'}\npolicy: {{file: {POLICY_DIR / 'policy.yaml'}}}\n"
        "gateway: {status_file: run/gw.json}\n"
    )
    config = load_config(config_file)
    written = proxy_options(config)["gateway_status_file"]
    assert written == str(tmp_path / "etc" / "run" / "gw.json")
    assert console_settings(config).gateway_status_file == written
    assert proxy_options(config, instance=2)["gateway_status_file"].endswith("run/gw-2.json")
