"""`prevent-monitor run` end to end: a real daemon with its gateway, watcher and console processes.

A request through the proxy gets the block page and the Prevent lead's mailbox (aiosmtpd) an
instant alert, a local feed yields a brand mention, the console's login page answers, and SIGTERM
ends every process within 10 seconds with no event lost.
"""

from __future__ import annotations

import email
import email.message
import email.policy
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from tests.localnet import free_port

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "tests" / "data" / "policy" / "policy.yaml"

pytestmark = pytest.mark.e2e

FEED = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <id>tag:google.com,2005:reader/user/0/state/com.google/alerts/1</id>
  <title>Google Alert - St Aidan's Academy</title>
  <link href="https://www.google.com/alerts/feeds/0/1" rel="self"></link>
  <updated>2026-11-23T08:00:00Z</updated>
  <entry>
    <id>tag:google.com,2013:googlealerts/feed:1</id>
    <title type="html">&lt;b&gt;St Aidan&#39;s Academy&lt;/b&gt; named on extremist forum</title>
    <link href="https://www.google.com/url?rct=j&amp;sa=t&amp;url=http://forum.extremist.test/t/1&amp;ct=ga&amp;cd=x&amp;usg=y"/>
    <published>2026-11-23T07:00:00Z</published>
    <updated>2026-11-23T07:00:00Z</updated>
    <content type="html">About &lt;b&gt;St Aidan&#39;s Academy&lt;/b&gt;&amp;nbsp;...</content>
  </entry>
</feed>
"""


def wait_for(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except (OSError, sqlite3.Error, urllib.error.URLError):
            pass
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


class Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        content = envelope.content  # type: ignore[attr-defined]
        self.messages.append(email.message_from_bytes(content, policy=email.policy.default))
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[tuple[Inbox, int]]:
    """The Prevent lead's mailbox: a real SMTP server (aiosmtpd)."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()


@pytest.fixture
def daemon(tmp_path: Path, mailbox: tuple[Inbox, int]) -> Iterator[dict[str, object]]:
    inbox, smtp_port = mailbox
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    (feeds / "alerts.xml").write_text(FEED)
    ports = {name: free_port() for name in ("proxy", "console", "feed", "m1", "m2", "m3")}
    database = tmp_path / "store.sqlite"
    config = tmp_path / "prevent-monitor.yaml"
    config.write_text(
        f"""
school: St Aidan's Academy (fictional)
data_dir: {tmp_path / "data"}
policy: {{file: {POLICY}, reload_interval: 1}}
database: {{url: "sqlite:///{database}", spool_dir: {tmp_path / "spool"}}}
gateway: {{listen_host: 127.0.0.1, listen_port: {ports["proxy"]}, page_scan: true}}
console: {{listen_host: 127.0.0.1, port: {ports["console"]}, cookie_secure: false,
          public_url: "http://console.school.example"}}
watcher:
  sources:
    - {{url: "http://127.0.0.1:{ports["feed"]}/alerts.xml", label: test alert, kind: google-alerts}}
  brand_terms: ["St Aidan's Academy"]
  interval_minutes: 1
  allow_private_addresses: true
  backlog_days: 36500
digest: {{enabled: false, prevent_lead: "", smtp_host: 127.0.0.1, smtp_port: {smtp_port},
         smtp_starttls: false, sender: prevent-monitor@school.example}}
alerting: {{recipients: [dsl@school.example], gather_seconds: 2, poll_seconds: 1}}
metrics: {{host: 127.0.0.1, daemon_port: {ports["m1"]}, gateway_port: {ports["m2"]},
          watcher_port: {ports["m3"]}}}
demo: {{feed_folder: {feeds}, feed_port: {ports["feed"]}}}
"""
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PREVENT_MONITOR_CACHE_DIR": "off"}
    env.pop("PREVENT_MONITOR_DATABASE_URL", None)
    log = (tmp_path / "daemon.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "run", "--config", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=tmp_path,
        start_new_session=True,
    )
    info: dict[str, object] = {
        "process": process,
        "ports": ports,
        "database": database,
        "log": tmp_path / "daemon.log",
        "inbox": inbox,
    }
    try:
        yield info
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        log.close()


def through_proxy(port: int, url: str) -> tuple[int, str]:
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({"http": f"http://127.0.0.1:{port}"})
    )
    try:
        with opener.open(url, timeout=10) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def count(database: Path, sql: str) -> int:
    with sqlite3.connect(database, timeout=5) as connection:
        return int(connection.execute(sql).fetchone()[0])


def test_daemon_end_to_end(daemon: dict[str, object]) -> None:
    process = daemon["process"]
    assert isinstance(process, subprocess.Popen)
    ports = daemon["ports"]
    assert isinstance(ports, dict)
    database = daemon["database"]
    assert isinstance(database, Path)
    log = daemon["log"]
    assert isinstance(log, Path)

    def console_up() -> bool:
        url = f"http://127.0.0.1:{ports['console']}/login"
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)

    try:
        wait_for(console_up, 60, "the console's login page")
        wait_for(
            lambda: through_proxy(ports["proxy"], "http://a.extremist.test/")[0] == 403,
            60,
            "the gateway",
        )
    except AssertionError:
        raise AssertionError(log.read_text()[-4000:]) from None
    output = log.read_text()
    assert "one-time password" in output and "install this certificate" in output

    status, page = through_proxy(ports["proxy"], "http://www.extremist.test/page")
    assert status == 403
    assert "This page is blocked" in page and "St Aidan" in page

    # The blocked requests reach the Prevent lead's mailbox at once, as one alert (one client
    # address, one window), well within a minute.
    inbox = daemon["inbox"]
    assert isinstance(inbox, Inbox)
    wait_for(lambda: len(inbox.messages) >= 1, 60, "the instant alert email")
    alert = inbox.messages[0]
    assert alert["To"] == "dsl@school.example"
    assert str(alert["Subject"]).strip().startswith("[Prevent] HIGH:")
    body = alert.as_string()
    assert "http://console.school.example/events/" in body
    assert "127.0.0.1" not in body  # the pupil's address is not in the email

    # The watcher reads the local feed and records the mention.
    wait_for(
        lambda: count(database, "select count(*) from brand_mentions") >= 1,
        60,
        "a brand mention from the local feed",
    )

    # Health and Prometheus metrics from the supervisor, the gateway and the watcher.
    def get(port: int, path: str) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return str(response.read().decode())

    assert '"ok": true' in get(ports["m1"], "/healthz")
    # The supervisor asked each part's own /healthz, and said once that all are healthy.
    wait_for(lambda: "ready, all parts healthy" in log.read_text(), 30, "the ready line")
    for part in ("gateway", "watcher", "console"):
        assert f'"{part}": {{"running": true, "healthy": true' in get(ports["m1"], "/healthz")
    gateway_metrics = get(ports["m2"], "/metrics")
    assert 'prevent_monitor_decisions_total{action="block",category="extremism"}' in (
        gateway_metrics
    )
    assert "prevent_monitor_decision_seconds_bucket" in gateway_metrics
    assert "prevent_monitor_policy_info{version=" in gateway_metrics
    assert "prevent_monitor_event_queue_depth" in gateway_metrics
    assert '"policy_version"' in get(ports["m3"], "/healthz")
    wait_for(
        lambda: 'prevent_monitor_feed_up{feed="test alert"} 1.0' in get(ports["m3"], "/metrics"),
        30,
        "the watcher's feed metric",
    )
    # The status files the console's health page reads: the gateway's and the watcher's.
    data = database.parent / "data"
    parts: tuple[tuple[str, str | None], ...] = (
        ("gateway-status.json", None), ("watcher-status.json", "watcher"),
    )  # fmt: skip
    for name, writer_of in parts:
        wait_for(lambda name=name: (data / name).exists(), 30, name)
        status = json.loads((data / name).read_text())
        assert status["policy_version"] and status["stopped"] is None, status
        assert status.get("part") == writer_of and status["writer"]["database_up"] is True

    # No log line at the default level names a client address.
    assert "127.0.0.1:" not in "\n".join(
        line for line in log.read_text().splitlines() if "client" in line.lower()
    )

    # A part that dies is restarted by the supervisor, and serves again.
    gateway_pid = subprocess.run(
        ["pgrep", "-P", str(process.pid), "-f", "monitor.cli proxy"],
        capture_output=True,
        text=True,
    ).stdout.split()[0]
    os.kill(int(gateway_pid), signal.SIGKILL)
    wait_for(lambda: '"restarts": 1' in get(ports["m1"], "/healthz"), 30, "the gateway's restart")
    wait_for(
        lambda: through_proxy(ports["proxy"], "http://b.extremist.test/")[0] == 403,
        60,
        "the restarted gateway",
    )

    # Blocked requests to 25 distinct hosts right before SIGTERM: every one must be stored.
    for n in range(25):
        assert through_proxy(ports["proxy"], f"http://h{n}.extremist.test/")[0] == 403
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=15)
    took = time.monotonic() - started
    assert took < 10, f"the daemon took {took:.1f} s to stop"
    assert process.returncode == 0, log.read_text()[-3000:]
    hosts = {
        row[0]
        for row in sqlite3.connect(database).execute(
            "select host from events where source = 'gateway' and action = 'block'"
        )
    }
    missing = {f"h{n}.extremist.test" for n in range(25)} - hosts
    assert not missing, f"events lost on shutdown: {sorted(missing)}"
    # Each part said in its status file that it stopped, rather than going quiet.
    for name in ("gateway-status.json", "watcher-status.json"):
        assert json.loads((data / name).read_text())["stopped"], name
    # No part is left behind.
    leftover = subprocess.run(
        ["pgrep", "-s", str(process.pid)], capture_output=True, text=True
    ).stdout.split()
    assert leftover == []
