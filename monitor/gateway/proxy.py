"""Start mitmproxy in-process with the gateway addon: `prevent-monitor proxy` and the daemon.

    exit_code = run_proxy(options)   # mitmproxy option name -> value; blocks until SIGTERM

`run_proxy()` runs a `DumpMaster` with the `Gateway` addon, exactly as `mitmdump -s
monitor/gateway/addon.py --set ...` would, and stops cleanly on SIGTERM (pending events are
flushed by the recording addon's `done`). A bad option stops start-up with its name and the
reason (exit status 2). The options come from the configuration file through
`monitor.commands.proxy.proxy_options()`.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import Any

from mitmproxy import exceptions
from mitmproxy import options as mitm_options
from mitmproxy.tools.dump import DumpMaster

from monitor.gateway.addon import Gateway

log = logging.getLogger("prevent_monitor.gateway")

async def serve(
    options: dict[str, Any],
    gateway: Gateway | None = None,
    *,
    metrics_at: tuple[str, int] | None = None,
) -> int:
    """Run the proxy on the running loop until shut down; 2 if an option is refused.
    With `metrics_at` (host, port) it also serves `/metrics` and `/healthz`."""
    opts = mitm_options.Options()
    master = DumpMaster(opts, with_termlog=False, with_dumper=False)
    gateway = gateway or Gateway()
    master.addons.add(gateway)
    try:
        opts.update(**options)
    except (exceptions.OptionsError, KeyError) as exc:
        print(f"prevent-monitor proxy: {exc}", file=sys.stderr)
        return 2
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, master.shutdown)
        except (NotImplementedError, RuntimeError):  # not the main thread
            break
    server = await _serve_metrics(gateway, metrics_at) if metrics_at else None
    try:
        await master.run()
    finally:
        if server is not None:
            await server.cleanup()
    return 0


async def _serve_metrics(gateway: Gateway, at: tuple[str, int]) -> Any:
    from monitor import metrics, metricsserver

    def health() -> dict[str, Any]:
        live = gateway.live
        writer = gateway.writer
        stats = writer.stats if writer is not None else None
        reloader = gateway.reloader
        # Operational warnings (refused reloads, faults, spool trouble) are IT's, shown here.
        return {
            "ok": live is not None,
            "policy_version": live.current.version if live else None,
            "policy_errors": list(reloader.errors) if reloader else [],
            "reload_failures": reloader.failures if reloader else 0,
            "faults": gateway.faults,
            "event_queue": stats.queue_depth if stats else None,
            "database_up": stats.database_up if stats else None,
            "spool_records": stats.spool_records if stats else None,
            "spool_errors": stats.spool_errors if stats else None,
        }

    def before_scrape() -> None:
        if gateway.writer is not None:
            metrics.observe_writer(gateway.writer.stats)

    try:
        return await metricsserver.start_metrics_server(at[0], at[1], health, before_scrape)
    except OSError as exc:
        log.error("cannot serve /metrics on port %s: %s", at[1], exc)
        return None


def run_proxy(
    options: dict[str, Any],
    gateway: Gateway | None = None,
    *,
    metrics_at: tuple[str, int] | None = None,
) -> int:
    """Blocking: the gateway process's main function."""
    return asyncio.run(serve(options, gateway, metrics_at=metrics_at))
