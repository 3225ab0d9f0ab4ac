"""`prevent-monitor run`: the whole daemon, one supervisor over the gateway, watcher and console.

Each part runs as its own process (`prevent-monitor proxy|watch|console --config FILE`), exactly as
the systemd units in deploy/ run them one by one, so a small school runs one command and a trust
runs the same parts as separate units. The supervisor:

- prepares a fresh machine first (`prepare()`): the data folder, the embedded SQLite store
  (migrated to the current schema), mitmproxy's CA (its certificate's path printed for roll-out),
  and the first console administrator (the one-time password printed once);
- restarts a part that exits on its own, with doubling back-off (1 s to 60 s; reset after a
  minute of health);
- on SIGTERM or SIGINT sends SIGTERM to every part, which flushes its pending events, and kills
  whatever has not stopped after `STOP_GRACE` seconds, so everything is down within 10 seconds;
- purges expired events daily (retention), and serves `/healthz` and `/metrics` for itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any

from monitor.config import Config
from monitor.events import utcnow

log = logging.getLogger("prevent_monitor.daemon")

STOP_GRACE = 8.0  # seconds a part has to flush and exit after SIGTERM, within the 10 s promise
MAX_BACKOFF = 60.0
HEALTHY_AFTER = 60.0
PURGE_EVERY = 24 * 3600.0
HEALTH_EVERY = 10.0  # seconds between asking each part's /healthz, once all were healthy
HEALTH_TIMEOUT = 3.0
READY_WARN = 90.0  # say which parts are not healthy if the daemon is not ready by then


@dataclass
class Part:
    """One supervised process."""

    name: str
    argv: list[str]
    process: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    restarts: int = 0
    backoff: float = 1.0
    last_exit: int | None = None
    health_url: str | None = None  # the part's own /healthz, asked every few seconds
    healthy: bool | None = None  # None until its /healthz has answered once

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None


def part_command(sub: str, config_path: str | None, *extra: str) -> list[str]:
    argv = [sys.executable, "-m", "monitor.cli", sub]
    if config_path:
        argv += ["--config", config_path]
    return [*argv, *extra]


def parts_for(config: Config, config_path: str | None) -> list[Part]:
    """The processes this configuration asks for."""
    metrics = config.metrics
    parts = [
        Part(
            "gateway",
            part_command("proxy", config_path),
            health_url=_healthz(metrics.host, metrics.gateway_port),
        )
    ]
    if config.demo.feed_folder:
        folder = str(config.path(config.demo.feed_folder))
        argv = [sys.executable, "-m", "http.server", str(config.demo.feed_port)]
        parts.append(Part("demo-feeds", [*argv, "--bind", "127.0.0.1", "--directory", folder]))
    if config.demo.mailbox_port:
        # The Prevent lead's mailbox in the demo: prints each alert and digest it receives.
        listen = f"127.0.0.1:{config.demo.mailbox_port}"
        argv = [sys.executable, "-m", "aiosmtpd", "-n", "-l", listen]
        parts.append(Part("demo-mailbox", [*argv, "-c", "aiosmtpd.handlers.Debugging"]))
    if config.watcher.enabled or config.digest.enabled or config.alerting.enabled:
        parts.append(
            Part(
                "watcher",
                part_command("watch", config_path),
                health_url=_healthz(metrics.host, metrics.watcher_port),
            )
        )
    if config.console.enabled:
        parts.append(
            Part(
                "console",
                part_command("console", config_path),
                health_url=_healthz(config.console.listen_host, config.console.port),
            )
        )
    return parts


def _healthz(host: str, port: int) -> str | None:
    if not port:
        return None
    host = host or "127.0.0.1"  # a part listening on every address answers on loopback too
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/healthz"


class Supervisor:
    def __init__(self, config: Config, parts: list[Part]) -> None:
        self.config = config
        self.parts = parts
        self.stopping = asyncio.Event()
        self._watchers: list[asyncio.Task[None]] = []

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stopping.set)
        with contextlib.suppress(NotImplementedError, AttributeError):
            loop.add_signal_handler(signal.SIGHUP, self._forward_hup)
        health = await self._serve_health()
        for part in self.parts:
            await self._start(part)
            self._watchers.append(asyncio.create_task(self._watch(part), name=part.name))
        purge = asyncio.create_task(self._purge_daily(), name="purge")
        checks = asyncio.create_task(self._check_health(), name="health")
        print(self._banner(), flush=True)
        await self.stopping.wait()
        log.info("stopping: asking every part to flush and exit")
        purge.cancel()
        checks.cancel()
        await self._stop_all()
        for task in self._watchers:
            task.cancel()
        if health is not None:
            await health.cleanup()
        return 0

    def _forward_hup(self) -> None:
        """SIGHUP: the gateways reload their lists now."""
        for part in self.parts:
            if part.running and part.process is not None and part.name == "gateway":
                part.process.send_signal(signal.SIGHUP)

    async def _start(self, part: Part) -> None:
        part.process = await asyncio.create_subprocess_exec(*part.argv, start_new_session=True)
        part.started_at = time.monotonic()
        log.info("started %s (pid %s)", part.name, part.process.pid)

    async def _watch(self, part: Part) -> None:
        while not self.stopping.is_set():
            assert part.process is not None
            code = await part.process.wait()
            part.last_exit = code
            if self.stopping.is_set():
                return
            if time.monotonic() - part.started_at > HEALTHY_AFTER:
                part.backoff = 1.0
            log.error(
                "%s exited with status %s; restarting in %.0f s", part.name, code, part.backoff
            )
            print(
                f"prevent-monitor: {part.name} exited ({code}); restarting in {part.backoff:.0f} s",
                file=sys.stderr,
                flush=True,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=part.backoff)
            if self.stopping.is_set():
                return
            part.backoff = min(part.backoff * 2, MAX_BACKOFF)
            part.restarts += 1
            await self._start(part)

    async def _stop_all(self) -> None:
        running = [p for p in self.parts if p.running and p.process is not None]
        for part in running:
            assert part.process is not None
            with contextlib.suppress(ProcessLookupError):
                part.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for part in running:
            assert part.process is not None
            remaining = max(0.1, deadline - time.monotonic())
            try:
                await asyncio.wait_for(part.process.wait(), timeout=remaining)
            except TimeoutError:
                log.error("%s did not stop within %.0f s: killing it", part.name, STOP_GRACE)
                with contextlib.suppress(ProcessLookupError):
                    part.process.kill()
                await part.process.wait()

    async def _purge_daily(self) -> None:
        while True:
            try:
                report = await asyncio.to_thread(
                    purge_expired,
                    self.config.database_url(),
                    self.config.database.retention_days,
                    self.config.gateway.context_log_days,
                )
                log.info("retention purge: %s", report)
                gone = await asyncio.to_thread(self._purge_policy_files)
                if gone:
                    log.info("retention purge: %d ended study exemptions left the policy", gone)
            except Exception as exc:  # a failed purge is retried tomorrow, never fatal
                log.error("retention purge failed: %s", exc)
            await asyncio.sleep(PURGE_EVERY)

    def _purge_policy_files(self) -> int:
        """The purge reaches the policy files too: ended exemptions may name pupils."""
        from monitor.console.policyedit import purge_ended_exemptions

        return purge_ended_exemptions(
            self.config.policy_path(), self.config.database.retention_days, utcnow().date()
        )

    async def _check_health(self) -> None:
        """Ask each part's own /healthz every few seconds; say once when all are healthy, so
        the person who started the daemon knows it is ready (and which part is not, if not)."""
        import aiohttp

        announced = False
        started = time.monotonic()
        timeout = aiohttp.ClientTimeout(total=HEALTH_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as client:
            while not self.stopping.is_set():
                for part in self.parts:
                    part.healthy = await _ask(client, part) if part.running else False
                waiting = [p.name for p in self.parts if p.health_url and not p.healthy]
                if not waiting and not announced:
                    announced = True
                    print(
                        f"prevent-monitor: ready, all parts healthy ({self._health_at()})",
                        flush=True,
                    )
                elif waiting and not announced and time.monotonic() - started > READY_WARN:
                    announced = True
                    log.warning("not healthy after %.0f s: %s", READY_WARN, ", ".join(waiting))
                await asyncio.sleep(HEALTH_EVERY if announced else 0.5)

    def _health_at(self) -> str:
        settings = self.config.metrics
        if not settings.daemon_port:
            return "health endpoint off"
        return f"http://{settings.host}:{settings.daemon_port}/healthz"

    def health(self) -> dict[str, Any]:
        parts = {
            p.name: {
                "running": p.running,
                "healthy": p.healthy,
                "restarts": p.restarts,
                "last_exit": p.last_exit,
            }
            for p in self.parts
        }
        ok = all(p.running and p.healthy is not False for p in self.parts)
        return {"ok": ok, "parts": parts}

    async def _serve_health(self) -> Any:
        settings = self.config.metrics
        if not settings.daemon_port:
            return None
        from monitor.metricsserver import start_metrics_server

        try:
            return await start_metrics_server(settings.host, settings.daemon_port, self.health)
        except OSError as exc:
            log.error("cannot serve /healthz on port %s: %s", settings.daemon_port, exc)
            return None

    def _banner(self) -> str:
        names = ", ".join(f"{p.name} (pid {p.process.pid})" for p in self.parts if p.process)
        return f"prevent-monitor: running {names}. Stop with Ctrl-C or SIGTERM."


async def _ask(client: Any, part: Part) -> bool:
    """True when the part's /healthz answers 200 (a part without one is healthy if running)."""
    if part.health_url is None:
        return True
    try:
        async with client.get(part.health_url) as response:
            return bool(response.status == 200)
    except Exception:  # refused while starting, timed out, reset: not healthy (yet)
        return False


def purge_expired(database_url: str, retention_days: int, context_days: int = 7) -> object:
    """The daily retention purge (the context log on its own period), in one short
    transaction."""
    from monitor.store.database import make_engine, make_sessionmaker
    from monitor.store.retention import purge

    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine)() as session:
            result = purge(session, retention_days, context_days=context_days)
            session.commit()
            return result
    finally:
        engine.dispose()
